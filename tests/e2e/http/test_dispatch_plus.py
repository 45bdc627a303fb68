"""dispatch-plus.md over HTTP against the real server: dry run, the stored decision, handover (with its
race against an assign of the target), history, 304 on the delivery list."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import psycopg
import pytest

from courier_adapters.postgres import invariants
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


def counts(url: str) -> dict[str, int]:
    """How many rows each table holds: what a change would have to add to."""
    tables = ("deliveries", "outbox", "history", "assignment_decisions", "waiting_orders")
    with psycopg.connect(url, autocommit=True) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}  # type: ignore[index]


def outbox_after(url: str, position: int) -> list[tuple[str, str, dict[str, Any]]]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT type, key, payload FROM outbox WHERE id > %s ORDER BY id", (position,)
        ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def last_position(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT coalesce(max(id), 0) FROM outbox").fetchone()
    assert row is not None
    return int(row[0])


def total_deliveries(url: str, *courier_ids: int) -> list[int]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = dict(
            conn.execute(
                "SELECT id, total_deliveries FROM couriers WHERE id = ANY(%s)", (list(courier_ids),)
            ).fetchall()
        )
    return [rows[c] for c in courier_ids]


async def status_of(http: httpx.AsyncClient, courier_id: int) -> str:
    status: str = (await http.get(f"/api/v1/courier/{courier_id}")).json()["status"]
    return status


async def test_a_dry_run_changes_nothing_and_names_the_courier_an_assign_then_picks(
    http: httpx.AsyncClient, p: str, shared_db: str
) -> None:
    loaded = await create_courier(http, p, new_phone())
    first = order_id()
    assert (await http.post(f"{p}/delivery/assign", json={"order_id": first})).json()["courier_id"] == loaded
    await http.post(f"{p}/delivery/complete", json={"order_id": first})  # loaded: 1 delivery, available
    fresh = await create_courier(http, p, new_phone())
    excluded = await create_courier(http, p, new_phone())
    order = order_id()
    before = counts(shared_db)

    ask = {"order_id": order, "dry_run": True, "exclude_courier_ids": [excluded]}
    dry = await http.post(f"{p}/delivery/assign", json=ask)

    assert dry.status_code == 200, dry.text
    body = dry.json()
    assert body["dry_run"] is True and (body["order_id"], body["courier_id"]) == (order, fresh)
    assert body["transport_type"] == "car" and body["delivery_deadline"].endswith("Z")
    decision = body["decision"]
    assert decision["strategy"] == "least_loaded" and decision["excluded_courier_ids"] == [excluded]
    assert (decision["candidates"], decision["tied"], decision["courier_deliveries"]) == (2, 1, 0)
    assert counts(shared_db) == before  # no delivery, event, history, decision or queue entry
    assert [await status_of(http, c) for c in (loaded, fresh, excluded)] == ["available"] * 3
    assert_error(await http.get(f"{p}/delivery/{order}"), 404, "delivery_not_found")
    assert_error(await http.get(f"/api/v1/delivery/{order}/decision"), 404, "delivery_not_found")

    real = await http.post(
        f"{p}/delivery/assign", json={"order_id": order, "exclude_courier_ids": [excluded]}
    )
    assert real.status_code == 200 and real.json()["courier_id"] == body["courier_id"]
    stored = (await http.get(f"/api/v1/delivery/{order}/decision")).json()
    assert {k: v for k, v in stored.items() if k != "decided_at"} == {
        k: v for k, v in decision.items() if k != "decided_at"
    }


async def test_a_dry_run_with_nobody_free_is_409_and_wait_is_refused(http: httpx.AsyncClient, p: str) -> None:
    order = order_id()
    assert_error(
        await http.post(f"{p}/delivery/assign", json={"order_id": order, "dry_run": True}),
        409,
        "no_available_couriers",
    )
    both = await http.post(f"{p}/delivery/assign", json={"order_id": order, "dry_run": True, "wait": True})
    assert_error(both, 400, "invalid_request")
    waiting = (await http.get("/api/v1/orders/waiting", params={"limit": 1000})).json()
    assert order not in {w["order_id"] for w in waiting}


async def test_a_requested_courier_leaves_its_decision(http: httpx.AsyncClient) -> None:
    await create_courier(http, "", new_phone())
    chosen = await create_courier(http, "", new_phone())
    order = order_id()
    assert (
        await http.post("/delivery/assign", json={"order_id": order, "courier_id": chosen})
    ).status_code == 200
    decision = (await http.get(f"/api/v1/delivery/{order}/decision")).json()
    assert (decision["courier_id"], decision["strategy"], decision["candidates"]) == (chosen, "requested", 1)
    assert_error(await http.get("/api/v1/delivery/%20/decision"), 400, "invalid_order_id")
    assert_error(await http.get(f"/delivery/{order}/decision"), 404, "not_found")  # /api/v1 only


async def test_a_handover_moves_the_delivery_with_its_deadline_in_one_change(
    http: httpx.AsyncClient, shared_db: str
) -> None:
    source = await create_courier(http, "", new_phone(), transport="car")
    target = await create_courier(http, "", new_phone(), transport="scooter")
    order = order_id()
    assigned = await http.post("/delivery/assign", json={"order_id": order, "courier_id": source})
    deadline = assigned.json()["delivery_deadline"]
    assert total_deliveries(shared_db, source, target) == [1, 0]
    position = last_position(shared_db)

    moved = await http.post(f"/api/v1/courier/{source}/handover", json={"to_courier_id": target})

    assert moved.status_code == 200, moved.text
    assert moved.json() == {
        "order_id": order,
        "from_courier_id": source,
        "courier_id": target,
        "delivery_deadline": deadline,
    }
    delivery = (await http.get(f"/api/v1/delivery/{order}")).json()
    assert (delivery["courier_id"], delivery["status"], delivery["deadline"]) == (target, "active", deadline)
    assert [await status_of(http, source), await status_of(http, target)] == ["available", "busy"]
    assert total_deliveries(shared_db, source, target) == [0, 1]
    events = outbox_after(shared_db, position)
    assert Counter(t for t, _, _ in events) == {"delivery.handed_over": 1, "courier.status_changed": 2}
    handed = next(e for e in events if e[0] == "delivery.handed_over")
    assert handed[1] == order and (handed[2]["from_courier_id"], handed[2]["courier_id"]) == (source, target)
    changed = {
        e[2]["courier_id"]: (e[2]["from"], e[2]["to"]) for e in events if e[0] == "courier.status_changed"
    }
    assert changed == {source: ("busy", "available"), target: ("available", "busy")}
    history = (await http.get(f"/api/v1/delivery/{order}/history")).json()
    assert [(h["change"], h["actor"]) for h in history] == [("assigned", "api"), ("handed_over", "api")]
    assert invariants.check(shared_db) == []


async def test_handover_refusals_change_nothing(http: httpx.AsyncClient, shared_db: str) -> None:
    source = await create_courier(http, "", new_phone())
    busy = await create_courier(http, "", new_phone())
    paused = await create_courier(http, "", new_phone(), status="paused")
    idle = await create_courier(http, "", new_phone())
    await http.post("/delivery/assign", json={"order_id": order_id(), "courier_id": source})
    await http.post("/delivery/assign", json={"order_id": order_id(), "courier_id": busy})
    before = counts(shared_db)

    def handover(courier: object, body: object) -> Any:
        return http.post(f"/api/v1/courier/{courier}/handover", json=body)

    assert_error(await handover(source, {"to_courier_id": source}), 400, "invalid_request")
    assert_error(await handover(source, {"to_courier_id": busy}), 409, "courier_not_available")
    assert_error(await handover(source, {"to_courier_id": paused}), 409, "courier_not_available")
    assert_error(await handover(idle, {"to_courier_id": source}), 404, "delivery_not_found")
    assert_error(await handover(source, {"to_courier_id": 2**62}), 404, "courier_not_found")
    assert_error(await handover(2**62, {"to_courier_id": idle}), 404, "courier_not_found")
    assert_error(await handover("abc", {"to_courier_id": idle}), 400, "invalid_id")
    assert_error(await handover(source, {}), 400, "invalid_request")
    assert_error(await handover(source, {"to_courier_id": 0}), 400, "invalid_request")
    assert_error(await handover(source, {"to_courier_id": idle, "x": 1}), 400, "invalid_request")
    assert_error(
        await http.post(f"/courier/{source}/handover", json={"to_courier_id": idle}), 404, "not_found"
    )
    assert counts(shared_db) == before
    assert [await status_of(http, c) for c in (source, busy, paused, idle)] == [
        "busy",
        "busy",
        "paused",
        "available",
    ]


async def test_a_handover_racing_an_assign_of_its_target_is_all_or_nothing(
    http: httpx.AsyncClient, shared_db: str
) -> None:
    """The target becomes busy at the same moment: exactly one of the two wins, nothing half done."""
    outcomes: Counter[str] = Counter()
    async with httpx.AsyncClient(base_url=str(http.base_url), timeout=60) as other:
        for _ in range(12):
            source = await create_courier(http, "", new_phone())
            target = await create_courier(http, "", new_phone())
            moving, racing = order_id(), order_id()
            await http.post("/delivery/assign", json={"order_id": moving, "courier_id": source})
            handover, assign = await asyncio.gather(
                http.post(f"/api/v1/courier/{source}/handover", json={"to_courier_id": target}),
                other.post("/delivery/assign", json={"order_id": racing, "courier_id": target}),
            )
            statuses = (handover.status_code, assign.status_code)
            assert statuses in ((200, 409), (409, 200)), (handover.text, assign.text)
            loser = handover if handover.status_code == 409 else assign
            assert loser.json()["error"]["code"] == "courier_not_available"
            moved = handover.status_code == 200
            outcomes["handover" if moved else "assign"] += 1
            delivery = (await http.get(f"/api/v1/delivery/{moving}")).json()
            assert delivery["courier_id"] == (target if moved else source)
            assert [await status_of(http, source), await status_of(http, target)] == (
                ["available", "busy"] if moved else ["busy", "busy"]
            )
            assert total_deliveries(shared_db, source, target) == ([0, 1] if moved else [1, 1])
            racing_answer = await http.get(f"/api/v1/delivery/{racing}")
            assert racing_answer.status_code == (404 if moved else 200)
            await pause_available(http)
    assert invariants.check(shared_db) == []
    print("race winners:", dict(outcomes))


async def test_history_keeps_each_change_once_oldest_first(http: httpx.AsyncClient) -> None:
    courier_id = await create_courier(http, "", new_phone())
    order = order_id()
    await http.post("/delivery/assign", json={"order_id": order, "courier_id": courier_id})
    await http.post("/delivery/complete", json={"order_id": order})
    await http.put("/courier", json={"id": courier_id, "status": "paused"})
    await http.put("/courier", json={"id": courier_id, "name": "Petr"})  # no status change: no entry

    courier = (await http.get(f"/api/v1/courier/{courier_id}/history")).json()
    assert [(h["change"], h["from"], h["to"], h["actor"]) for h in courier] == [
        ("created", None, "available", "api"),
        ("status", "available", "busy", "api"),
        ("status", "busy", "available", "api"),
        ("status", "available", "paused", "api"),
    ]
    assert courier[1]["details"] == {"reason": "assigned", "order_id": order}
    assert [h["at"] for h in courier] == sorted(h["at"] for h in courier)
    delivery = (await http.get(f"/api/v1/delivery/{order}/history", params={"limit": 1})).json()
    assert [(h["change"], h["from"], h["to"]) for h in delivery] == [("assigned", None, "active")]
    full = (await http.get(f"/api/v1/delivery/{order}/history")).json()
    assert [h["change"] for h in full] == ["assigned", "completed"]
    assert (await http.get(f"/api/v1/delivery/{order_id()}/history")).json() == []
    assert_error(await http.get(f"/api/v1/courier/{2**62}/history"), 404, "courier_not_found")
    assert_error(await http.get("/api/v1/courier/0/history"), 400, "invalid_id")
    assert_error(await http.get(f"/api/v1/courier/{courier_id}/history?limit=0"), 400, "invalid_request")


async def test_delivery_and_history_lists_answer_304_while_nothing_changed(
    http: httpx.AsyncClient, p: str
) -> None:
    courier_id = await create_courier(http, p, new_phone())
    order = order_id()
    await http.post(f"{p}/delivery/assign", json={"order_id": order})
    for path in (f"{p}/deliveries?courier_id={courier_id}", f"/api/v1/courier/{courier_id}/history"):
        first = await http.get(path)
        tag = first.headers["etag"]
        same = await http.get(path, headers={"if-none-match": tag})
        assert (same.status_code, same.content, same.headers["etag"]) == (304, b"", tag), path
    tags = [(await http.get(path)).headers["etag"] for path in (f"{p}/deliveries?courier_id={courier_id}",)]
    await http.post(f"{p}/delivery/complete", json={"order_id": order})
    changed = await http.get(f"{p}/deliveries?courier_id={courier_id}", headers={"if-none-match": tags[0]})
    assert changed.status_code == 200 and changed.json()[0]["status"] == "completed"


async def test_at_risk_is_only_for_active_deliveries(http: httpx.AsyncClient, p: str) -> None:
    courier_id = await create_courier(http, p, new_phone())
    await http.post(f"{p}/delivery/assign", json={"order_id": order_id()})
    fresh = await http.get(f"{p}/deliveries", params={"at_risk": "true", "courier_id": courier_id})
    assert fresh.status_code == 200 and fresh.json() == []  # 5 minutes left of 5
    everything = await http.get(f"{p}/deliveries", params={"at_risk": "false", "courier_id": courier_id})
    assert len(everything.json()) == 1
    for query in ({"at_risk": "true", "status": "completed"}, {"at_risk": "yes"}):
        assert_error(await http.get(f"{p}/deliveries", params=query), 400, "invalid_request")
