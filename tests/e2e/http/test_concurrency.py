"""Concurrency over HTTP against the real server: no double booking, one winner per phone."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest

from tests.e2e.http.conftest import new_phone
from tests.e2e.http.helpers import create_courier, order_id, pause_available

pytestmark = pytest.mark.e2e


async def test_parallel_assigns_on_few_couriers_never_double_book(http: httpx.AsyncClient) -> None:
    await pause_available(http)
    couriers = {await create_courier(http, "/api/v1", new_phone()) for _ in range(5)}
    orders = [order_id() for _ in range(40)]
    limits = httpx.Limits(max_connections=40)
    async with httpx.AsyncClient(base_url=str(http.base_url), limits=limits, timeout=60) as many:
        answers = await asyncio.gather(*(many.post("/delivery/assign", json={"order_id": o}) for o in orders))
    statuses = Counter(a.status_code for a in answers)
    assert statuses == {200: 5, 409: 35}, statuses
    assert {a.json()["error"]["code"] for a in answers if a.status_code == 409} == {"no_available_couriers"}
    winners = [a.json()["courier_id"] for a in answers if a.status_code == 200]
    assert sorted(winners) == sorted(couriers)
    active = (await http.get("/api/v1/deliveries", params={"status": "active", "limit": 1000})).json()
    per_courier = Counter(d["courier_id"] for d in active if d["courier_id"] in couriers)
    assert set(per_courier.values()) == {1} and len(per_courier) == 5


async def test_parallel_assigns_of_one_order_give_one_delivery(http: httpx.AsyncClient) -> None:
    await pause_available(http)
    for _ in range(5):
        await create_courier(http, "", new_phone())
    order = order_id()
    async with httpx.AsyncClient(base_url=str(http.base_url), timeout=60) as many:
        answers = await asyncio.gather(
            *(many.post("/delivery/assign", json={"order_id": order}) for _ in range(20))
        )
    assert Counter(a.status_code for a in answers) == {200: 1, 409: 19}
    assert {a.json()["error"]["code"] for a in answers if a.status_code == 409} == {"delivery_exists"}


async def test_parallel_creates_of_one_phone_make_exactly_one_courier(http: httpx.AsyncClient) -> None:
    phone = new_phone()
    body = {"name": "Ivan", "phone": phone, "status": "paused"}
    async with httpx.AsyncClient(base_url=str(http.base_url), timeout=60) as many:
        answers = await asyncio.gather(*(many.post("/api/v1/courier", json=body) for _ in range(30)))
    assert Counter(a.status_code for a in answers) == {201: 1, 409: 29}
    assert {a.json()["error"]["code"] for a in answers if a.status_code == 409} == {"courier_exists"}
