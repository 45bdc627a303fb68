"""Taking and giving back pooled connections survives cancellation (a pool stand-in, no sockets)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from courier_adapters.postgres import leases


class SlowPool:
    """getconn and putconn each wait for their gate, as psycopg_pool's do for its lock."""

    def __init__(self) -> None:
        self.give = asyncio.Event()
        self.take = asyncio.Event()
        self.returned: list[object] = []

    async def getconn(self, timeout: float | None = None) -> object:
        await self.give.wait()
        return object()

    async def putconn(self, conn: object) -> None:
        await self.take.wait()
        self.returned.append(conn)


class Conn:
    def __init__(self) -> None:
        self.closed = False

    async def close(self) -> None:
        self.closed = True


async def test_a_connection_that_arrives_after_its_caller_left_goes_back() -> None:
    pool: Any = SlowPool()
    pool.take.set()
    caller = asyncio.create_task(leases.take(pool))
    await asyncio.sleep(0)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    pool.give.set()
    await asyncio.sleep(0.01)
    await leases.settle()
    assert len(pool.returned) == 1
    assert leases.oldest_checkout(pool) == 0.0


async def test_giving_back_finishes_though_the_caller_is_cancelled_meanwhile() -> None:
    pool: Any = SlowPool()
    pool.give.set()
    conn = await leases.take(pool)
    assert leases.oldest_checkout(pool) > 0.0
    caller = asyncio.create_task(leases.give_back(pool, conn))
    await asyncio.sleep(0)
    caller.cancel()  # once: the client went away ...
    await asyncio.sleep(0)
    caller.cancel()  # ... and twice: shutdown began
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert pool.returned == []
    pool.take.set()
    await leases.settle()
    assert pool.returned == [conn]
    assert leases.oldest_checkout(pool) == 0.0


async def test_a_lease_gives_its_connection_back_when_the_work_inside_is_cancelled() -> None:
    pool: Any = SlowPool()
    pool.give.set()
    pool.take.set()
    inside = asyncio.Event()

    async def work() -> None:
        async with leases.lease(pool):
            inside.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(work())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await leases.settle()
    assert len(pool.returned) == 1


async def test_an_own_connection_opened_for_a_caller_who_left_is_closed() -> None:
    opened = asyncio.Event()
    conn = Conn()

    async def connect() -> Any:
        await opened.wait()
        return conn

    caller = asyncio.create_task(leases.connect_own(connect))
    await asyncio.sleep(0)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    opened.set()
    await asyncio.sleep(0.01)
    await leases.settle()
    assert conn.closed
