"""Idempotency-Key on POSTs against the real server: a repeat changes nothing and gets the first answer,
another body is 422, concurrent requests with one key run once."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import httpx
import psycopg
import pytest

from tests.e2e.http.conftest import new_phone
from tests.e2e.http.helpers import assert_error, create_courier, order_id, pause_available

pytestmark = pytest.mark.e2e


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


def count(url: str, sql: str, *params: object) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(sql, params).fetchone()
    assert row is not None
    return int(row[0])


def outbox(url: str) -> int:
    return count(url, "SELECT count(*) FROM outbox")


def replayed(answer: httpx.Response) -> bool:
    return answer.headers.get("idempotent-replayed") == "true"


async def test_a_repeated_create_changes_nothing_and_gets_the_first_answer(
    http: httpx.AsyncClient, shared_db: str
) -> None:
    phone, headers = new_phone(), key()
    body = {"name": "Ivan", "phone": phone, "status": "paused"}
    first = await http.post("/courier", json=body, headers=headers)
    assert first.status_code == 201 and not replayed(first)
    events = outbox(shared_db)

    again = await http.post("/api/v1/courier", json=body, headers=headers)  # either prefix: one route

    assert (again.status_code, again.content) == (201, first.content)
    assert again.headers["location"] == first.headers["location"]
    assert replayed(again) and again.headers["x-request-id"] != first.headers["x-request-id"]
    assert count(shared_db, "SELECT count(*) FROM couriers WHERE phone = %s", phone) == 1
    assert outbox(shared_db) == events
    without = await http.post("/courier", json=body)
    assert_error(without, 409, "courier_exists")  # what the repeat would have been without a key


async def test_a_repeated_assign_gets_the_same_courier_and_changes_nothing(
    http: httpx.AsyncClient, shared_db: str
) -> None:
    await pause_available(http)
    courier_id = await create_courier(http, "", new_phone())
    await create_courier(http, "", new_phone())
    order, headers = order_id(), key()
    first = await http.post("/api/v1/delivery/assign", json={"order_id": order}, headers=headers)
    assert first.status_code == 200 and first.json()["courier_id"] == courier_id
    before = (outbox(shared_db), count(shared_db, "SELECT count(*) FROM deliveries"))

    again = await http.post("/api/v1/delivery/assign", json={"order_id": order}, headers=headers)

    assert (again.status_code, again.json(), replayed(again)) == (200, first.json(), True)
    assert (outbox(shared_db), count(shared_db, "SELECT count(*) FROM deliveries")) == before
    other = await http.post("/api/v1/delivery/assign", json={"order_id": order_id()}, headers=headers)
    assert_error(other, 422, "idempotency_key_reused", "idempotency key reused with another request")
    assert (outbox(shared_db), count(shared_db, "SELECT count(*) FROM deliveries")) == before


async def test_a_refusal_is_kept_too_and_a_new_key_runs_again(http: httpx.AsyncClient) -> None:
    await pause_available(http)
    order, headers = order_id(), key()
    refused = await http.post("/delivery/assign", json={"order_id": order}, headers=headers)
    assert_error(refused, 409, "no_available_couriers")
    courier_id = await create_courier(http, "", new_phone())
    again = await http.post("/delivery/assign", json={"order_id": order}, headers=headers)
    assert (again.status_code, again.content, replayed(again)) == (409, refused.content, True)
    fresh = await http.post("/delivery/assign", json={"order_id": order}, headers=key())
    assert fresh.status_code == 200 and fresh.json()["courier_id"] == courier_id


async def test_concurrent_requests_with_one_key_run_once(http: httpx.AsyncClient, shared_db: str) -> None:
    phone, headers = new_phone(), key()
    body = {"name": "Ivan", "phone": phone, "status": "paused"}
    async with httpx.AsyncClient(base_url=str(http.base_url), timeout=60) as many:
        answers = await asyncio.gather(
            *(many.post("/courier", json=body, headers=headers) for _ in range(12))
        )
    statuses = Counter(a.status_code for a in answers)
    assert set(statuses) <= {201, 409}, statuses
    ran = [a for a in answers if a.status_code == 201 and not replayed(a)]
    assert len(ran) == 1
    assert {a.content for a in answers if a.status_code == 201} == {ran[0].content}
    for busy in (a for a in answers if a.status_code == 409):
        assert_error(busy, 409, "idempotency_key_in_progress")
        assert busy.headers["retry-after"] == "1"
    assert count(shared_db, "SELECT count(*) FROM couriers WHERE phone = %s", phone) == 1
    later = await http.post("/courier", json=body, headers=headers)
    assert (later.status_code, later.content, replayed(later)) == (201, ran[0].content, True)


@pytest.mark.parametrize("value", ["", "x" * 256, "two words", "\u00e9t\u00e9"])
async def test_a_bad_key_is_refused_before_anything_runs(
    http: httpx.AsyncClient, shared_db: str, value: str
) -> None:
    phone = new_phone()
    body = {"name": "Ivan", "phone": phone, "status": "paused"}
    answer = await http.post("/courier", json=body, headers={"Idempotency-Key": value.encode()})
    assert_error(answer, 400, "invalid_request")
    assert count(shared_db, "SELECT count(*) FROM couriers WHERE phone = %s", phone) == 0


async def test_reads_and_puts_ignore_the_header(http: httpx.AsyncClient, shared_db: str) -> None:
    courier_id = await create_courier(http, "", new_phone(), status="paused")
    headers = {"Idempotency-Key": "same-for-all"}
    keys = count(shared_db, "SELECT count(*) FROM idempotency_keys")
    assert (await http.get(f"/courier/{courier_id}", headers=headers)).status_code == 200
    for name in ("Petr", "Oleg"):
        answer = await http.put("/courier", json={"id": courier_id, "name": name}, headers=headers)
        assert answer.status_code == 200 and not replayed(answer)
    assert count(shared_db, "SELECT count(*) FROM idempotency_keys") == keys
