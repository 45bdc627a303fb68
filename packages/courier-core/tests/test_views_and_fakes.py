"""The public JSON shapes, and the library's own test doubles."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from courier_core import AssignOrder, CreateCourier
from courier_core.errors import DependencyUnavailable, OrderNotFound
from courier_core.metrics import NullMetrics
from courier_core.model import OrderInfo
from courier_core.testing import FakeOrderGateway, RecordingMetrics, Services
from courier_core.views import (
    assignment_view,
    courier_view,
    delivery_view,
    outcome_view,
    queued_view,
    timestamp,
    waiting_view,
)


def test_timestamps_are_utc_with_a_z() -> None:
    moscow = timezone(timedelta(hours=3))
    assert timestamp(datetime(2026, 11, 24, 13, 15, 30, tzinfo=moscow)) == "2026-11-24T10:15:30Z"
    assert timestamp(datetime(2026, 11, 24, 10, 15, 30, 250000, tzinfo=UTC)) == "2026-11-24T10:15:30.250000Z"


async def test_views_have_the_api_keys(services: Services) -> None:
    courier = await services.couriers.create(
        CreateCourier(name="Ivan", phone="+79990001122", status="available", transport_type="car")
    )
    assert list(courier_view(courier)) == [
        "id",
        "name",
        "phone",
        "status",
        "transport_type",
        "created_at",
        "updated_at",
    ]
    assignment = await services.deliveries.assign(AssignOrder(order_id="o1"))
    assert assignment_view(assignment)["delivery_deadline"].endswith("Z")  # type: ignore[arg-type]
    delivery = await services.deliveries.get("o1")
    assert delivery_view(delivery)["finished_at"] is None
    outcome = await services.deliveries.complete("o1")
    assert outcome_view(outcome) == {"order_id": "o1", "status": "completed", "courier_id": 1}
    assert delivery_view(await services.deliveries.get("o1"))["finished_at"] is not None
    await services.deliveries.assign(AssignOrder(order_id="o3"))  # the only courier is busy again
    queued = await services.deliveries.assign(AssignOrder(order_id="o2", wait=True))
    assert queued_view(queued)["status"] == "waiting"  # type: ignore[arg-type]
    [waiting] = await services.deliveries.waiting()
    view = waiting_view(waiting, now=waiting.since + timedelta(seconds=3))
    assert view["age_seconds"] == 3.0


async def test_fake_order_gateway_answers_like_the_order_service() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    gateway = FakeOrderGateway(
        [OrderInfo("a", "created", now), OrderInfo("b", "pending", now + timedelta(hours=1))]
    )
    assert (await gateway.get_order("a")).status == "created"
    with pytest.raises(OrderNotFound):
        await gateway.get_order("zzz")
    assert [o.order_id for o in await gateway.list_orders(since=now + timedelta(minutes=1))] == ["b"]
    assert len(await gateway.list_orders(since=None)) == 2
    assert gateway.calls == ["a", "zzz"]


def test_metrics_doubles_accept_every_measurement() -> None:
    for metrics in (NullMetrics(), RecordingMetrics()):
        metrics.assignment("assigned")
        metrics.deliveries_expired(2)
        metrics.gateway_retry("GetOrderById")
        metrics.breaker_state("orders", "open")
        metrics.order_verification_skipped()
        metrics.port_call("couriers", "get", 0.001)
    recorded = RecordingMetrics()
    recorded.gateway_retry("GetOrders")
    recorded.order_verification_skipped()
    assert (recorded.retries, recorded.skipped) == ({"GetOrders": 1}, 1)


def test_dependency_unavailable_names_the_dependency() -> None:
    err = DependencyUnavailable(dependency="order_service")
    assert (err.dependency, err.message) == ("order_service", "service temporarily unavailable")
