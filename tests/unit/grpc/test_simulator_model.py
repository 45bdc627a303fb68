"""The simulator's order book, faults and control routes, without sockets."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from courier_order_sim.control import ControlError, route
from courier_order_sim.faults import FaultMode, Faults
from courier_order_sim.orders import PROGRESSION, TERMINAL, OrderBook
from courier_order_sim.publisher import event_value

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def book(seed: int = 1, *, cancel: float = 0.0, delete: float = 0.0) -> OrderBook:
    return OrderBook(
        rng=random.Random(seed), clock=lambda: NOW, cancel_probability=cancel, delete_probability=delete
    )


def test_orders_move_through_the_real_progression_and_stop_when_finished():
    orders = book()
    order = orders.create()
    seen = [order.status]
    for _ in range(len(PROGRESSION) + 2):
        orders.step()
        seen.append(order.status)
    assert seen[: len(PROGRESSION)] == list(PROGRESSION)
    assert seen[-1] == "completed"
    assert orders.step() == []


def test_some_orders_are_cancelled_or_deleted_and_stay_so():
    orders = book(seed=3, cancel=0.3, delete=0.3)
    created = [orders.create() for _ in range(50)]
    for _ in range(10):
        orders.step()
    finals = {o.status for o in created}
    assert finals <= TERMINAL
    assert {"canceled", "deleted"} <= finals


def test_same_seed_same_orders():
    first, second = book(seed=9), book(seed=9)
    assert [first.create().id for _ in range(3)] == [second.create().id for _ in range(3)]


def test_created_since_filters_on_creation_time():
    orders = book()
    old = orders.create(created_at=NOW - timedelta(hours=2))
    new = orders.create()
    assert orders.created_since(None) == [old, new]
    assert orders.created_since(NOW - timedelta(hours=1)) == [new]
    assert orders.created_since(NOW) == [new]  # "at or after"


def test_orders_have_contents_and_a_total():
    order = book().create(order_id="o-1", status="pending")
    assert (order.id, order.status) == ("o-1", "pending")
    assert order.items
    assert order.total_price == sum(i.price * i.quantity for i in order.items)


def test_an_order_id_is_used_once():
    orders = book()
    orders.create(order_id="o-1")
    with pytest.raises(ValueError, match="exists"):
        orders.create(order_id="o-1")


def test_unknown_statuses_are_refused():
    orders = book()
    with pytest.raises(ValueError):
        orders.create(status="teleported")
    order = orders.create()
    with pytest.raises(ValueError):
        orders.set_status(order.id, "teleported")


def test_a_counted_fault_heals_itself():
    faults = Faults()
    faults.inject(FaultMode.UNAVAILABLE, count=2)
    assert [faults.take() for _ in range(4)] == [
        FaultMode.UNAVAILABLE,
        FaultMode.UNAVAILABLE,
        FaultMode.NONE,
        FaultMode.NONE,
    ]
    faults.inject("hang")
    assert all(faults.take() is FaultMode.HANG for _ in range(5))
    faults.heal()
    assert faults.take() is FaultMode.NONE
    with pytest.raises(ValueError):
        faults.inject("explode")


def test_events_carry_id_status_and_event_time_in_rfc3339():
    order = book().create(order_id="f819526d")
    assert json.loads(event_value(order)) == {
        "order_id": "f819526d",
        "status": "created",
        "created_at": "2026-11-24T10:00:00.000Z",
    }


@pytest.mark.parametrize(
    ("method", "path", "argument"),
    [
        ("GET", "/health", ""),
        ("GET", "/orders", ""),
        ("POST", "/orders", ""),
        ("POST", "/orders/abc-1/status", "abc-1"),
        ("POST", "/fault?x=1", ""),
        ("GET", "/calls/", ""),
    ],
)
def test_control_routes(method, path, argument):
    _, found = route(method, path)
    assert found == argument


def test_control_unknown_routes_and_methods():
    with pytest.raises(ControlError) as missing:
        route("GET", "/nothing")
    assert missing.value.status == 404
    with pytest.raises(ControlError) as wrong:
        route("DELETE", "/orders")
    assert wrong.value.status == 405
