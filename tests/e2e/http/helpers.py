"""Small helpers shared by the end-to-end HTTP tests."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

PREFIXES = ["/api/v1", ""]
PREFIX_IDS = ["api_v1", "seed"]


def order_id() -> str:
    return str(uuid.uuid4())


def assert_error(
    response: httpx.Response, status: int, code: str, message: str | None = None
) -> dict[str, Any]:
    """The spec's error envelope with ``code`` (and ``message`` when given)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    if message is not None:
        assert error["message"] == message
    assert set(error) <= {"code", "message", "field", "detail"}
    return error


async def create_courier(
    http: httpx.AsyncClient, prefix: str, phone: str, *, status: str = "available", transport: str = "car"
) -> int:
    body = {"name": "Ivan", "phone": phone, "status": status, "transport_type": transport}
    response = await http.post(f"{prefix}/courier", json=body)
    assert response.status_code == 201, response.text
    courier_id: int = response.json()["id"]
    return courier_id


async def pause_available(http: httpx.AsyncClient) -> None:
    """Take every available courier out of the pool, so a test decides who can be picked."""
    while True:
        listed = (await http.get("/api/v1/couriers", params={"status": "available", "limit": 1000})).json()
        if not listed:
            return
        for courier in listed:
            answer = await http.put("/api/v1/courier", json={"id": courier["id"], "status": "paused"})
            assert answer.status_code == 200, answer.text
