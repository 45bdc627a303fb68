"""Deadlines and failures inside the app, on real PostgreSQL: 503 with Retry-After, 500 without leaks."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator

import httpx
import psycopg
import pytest
from starlette.applications import Starlette

from courier_adapters.settings import Settings
from courier_http.app import create_app

pytestmark = pytest.mark.integration


async def _client(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://courier.test")


@pytest.fixture
def locked_courier(database_url: str) -> Iterator[tuple[int, psycopg.Connection[tuple[object, ...]]]]:
    """A paused courier whose row another transaction holds locked."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "INSERT INTO couriers (name, phone, status, transport_type) "
            "VALUES ('Ivan', '+79990001122', 'paused', 'car') RETURNING id"
        ).fetchone()
        conn.commit()
        assert row is not None
        conn.execute("SELECT 1 FROM couriers WHERE id = %s FOR UPDATE", (row[0],))
        yield int(row[0]), conn
        conn.rollback()


@pytest.fixture
async def running(http_settings: Settings, request: pytest.FixtureRequest) -> AsyncIterator[Starlette]:
    changes: dict[str, float] = getattr(request, "param", {})
    app = create_app(dataclasses.replace(http_settings, **changes))
    async with app.router.lifespan_context(app):
        yield app


@pytest.mark.parametrize("running", [{"db_statement_timeout": 0.3}], indirect=True)
async def test_a_statement_past_its_timeout_is_503_and_the_pool_recovers(
    running: Starlette, locked_courier: tuple[int, object]
) -> None:
    courier_id, _ = locked_courier
    async with await _client(running) as http:
        answer = await http.delete(f"/courier/{courier_id}")
        assert answer.status_code == 503 and answer.json()["error"]["code"] == "unavailable"
        assert answer.headers["retry-after"] == "1"
        assert (await http.get(f"/courier/{courier_id}")).status_code == 200


@pytest.mark.parametrize("running", [{"request_timeout": 0.3}], indirect=True)
async def test_a_request_past_its_deadline_is_503_and_its_work_abandoned(
    running: Starlette, locked_courier: tuple[int, object]
) -> None:
    courier_id, _ = locked_courier
    async with await _client(running) as http:
        answer = await http.delete(f"/api/v1/courier/{courier_id}")
        assert answer.status_code == 503 and answer.json()["error"]["code"] == "unavailable"
        assert (await http.get(f"/api/v1/courier/{courier_id}")).status_code == 200  # not deleted


async def test_an_unexpected_failure_is_a_500_without_details(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    class Exploding:
        async def get(self, courier_id: object) -> None:
            raise RuntimeError("password=hunter2 at postgresql://u:hunter2@db")

    app.state.runtime.couriers = Exploding()
    answer = await client.get("/courier/1")
    assert answer.status_code == 500
    assert answer.json() == {"error": {"code": "internal", "message": "internal error"}}
    assert "hunter2" not in answer.text
    assert (await client.get("/ping")).status_code == 200
