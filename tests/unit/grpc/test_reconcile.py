"""Reconciliation on core's in-memory fakes: what gets assigned, once, and what never does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from courier_core.errors import DependencyUnavailable
from courier_core.model import KnownOrder, OrderInfo
from courier_core.testing import FakeClock, FakeOrderGateway, InMemoryStore, Services, build_services
from courier_core.usecases import CreateCourier
from courier_core.usecases.reconcile import CURSOR, Reconciler

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def order(order_id: str, status: str, minutes_ago: float) -> OrderInfo:
    at = NOW - timedelta(minutes=minutes_ago)
    return OrderInfo(order_id=order_id, status=status, created_at=at, updated_at=at + timedelta(seconds=5))


@pytest.fixture
def services() -> Services:
    return build_services(InMemoryStore(FakeClock(NOW)))


@pytest.fixture
def gateway() -> FakeOrderGateway:
    return FakeOrderGateway()


def reconciler(services: Services, gateway: FakeOrderGateway) -> Reconciler:
    return Reconciler(
        uow=services.uow,
        gateway=gateway,
        deliveries=services.deliveries,
        lookback=timedelta(hours=1),
        overlap=timedelta(minutes=5),
        metrics=services.metrics,
    )


async def add_couriers(services: Services, count: int) -> None:
    for n in range(count):
        await services.couriers.create(
            CreateCourier(name="Ivan", phone=f"+7999000{n:04d}", status="available", transport_type="car")
        )


async def test_assigns_orders_past_created_whose_event_was_lost(services, gateway):
    await add_couriers(services, 3)
    for o in (order("a", "created", 3), order("b", "pending", 2), order("c", "cooking", 1)):
        gateway.orders[o.order_id] = o
    report = await reconciler(services, gateway).run_once()
    assert (report.seen, report.assigned) == (3, 3)
    assert set(services.store.state.deliveries) == {"a", "b", "c"}


async def test_assigns_each_order_once_across_repeated_runs(services, gateway):
    await add_couriers(services, 2)
    gateway.orders["a"] = order("a", "pending", 2)
    job = reconciler(services, gateway)
    first = await job.run_once()
    second = await job.run_once()
    third = await job.run_once()
    assert first.assigned == 1
    assert (second.assigned, second.already_done) == (0, 1)
    assert (third.assigned, third.already_done) == (0, 1)
    assert len(services.store.state.deliveries) == 1
    assert services.metrics.assignments == {"assigned": 1}  # type: ignore[attr-defined]


@pytest.mark.parametrize("status", ["completed", "delivered", "canceled", "cancelled", "deleted"])
async def test_never_assigns_an_order_finished_at_the_order_service(services, gateway, status):
    await add_couriers(services, 1)
    gateway.orders["a"] = order("a", status, 2)
    report = await reconciler(services, gateway).run_once()
    assert (report.finished, report.assigned) == (1, 0)
    assert services.store.state.deliveries == {}
    assert services.store.state.orders["a"].status == status  # what the order service said is known now


async def test_never_assigns_an_order_courier_knows_is_finished(services, gateway):
    await add_couriers(services, 1)
    # A newer "canceled" event arrived before the order service's stale "pending" answer.
    services.store.state.orders["a"] = KnownOrder("a", "canceled", NOW)
    gateway.orders["a"] = order("a", "pending", 10)
    report = await reconciler(services, gateway).run_once()
    assert report.finished == 1
    assert services.store.state.deliveries == {}
    assert services.store.state.orders["a"].status == "canceled"


async def test_orders_that_find_no_courier_wait_once_and_are_not_queued_again(services, gateway):
    gateway.orders["a"] = order("a", "confirmed", 2)
    job = reconciler(services, gateway)
    assert (await job.run_once()).queued == 1
    assert (await job.run_once()).already_done == 1
    assert list(services.store.state.waiting) == ["a"]
    await add_couriers(services, 1)  # a new courier takes the oldest waiting order
    assert services.store.state.deliveries["a"].courier_id == 1


async def test_first_run_looks_back_and_later_runs_start_at_cursor_minus_overlap(services, gateway):
    await add_couriers(services, 5)
    gateway.orders["old"] = order("old", "pending", 61)  # outside the one-hour look-back
    gateway.orders["new"] = order("new", "pending", 30)
    job = reconciler(services, gateway)
    first = await job.run_once()
    assert first.since == NOW - timedelta(hours=1)
    assert set(services.store.state.deliveries) == {"new"}
    assert services.store.state.cursors[CURSOR] == gateway.orders["new"].created_at
    second = await job.run_once()
    assert second.since == gateway.orders["new"].created_at - timedelta(minutes=5)
    assert second.seen == 1


async def test_an_invalid_order_is_skipped_and_the_rest_still_assigned(services, gateway):
    await add_couriers(services, 2)
    gateway.orders["x" * 300] = order("x" * 300, "pending", 3)
    gateway.orders["b"] = order("b", "pending", 1)
    report = await reconciler(services, gateway).run_once()
    assert (report.invalid, report.assigned) == (1, 1)
    assert set(services.store.state.deliveries) == {"b"}
    assert services.store.state.cursors[CURSOR] == gateway.orders["b"].created_at


async def test_a_failed_order_holds_the_cursor_back_for_the_next_run(services, gateway, monkeypatch):
    await add_couriers(services, 3)
    for o in (order("a", "pending", 3), order("b", "pending", 2), order("c", "pending", 1)):
        gateway.orders[o.order_id] = o
    job = reconciler(services, gateway)
    original = services.deliveries.assign_in

    async def flaky(uow, command):
        if command.order_id == "b":
            raise DependencyUnavailable("database blinked")
        return await original(uow, command)

    monkeypatch.setattr(services.deliveries, "assign_in", flaky)
    report = await job.run_once()
    assert (report.assigned, report.failed) == (2, 1)
    assert report.cursor == gateway.orders["b"].created_at
    monkeypatch.setattr(services.deliveries, "assign_in", original)
    again = await job.run_once()
    assert again.assigned == 1
    assert set(services.store.state.deliveries) == {"a", "b", "c"}


async def test_an_unavailable_order_service_fails_the_run_and_keeps_the_cursor(services, gateway):
    async def down(*, since):
        raise DependencyUnavailable("order service down", dependency="order_service")

    gateway.list_orders = down  # type: ignore[method-assign]
    with pytest.raises(DependencyUnavailable):
        await reconciler(services, gateway).run_once()
    assert CURSOR not in services.store.state.cursors


def test_negative_windows_are_refused(services, gateway):
    with pytest.raises(ValueError):
        Reconciler(
            uow=services.uow,
            gateway=gateway,
            deliveries=services.deliveries,
            lookback=timedelta(hours=-1),
            overlap=timedelta(0),
            metrics=services.metrics,
        )


async def test_a_finished_order_is_not_assigned_even_if_the_order_service_later_says_otherwise(
    services, gateway
):
    await add_couriers(services, 1)
    services.store.state.orders["a"] = KnownOrder("a", "deleted", NOW - timedelta(hours=1))
    gateway.orders["a"] = order("a", "pending", 10)  # newer than the "deleted" courier knows of
    job = reconciler(services, gateway)
    assert (await job.run_once()).finished == 1
    assert (await job.run_once()).finished == 1
    assert services.store.state.deliveries == {}
