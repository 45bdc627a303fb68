"""Delivery routes of api.md against the real server, at both prefixes, with every error code."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import psycopg
import pytest

from tests.e2e.http.conftest import new_phone
from tests.e2e.http.helpers import (
    PREFIX_IDS,
    PREFIXES,
    assert_error,
    create_courier,
    order_id,
    pause_available,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(params=PREFIXES, ids=PREFIX_IDS)
def p(request: pytest.FixtureRequest) -> str:
    prefix: str = request.param
    return prefix


@pytest.fixture(autouse=True)
async def empty_pool(http: httpx.AsyncClient) -> None:
    """Each test starts with no available courier but the ones it creates."""
    await pause_available(http)


def stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_assigns_the_only_available_courier_with_the_seed_answer(
    http: httpx.AsyncClient, p: str
) -> None:
    courier_id = await create_courier(http, p, new_phone(), transport="car")
    order = order_id()
    answer = await http.post(f"{p}/delivery/assign", json={"order_id": order})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"courier_id", "order_id", "transport_type", "delivery_deadline"}
    assert (body["courier_id"], body["order_id"], body["transport_type"]) == (courier_id, order, "car")
    delivery = (await http.get(f"{p}/delivery/{order}")).json()
    assert delivery["status"] == "active" and delivery["finished_at"] is None
    assert delivery["deadline"] == body["delivery_deadline"]
    assert stamp(delivery["deadline"]) - stamp(delivery["assigned_at"]) == timedelta(minutes=5)
    assert (await http.get(f"{p}/courier/{courier_id}")).json()["status"] == "busy"


async def test_assign_with_no_courier_free_is_a_conflict(http: httpx.AsyncClient, p: str) -> None:
    answer = await http.post(f"{p}/delivery/assign", json={"order_id": order_id()})
    assert_error(answer, 409, "no_available_couriers", "no available couriers")


async def test_assign_with_wait_queues_the_order_and_the_next_free_courier_takes_it(
    http: httpx.AsyncClient, p: str
) -> None:
    order = order_id()
    queued = await http.post(f"{p}/delivery/assign", json={"order_id": order, "wait": True})
    assert queued.status_code == 202, queued.text
    assert queued.json()["order_id"] == order and queued.json()["status"] == "waiting"
    courier_id = await create_courier(http, p, new_phone())
    delivery = (await http.get(f"{p}/delivery/{order}")).json()
    assert (delivery["courier_id"], delivery["status"]) == (courier_id, "active")


async def test_assigning_an_order_twice_is_delivery_exists(http: httpx.AsyncClient, p: str) -> None:
    await create_courier(http, p, new_phone())
    await create_courier(http, p, new_phone())
    order = order_id()
    assert (await http.post(f"{p}/delivery/assign", json={"order_id": order})).status_code == 200
    again = await http.post(f"{p}/delivery/assign", json={"order_id": order})
    assert_error(again, 409, "delivery_exists", "this delivery already exists")


async def test_assign_to_a_chosen_courier_or_excluding_some(http: httpx.AsyncClient, p: str) -> None:
    first = await create_courier(http, p, new_phone())
    second = await create_courier(http, p, new_phone())
    chosen = await http.post(f"{p}/delivery/assign", json={"order_id": order_id(), "courier_id": second})
    assert chosen.json()["courier_id"] == second
    busy = await http.post(f"{p}/delivery/assign", json={"order_id": order_id(), "courier_id": second})
    assert_error(busy, 409, "courier_not_available", "courier is not available")
    excluded = await http.post(
        f"{p}/delivery/assign", json={"order_id": order_id(), "exclude_courier_ids": [first]}
    )
    assert_error(excluded, 409, "no_available_couriers")
    unknown = await http.post(f"{p}/delivery/assign", json={"order_id": order_id(), "courier_id": 10**15})
    assert_error(unknown, 404, "courier_not_found")


async def test_a_finished_order_is_never_assigned(http: httpx.AsyncClient, p: str, shared_db: str) -> None:
    await create_courier(http, p, new_phone())
    order = order_id()
    # What the consumer records when the order service says "cancelled".
    with psycopg.connect(shared_db, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO orders (order_id, status, status_at) VALUES (%s, 'cancelled', now())", (order,)
        )
    answer = await http.post(f"{p}/delivery/assign", json={"order_id": order})
    assert_error(answer, 409, "order_finished", "order is already finished")


@pytest.mark.parametrize("route", ["assign", "unassign", "complete"])
@pytest.mark.parametrize("bad", [{"order_id": ""}, {"order_id": "   "}, {"order_id": 5}, {"order_id": None},
                                 {}, {"order_id": "x" * 256}])  # fmt: skip
async def test_a_bad_order_id_is_invalid_order_id(
    http: httpx.AsyncClient, p: str, route: str, bad: dict[str, object]
) -> None:
    missing = bad == {} or (p == "" and bad == {"order_id": ""})  # "" is "not given" for the seed's clients
    message = "missing order id" if missing else "invalid order id"
    error = assert_error(await http.post(f"{p}/delivery/{route}", json=bad), 400, "invalid_order_id", message)
    assert error["field"] == "order_id"


@pytest.mark.parametrize("route", ["assign", "unassign", "complete"])
async def test_delivery_bodies_refuse_unknown_fields_and_bad_json(
    http: httpx.AsyncClient, p: str, route: str
) -> None:
    if p:  # the seed's clients: unknown keys ignored (test_seed_clients)
        unknown = await http.post(f"{p}/delivery/{route}", json={"order_id": order_id(), "priority": 1})
        assert assert_error(unknown, 400, "invalid_request")["field"] == "priority"
    assert_error(await http.post(f"{p}/delivery/{route}", content=b"{oops"), 400, "invalid_json")


async def test_unassign_frees_the_courier_and_forgets_the_delivery(http: httpx.AsyncClient, p: str) -> None:
    courier_id = await create_courier(http, p, new_phone())
    order = order_id()
    await http.post(f"{p}/delivery/assign", json={"order_id": order})
    answer = await http.post(f"{p}/delivery/unassign", json={"order_id": order})
    assert answer.status_code == 200
    assert answer.json() == {"order_id": order, "status": "unassigned", "courier_id": courier_id}
    assert (await http.get(f"{p}/courier/{courier_id}")).json()["status"] == "available"
    assert_error(await http.get(f"{p}/delivery/{order}"), 404, "delivery_not_found", "delivery not found")
    again = await http.post(f"{p}/delivery/unassign", json={"order_id": order})
    assert_error(again, 404, "delivery_not_found")


async def test_complete_finishes_once_and_then_answers_the_actual_status(
    http: httpx.AsyncClient, p: str
) -> None:
    courier_id = await create_courier(http, p, new_phone())
    order = order_id()
    await http.post(f"{p}/delivery/assign", json={"order_id": order})
    first = await http.post(f"{p}/delivery/complete", json={"order_id": order})
    assert first.json() == {"order_id": order, "status": "completed", "courier_id": courier_id}
    second = await http.post(f"{p}/delivery/complete", json={"order_id": order})
    assert second.status_code == 200 and second.json()["status"] == "completed"
    delivery = (await http.get(f"{p}/delivery/{order}")).json()
    assert delivery["status"] == "completed" and delivery["finished_at"] is not None
    assert (await http.get(f"{p}/courier/{courier_id}")).json()["status"] == "available"
    assert_error(
        await http.post(f"{p}/delivery/unassign", json={"order_id": order}), 404, "delivery_not_found"
    )


async def test_complete_of_an_unknown_order_is_delivery_not_found(http: httpx.AsyncClient, p: str) -> None:
    assert_error(
        await http.post(f"{p}/delivery/complete", json={"order_id": order_id()}), 404, "delivery_not_found"
    )


async def test_get_delivery_with_a_blank_order_id_is_invalid_order_id(
    http: httpx.AsyncClient, p: str
) -> None:
    assert_error(await http.get(f"{p}/delivery/%20%20"), 400, "invalid_order_id")


async def test_a_busy_courier_cannot_be_deleted_or_have_its_status_changed(
    http: httpx.AsyncClient, p: str
) -> None:
    courier_id = await create_courier(http, p, new_phone())
    await http.post(f"{p}/delivery/assign", json={"order_id": order_id()})
    message = "courier has an active delivery"
    assert_error(await http.delete(f"{p}/courier/{courier_id}"), 409, "courier_has_active_delivery", message)
    paused = await http.put(f"{p}/courier", json={"id": courier_id, "status": "paused"})
    assert_error(paused, 409, "courier_has_active_delivery")


async def test_lists_deliveries_newest_first_with_filters_and_a_cursor(
    http: httpx.AsyncClient, p: str
) -> None:
    courier_id = await create_courier(http, p, new_phone())
    orders = []
    for _ in range(3):
        orders.append(order_id())
        await http.post(f"{p}/delivery/assign", json={"order_id": orders[-1]})
        await http.post(f"{p}/delivery/complete", json={"order_id": orders[-1]})
    query = {"courier_id": courier_id, "status": "completed", "limit": 2}
    first = await http.get(f"{p}/deliveries", params=query)
    assert [d["order_id"] for d in first.json()] == orders[::-1][:2]
    link = first.headers["link"]
    assert link.startswith("</api/v1/deliveries?") and link.endswith('>; rel="next"')
    second = await http.get(link[1 : link.index(">")])
    assert [d["order_id"] for d in second.json()] == orders[:1]
    assert "link" not in second.headers


@pytest.mark.parametrize(
    "query",
    [{"status": "lost"}, {"courier_id": "abc"}, {"courier_id": "0"}, {"limit": "0"}, {"limit": "5000"},
     {"after": "not-a-cursor"}, {"sort": "asc"}],
)  # fmt: skip
async def test_a_bad_deliveries_query_is_invalid_request(
    http: httpx.AsyncClient, p: str, query: dict[str, str]
) -> None:
    if p == "" and "sort" in query:  # the seed's clients: unknown parameters ignored
        assert (await http.get(f"{p}/deliveries", params=query)).status_code == 200
        return
    assert_error(await http.get(f"{p}/deliveries", params=query), 400, "invalid_request")


async def test_waiting_orders_are_listed_under_api_v1_only(http: httpx.AsyncClient) -> None:
    order = order_id()
    assert (await http.post("/delivery/assign", json={"order_id": order, "wait": True})).status_code == 202
    listed = await http.get("/api/v1/orders/waiting", params={"limit": 1000})
    assert listed.status_code == 200
    mine = [w for w in listed.json() if w["order_id"] == order]
    assert mine and mine[0]["age_seconds"] >= 0 and mine[0]["since"].endswith("Z")
    assert_error(await http.get("/orders/waiting"), 404, "not_found")
    assert_error(await http.get("/api/v1/orders/waiting", params={"limit": 0}), 400, "invalid_request")
    courier_id = await create_courier(http, "", new_phone())  # takes the order: the queue is left empty
    assert (await http.get(f"/delivery/{order}")).json()["courier_id"] == courier_id
