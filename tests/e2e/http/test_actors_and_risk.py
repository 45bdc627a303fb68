"""With tokens on and a short on-foot deadline: history names the token, keys are per token, and the
at-risk listing finds the deliveries past 80 % of their window (the expiry worker is off, so a
delivery stays active past its deadline and nothing here races it)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.http.conftest import new_phone
from tests.e2e.http.helpers import create_courier, order_id, pause_available
from tests.e2e.http.server import ApiProcess, start_api

pytestmark = pytest.mark.e2e

TOKENS = "alice:write:alice-secret,bob:write:bob-secret"
POLL_LIMIT = 600  # tenths of a second: the at-risk wait gives up after a minute, never asserts time


@pytest.fixture(scope="module")
def api(shared_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    settings = {
        "COURIER_API_TOKENS": TOKENS,
        "COURIER_DEADLINE_ON_FOOT": "1s",
        "COURIER_RELEASE_INTERVAL": "0",
    }
    with start_api(shared_db, Path(tmp_path_factory.mktemp("api-tokens")), **settings) as process:
        yield process
        assert process.stop() == 0


@pytest.fixture
async def alice(api: ApiProcess) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": "Bearer alice-secret"}
    async with httpx.AsyncClient(base_url=api.url, headers=headers, timeout=30) as client:
        yield client


@pytest.fixture
async def bob(api: ApiProcess) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": "Bearer bob-secret"}
    async with httpx.AsyncClient(base_url=api.url, headers=headers, timeout=30) as client:
        yield client


async def test_history_names_the_token_that_made_each_change(
    alice: httpx.AsyncClient, bob: httpx.AsyncClient
) -> None:
    await pause_available(alice)
    courier_id = await create_courier(alice, "/api/v1", new_phone())
    order = order_id()
    assert (await bob.post("/delivery/assign", json={"order_id": order})).status_code == 200
    assert (await alice.post("/delivery/unassign", json={"order_id": order})).status_code == 200
    assert (await bob.put("/courier", json={"id": courier_id, "status": "paused"})).status_code == 200

    courier = (await bob.get(f"/api/v1/courier/{courier_id}/history")).json()
    assert [(h["change"], h["to"], h["actor"]) for h in courier] == [
        ("created", "available", "api:alice"),
        ("status", "busy", "api:bob"),
        ("status", "available", "api:alice"),
        ("status", "paused", "api:bob"),
    ]
    delivery = (await alice.get(f"/api/v1/delivery/{order}/history")).json()
    assert [(h["change"], h["actor"]) for h in delivery] == [
        ("assigned", "api:bob"),
        ("unassigned", "api:alice"),
    ]


async def test_idempotency_keys_are_per_token(alice: httpx.AsyncClient, bob: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    mine = {"name": "Ivan", "phone": new_phone(), "status": "paused"}
    theirs = {"name": "Oleg", "phone": new_phone(), "status": "paused"}
    first = await alice.post("/courier", json=mine, headers=headers)
    other = await bob.post("/courier", json=theirs, headers=headers)  # the same key, another token
    assert (first.status_code, other.status_code) == (201, 201)
    assert first.json()["id"] != other.json()["id"]
    again = await alice.post("/courier", json=mine, headers=headers)
    assert again.content == first.content and again.headers["idempotent-replayed"] == "true"
    assert (await bob.post("/courier", json=mine, headers=headers)).status_code == 422


async def test_at_risk_lists_the_deliveries_past_most_of_their_window(alice: httpx.AsyncClient) -> None:
    await pause_available(alice)
    walker = await create_courier(alice, "", new_phone(), transport="on_foot")  # 1 s window
    driver = await create_courier(alice, "", new_phone(), transport="car")  # 5 min window
    hurried, relaxed = order_id(), order_id()
    for order, courier_id in ((hurried, walker), (relaxed, driver)):
        answer = await alice.post("/delivery/assign", json={"order_id": order, "courier_id": courier_id})
        assert answer.status_code == 200, answer.text

    for _ in range(POLL_LIMIT):
        listed = await alice.get("/api/v1/deliveries", params={"status": "active", "at_risk": "true"})
        assert listed.status_code == 200
        if hurried in {d["order_id"] for d in listed.json()}:
            break
        await asyncio.sleep(0.1)
    at_risk = {d["order_id"]: d for d in listed.json()}
    assert hurried in at_risk and relaxed not in at_risk
    assert at_risk[hurried]["courier_id"] == walker and at_risk[hurried]["status"] == "active"
    seed = (await alice.get("/deliveries", params={"at_risk": "true", "limit": 1000})).json()
    assert hurried in {d["order_id"] for d in seed} and relaxed not in {d["order_id"] for d in seed}
    everything = (await alice.get("/deliveries", params={"status": "active", "limit": 1000})).json()
    assert {hurried, relaxed} <= {d["order_id"] for d in everything}
