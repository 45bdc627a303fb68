"""The Idempotency-Key store's statements on a real PostgreSQL: reserve, complete, release, takeover of
expired and abandoned keys, pruning."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from courier_adapters.postgres.database import PoolSession, PostgresDatabase
from courier_adapters.postgres.idempotency import PostgresIdempotencyStore

pytestmark = pytest.mark.integration


def store(
    database: PostgresDatabase, *, ttl: float = 86400.0, lease: float = 60.0
) -> PostgresIdempotencyStore:
    return PostgresIdempotencyStore(PoolSession(database.pool), ttl=ttl, lease=lease)


def age(database_url: str, key: str, seconds: int) -> None:
    """Make ``key``'s row ``seconds`` older (the store reads the database's clock)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE idempotency_keys SET created_at = created_at - make_interval(secs => %s) WHERE key = %s",
            (seconds, key),
        )


async def test_a_key_is_reserved_once_then_holds_its_answer(database: PostgresDatabase) -> None:
    keys = store(database)
    assert await keys.reserve("", "k", b"h1")
    assert not await keys.reserve("", "k", b"h1")
    in_progress = await keys.get("", "k")
    assert in_progress is not None and (in_progress.request_hash, in_progress.status) == (b"h1", None)
    headers = '[["content-type","application/json"],["location","/api/v1/courier/1"]]'
    assert await keys.complete("", "k", b"h1", status=201, headers=headers, body=b'{"id":1}')
    done = await keys.get("", "k")
    assert done is not None
    assert (done.status, done.body) == (201, b'{"id":1}')
    assert done.headers == [["content-type", "application/json"], ["location", "/api/v1/courier/1"]]
    assert not await keys.complete("", "k", b"h1", status=500, headers="[]", body=b"")  # answered once
    await keys.release("", "k", b"h1")  # only a key in progress is released
    assert await keys.get("", "k") is not None


async def test_scopes_keep_keys_apart_and_a_released_key_is_free_again(database: PostgresDatabase) -> None:
    keys = store(database)
    assert await keys.reserve("alice", "k", b"h1")
    assert await keys.reserve("bob", "k", b"h2")
    await keys.release("alice", "k", b"h1")
    assert await keys.get("alice", "k") is None
    assert await keys.reserve("alice", "k", b"h3")


async def test_concurrent_reservations_of_one_key_give_it_to_one(database: PostgresDatabase) -> None:
    keys = store(database)
    won = await asyncio.gather(*(keys.reserve("", "race", b"h") for _ in range(10)))
    assert sorted(won) == [False] * 9 + [True]


async def test_expired_and_abandoned_keys_are_taken_over_and_pruned(
    database: PostgresDatabase, database_url: str
) -> None:
    keys = store(database, ttl=3600, lease=60)
    assert await keys.reserve("", "old", b"h1")
    await keys.complete("", "old", b"h1", status=200, headers="[]", body=b"{}")
    assert await keys.reserve("", "stuck", b"h1")  # its process died before answering
    assert await keys.reserve("", "busy", b"h1")  # still within its lease
    age(database_url, "old", 3601)
    age(database_url, "stuck", 61)
    age(database_url, "busy", 30)
    assert await keys.reserve("", "old", b"h2")
    assert await keys.reserve("", "stuck", b"h2")
    assert not await keys.reserve("", "busy", b"h2")
    taken = await keys.get("", "old")
    assert taken is not None and (taken.request_hash, taken.status) == (b"h2", None)
    age(database_url, "busy", 4000)
    assert await keys.prune() == 1
    assert await keys.get("", "busy") is None and await keys.get("", "old") is not None
