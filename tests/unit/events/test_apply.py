"""Applying order events with core's fakes: each status, duplicates, ordering, waiting orders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from courier_core.errors import DependencyUnavailable
from courier_core.model import (
    CourierStatus,
    DeadlinePolicy,
    DeliveryStatus,
    KnownOrder,
    NewCourier,
    OrderInfo,
    TransportType,
)
from courier_core.testing import FakeOrderGateway, RecordingMetrics, Services, _State
from courier_core.usecases import CreateCourier, WaitingQueue
from courier_core.usecases.events import (
    OrderEvent,
    OrderEventService,
    OrderVerifier,
    Outcome,
    WaitingSweeper,
    default_handlers,
)
from tests.unit.events.conftest import event_service

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def ev(order_id: str, status: str, seconds: int = 0) -> OrderEvent:
    return OrderEvent(order_id, status, T0 + timedelta(seconds=seconds))


async def add_courier(services: Services, phone: str = "+79990001122", status: str = "available") -> int:
    courier = await services.couriers.create(CreateCourier(name="Ivan", phone=phone, status=status))
    return courier.id


def state(services: Services) -> _State:
    return services.store.state


async def test_created_assigns_a_free_courier(services: Services, events: OrderEventService) -> None:
    courier_id = await add_courier(services)
    assert await events.apply(ev("o1", "created")) is Outcome.APPLIED
    delivery = state(services).deliveries["o1"]
    assert delivery.courier_id == courier_id
    assert state(services).couriers[courier_id].status is CourierStatus.BUSY
    assert state(services).orders["o1"].status == "created"


async def test_the_same_event_five_times_has_one_effect(
    services: Services, events: OrderEventService
) -> None:
    await add_courier(services)
    await add_courier(services, "+79990001123")
    outcomes = [await events.apply(ev("o1", "created")) for _ in range(5)]
    assert outcomes == [Outcome.APPLIED] + [Outcome.DUPLICATE] * 4
    assert len(state(services).deliveries) == 1
    assert sorted(c.total_deliveries for c in state(services).couriers.values()) == [0, 1]


@pytest.mark.parametrize("status", ["cancelled", "canceled", "deleted"])
async def test_cancelling_statuses_unassign(
    services: Services, events: OrderEventService, status: str
) -> None:
    courier_id = await add_courier(services)
    await events.apply(ev("o1", "created"))
    assert await events.apply(ev("o1", status, 5)) is Outcome.APPLIED
    assert "o1" not in state(services).deliveries
    courier = state(services).couriers[courier_id]
    assert courier.status is CourierStatus.AVAILABLE
    assert courier.total_deliveries == 0


@pytest.mark.parametrize("status", ["completed", "delivered"])
async def test_completing_statuses_complete(
    services: Services, events: OrderEventService, status: str
) -> None:
    courier_id = await add_courier(services)
    await events.apply(ev("o1", "created"))
    assert await events.apply(ev("o1", status, 5)) is Outcome.APPLIED
    assert state(services).deliveries["o1"].status is DeliveryStatus.COMPLETED
    assert state(services).couriers[courier_id].status is CourierStatus.AVAILABLE


@pytest.mark.parametrize("status", ["cancelled", "deleted", "completed", "delivered"])
async def test_finishing_an_unknown_order_is_already_done(
    services: Services, events: OrderEventService, status: str
) -> None:
    assert await events.apply(ev("o1", status)) is Outcome.APPLIED
    assert state(services).orders["o1"].status == status


@pytest.mark.parametrize("status", ["pending", "confirmed", "cooking", "delivering", "updated", "brand-new"])
async def test_other_statuses_only_update_the_known_status(
    services: Services, events: OrderEventService, status: str
) -> None:
    await add_courier(services)
    assert await events.apply(ev("o1", status)) is Outcome.APPLIED
    assert state(services).deliveries == {}
    assert state(services).orders["o1"].status == status


async def test_deleted_before_created_never_assigns(services: Services, events: OrderEventService) -> None:
    await add_courier(services)
    assert await events.apply(ev("o1", "deleted", 10)) is Outcome.APPLIED
    assert await events.apply(ev("o1", "created", 0)) is Outcome.IGNORED
    assert state(services).deliveries == {}
    assert state(services).orders["o1"].status == "deleted"


async def test_pending_before_created_still_assigns(services: Services, events: OrderEventService) -> None:
    await add_courier(services)
    await events.apply(ev("o1", "pending", 10))
    assert await events.apply(ev("o1", "created", 0)) is Outcome.APPLIED
    assert "o1" in state(services).deliveries
    assert state(services).orders["o1"].status == "pending"  # older news does not override newer


async def test_an_order_without_courier_waits_and_gets_the_next_freed_one(
    services: Services, events: OrderEventService
) -> None:
    courier_id = await add_courier(services)
    await events.apply(ev("o1", "created"))
    assert await events.apply(ev("o2", "created", 1)) is Outcome.APPLIED
    assert "o2" in state(services).waiting
    await events.apply(ev("o1", "completed", 5))
    assert state(services).deliveries["o2"].courier_id == courier_id
    assert state(services).waiting == {}


async def test_a_cancelled_waiting_order_is_never_assigned(
    services: Services, events: OrderEventService
) -> None:
    await events.apply(ev("o1", "created"))
    assert "o1" in state(services).waiting
    await events.apply(ev("o1", "canceled", 5))
    assert state(services).waiting == {}
    await add_courier(services)
    assert state(services).deliveries == {}
    # its history says it waited, then was cancelled (no event: the order service announced it)
    assert [(h.change, h.from_state, h.to_state) for h in await services.deliveries.history("o1")] == [
        ("waiting", None, "waiting"),
        ("cancelled", "waiting", "cancelled"),
    ]
    assert [e.type.value for e in state(services).outbox.values()] == ["order.waiting", "courier.created"]
    await events.apply(ev("o1", "canceled", 9))  # again: it no longer waits, nothing more recorded
    assert len(await services.deliveries.history("o1")) == 2


async def test_a_batch_is_one_transaction(services: Services, events: OrderEventService) -> None:
    await add_courier(services)
    await add_courier(services, "+79990001123")
    before = len(services.uow.started)
    outcomes = await events.apply_batch([ev("o1", "created"), ev("o2", "created"), ev("o1", "created")])
    assert outcomes == [Outcome.APPLIED, Outcome.APPLIED, Outcome.DUPLICATE]
    assert len(services.uow.started) == before + 1
    assert services.uow.started[-1].committed


async def test_a_failing_batch_applies_nothing(services: Services) -> None:
    await add_courier(services)

    async def boom(uow: object, event: OrderEvent) -> Outcome:
        raise DependencyUnavailable()

    handlers = {**default_handlers(services.deliveries), "pending": boom}
    events = OrderEventService(
        uow=services.uow, handlers=handlers, verifier=OrderVerifier(None, metrics=services.metrics)
    )
    with pytest.raises(DependencyUnavailable):
        await events.apply_batch([ev("o1", "created"), ev("o1", "pending", 1)])
    assert state(services).deliveries == {}
    assert state(services).processed == {}
    assert await events.apply(ev("o1", "created")) is Outcome.APPLIED


async def test_verification_skips_orders_the_service_says_are_finished(services: Services) -> None:
    await add_courier(services)
    gateway = FakeOrderGateway([OrderInfo("o1", "canceled", T0, T0 + timedelta(seconds=3))])
    events = event_service(services, gateway)
    assert await events.apply(ev("o1", "created")) is Outcome.IGNORED
    assert state(services).deliveries == {}
    assert state(services).orders["o1"].status == "canceled"
    assert gateway.calls == ["o1"]


async def test_verification_lets_live_orders_through(services: Services) -> None:
    await add_courier(services)
    events = event_service(services, FakeOrderGateway([OrderInfo("o1", "pending", T0)]))
    assert await events.apply(ev("o1", "created")) is Outcome.APPLIED
    assert "o1" in state(services).deliveries


async def test_an_order_unknown_to_the_service_is_deferred_unrecorded(services: Services) -> None:
    await add_courier(services)
    gateway = FakeOrderGateway()
    events = event_service(services, gateway)
    assert await events.apply(ev("o1", "created")) is Outcome.DEFERRED
    assert state(services).processed == {}
    gateway.orders["o1"] = OrderInfo("o1", "created", T0)
    assert await events.apply(ev("o1", "created")) is Outcome.APPLIED


async def test_an_unavailable_order_service_is_skipped_and_counted(services: Services) -> None:
    class DownGateway(FakeOrderGateway):
        async def get_order(self, order_id: str) -> OrderInfo:
            raise DependencyUnavailable(dependency="order service")

    await add_courier(services)
    events = event_service(services, DownGateway())
    assert await events.apply(ev("o1", "created")) is Outcome.APPLIED
    assert "o1" in state(services).deliveries
    metrics = services.metrics
    assert isinstance(metrics, RecordingMetrics)
    assert metrics.skipped == 1


async def test_only_created_events_are_verified(services: Services) -> None:
    gateway = FakeOrderGateway()
    events = event_service(services, gateway)
    assert await events.apply(ev("o1", "pending")) is Outcome.APPLIED
    assert gateway.calls == []


async def test_the_sweep_gives_a_free_courier_to_an_order_a_race_left_waiting(services: Services) -> None:
    async with services.uow() as uow:  # the race's outcome: waiting orders beside a free courier
        await uow.waiting.add("gone")
        await uow.orders.record(KnownOrder("gone", "deleted", T0))
        await uow.waiting.add("late")
        courier = await uow.couriers.add(
            NewCourier("Ivan", "+79990001122", CourierStatus.AVAILABLE, TransportType.CAR)
        )
        await uow.commit()
    waiting = WaitingQueue(policy=DeadlinePolicy(), metrics=services.metrics)
    sweeper = WaitingSweeper(uow=services.uow, waiting=waiting)
    assert await sweeper.sweep() == 1
    assert state(services).deliveries["late"].courier_id == courier.id
    assert state(services).couriers[courier.id].status is CourierStatus.BUSY
    assert state(services).waiting == {}
    assert await sweeper.sweep() == 0


async def test_the_sweep_leaves_orders_waiting_when_no_courier_is_free(services: Services) -> None:
    async with services.uow() as uow:
        await uow.waiting.add("o1")
        await uow.commit()
    waiting = WaitingQueue(policy=DeadlinePolicy(), metrics=services.metrics)
    assert await WaitingSweeper(uow=services.uow, waiting=waiting).sweep() == 0
    assert "o1" in state(services).waiting
