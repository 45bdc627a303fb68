"""The pruning job on real PostgreSQL: old idempotency keys and order statuses go, guarded ones stay."""

from __future__ import annotations

import pytest

from courier_adapters.containers import Adapters
from courier_adapters.postgres.database import PostgresDatabase
from courier_consumer.jobs import Pruner
from tests.integration.kafka.helpers import Db

pytestmark = pytest.mark.integration
DAY = 86400.0


async def test_prunes_rows_past_their_retention_only(
    containers: tuple[Adapters, object], database: PostgresDatabase
) -> None:
    adapters, _ = containers
    db = Db(database)
    await db.add_couriers(1)
    await db.execute(
        "INSERT INTO processed_events (event_key, processed_at) VALUES "
        "('\\x01', now() - interval '8 days'), ('\\x02', now() - interval '1 day')"
    )
    await db.execute(
        "INSERT INTO orders (order_id, status, status_at, updated_at) VALUES "
        "('old', 'completed', now(), now() - interval '31 days'), "
        "('old-waiting', 'created', now(), now() - interval '31 days'), "
        "('old-active', 'created', now(), now() - interval '31 days'), "
        "('recent', 'created', now(), now() - interval '29 days')"
    )
    await db.execute("INSERT INTO waiting_orders (order_id) VALUES ('old-waiting')")
    await db.execute(
        "INSERT INTO deliveries (order_id, courier_id, status, assigned_at, deadline) "
        "SELECT 'old-active', id, 'active', now(), now() + interval '5 minutes' FROM couriers LIMIT 1"
    )
    pruner = Pruner(
        uow=adapters.uow(), database=database, processed_retention=7 * DAY, order_retention=30 * DAY
    )
    assert await pruner.prune() == (1, 1)
    assert await db.scalar("SELECT array_agg(encode(event_key, 'hex')) FROM processed_events") == ["02"]
    remaining = await db.scalar("SELECT array_agg(order_id ORDER BY order_id) FROM orders")
    assert remaining == ["old-active", "old-waiting", "recent"]
    assert await pruner.prune() == (0, 0)


async def test_zero_retention_keeps_everything(
    containers: tuple[Adapters, object], database: PostgresDatabase
) -> None:
    adapters, _ = containers
    db = Db(database)
    await db.execute(
        "INSERT INTO processed_events (event_key, processed_at) VALUES ('\\x01', now() - interval '99 days')"
    )
    pruner = Pruner(uow=adapters.uow(), database=database, processed_retention=0, order_retention=0)
    assert await pruner.prune() == (0, 0)
    assert await db.count("processed_events") == 1
