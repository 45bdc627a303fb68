"""The journal on PostgreSQL: written with the change and COMMIT in one round trip, or not at all."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import psycopg
import pytest

from courier_adapters.postgres.database import PostgresDatabase
from courier_adapters.postgres.uow import PostgresUnitOfWorkFactory
from courier_core.model import (
    CourierStatus,
    EventType,
    NewCourier,
    OutboxEvent,
    TransportType,
)

pytestmark = pytest.mark.integration
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def event(key: str, event_id: str | None = None) -> OutboxEvent:
    return OutboxEvent(event_id or str(uuid.uuid4()), EventType.COURIER_CREATED, key, T0, {"k": key})


@pytest.fixture
async def database(database_url: str):
    database = PostgresDatabase(database_url)
    await database.open()
    yield database
    await database.close()


async def test_a_failing_journal_rolls_the_change_back(database: PostgresDatabase) -> None:
    uow = PostgresUnitOfWorkFactory(database)
    async with uow() as work:
        await work.couriers.add(
            NewCourier("Ivan", "+70000000001", CourierStatus.AVAILABLE, TransportType.CAR)
        )
        await work.outbox.add(event("1", event_id="not-a-uuid"))
        with pytest.raises(psycopg.errors.InvalidTextRepresentation):
            await work.commit()
    async with uow() as work:  # the pool's connection is usable again, and nothing was stored
        assert await work.couriers.list() == []
        assert await work.outbox.pending(limit=10) == []
        await work.couriers.add(
            NewCourier("Ivan", "+70000000001", CourierStatus.AVAILABLE, TransportType.CAR)
        )
        await work.outbox.add(event("1"))
        await work.commit()
    async with uow() as work:
        await work.outbox.stamp(limit=10)
        await work.commit()
    async with uow() as work:
        assert [c.phone for c in await work.couriers.list()] == ["+70000000001"]
        assert [p.event.key for p in await work.outbox.pending(limit=10)] == ["1"]


async def test_outbox_positions_follow_commit_order(database: PostgresDatabase) -> None:
    """A transaction that recorded first but commits last gets the higher position (its journal goes
    out with its COMMIT; positions are stamped once rows are visible)."""
    uow = PostgresUnitOfWorkFactory(database)
    first_in = asyncio.Event()
    release = asyncio.Event()

    async def slow() -> None:
        async with uow() as work:
            await work.outbox.add(event("slow"))
            first_in.set()
            await release.wait()  # its statement is not sent before the fast one commits
            await work.commit()

    task = asyncio.create_task(slow())
    await first_in.wait()
    async with uow() as work:
        await work.outbox.add(event("fast"))
        await work.commit()
    release.set()
    await task
    async with uow() as work:
        await work.outbox.stamp(limit=10)
        await work.commit()
    async with uow() as work:
        assert [p.event.key for p in await work.outbox.after(0, limit=10)] == ["fast", "slow"]
