"""Taking a pooled connection and giving it back, in a way cancellation cannot interrupt.

courier cancels a request's task at any await once its client has gone, its deadline has passed or
shutdown has begun; the consumer's bridge cancels work that overran its timeout. psycopg_pool does not
survive every such cancellation: a task cancelled while ``putconn`` waits for the pool's lock, or while
it rolls back a returned transaction, leaves that connection counted by the pool but never available
again (and ``getconn`` has had the same kind of bug upstream). Drained that way, a pool stops serving.

So both halves run in tasks of their own that the caller's cancellation does not reach
(``asyncio.shield``): a cancelled caller stops waiting at once, its connection is still given back,
and a connection that arrives for a caller who has left is given back when it arrives. The tasks are
kept in :data:`_RETURNING` until they finish (the event loop holds tasks weakly), and
:func:`settle` waits for them before a pool closes.

Every connection checked out is remembered with the time it was taken, so a connection held far
longer than any statement may run shows as ``courier_db_pool_oldest_checkout_seconds``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

log = logging.getLogger("courier.db.pool")
Conn = AsyncConnection[Any]
Pool = AsyncConnectionPool[Any]

_RETURNING: set[asyncio.Task[Any]] = set()
# id(connection) -> (pool, monotonic time it was taken): what is checked out now, per pool.
_CHECKED_OUT: dict[int, tuple[Pool, float]] = {}


def _keep(task: asyncio.Task[Any]) -> asyncio.Task[Any]:
    _RETURNING.add(task)
    task.add_done_callback(_RETURNING.discard)
    return task


async def take(pool: Pool, timeout: float | None = None) -> Conn:
    """``pool.getconn(timeout)``; when the caller is cancelled meanwhile, what arrives goes back."""
    getting: asyncio.Future[Conn] = asyncio.ensure_future(pool.getconn(timeout))
    try:
        conn: Conn = await asyncio.shield(getting)
    except asyncio.CancelledError:
        getting.add_done_callback(lambda done: _give_back_unwanted(pool, done))
        raise
    _CHECKED_OUT[id(conn)] = (pool, time.monotonic())
    return conn


def _give_back_unwanted(pool: Pool, getting: asyncio.Future[Conn]) -> None:
    if getting.cancelled() or getting.exception() is not None:
        return
    _keep(asyncio.ensure_future(_put(pool, getting.result())))


async def _put(pool: Pool, conn: Conn) -> None:
    try:
        await pool.putconn(conn)
    except Exception:  # the pool closed meanwhile, say: the connection is closed with it
        log.debug("giving a connection back failed; closing it", exc_info=True)
        with suppress(Exception):
            await conn.close()


async def give_back(pool: Pool, conn: Conn) -> None:
    """``pool.putconn(conn)``, finished even when the caller is cancelled while it runs."""
    _CHECKED_OUT.pop(id(conn), None)
    await asyncio.shield(_keep(asyncio.ensure_future(_put(pool, conn))))


@asynccontextmanager
async def lease(pool: Pool, timeout: float | None = None) -> AsyncIterator[Conn]:
    """``async with lease(pool) as conn``: the connection is given back whatever happens inside."""
    conn = await take(pool, timeout)
    try:
        yield conn
    finally:
        await give_back(pool, conn)


async def settle(timeout: float = 5.0) -> None:
    """Wait (at most ``timeout`` seconds) for connections still on their way back to a pool."""
    pending = [task for task in _RETURNING if not task.done()]
    if pending:
        await asyncio.wait(pending, timeout=timeout)


def oldest_checkout(pool: Pool) -> float:
    """Seconds the longest-held connection of ``pool`` has been checked out (0 when none is)."""
    taken = [at for owner, at in _CHECKED_OUT.values() if owner is pool]
    return time.monotonic() - min(taken) if taken else 0.0


def forget(pool: Pool) -> None:
    """The pool is closed: nothing of it is checked out any more."""
    for key in [key for key, (owner, _) in _CHECKED_OUT.items() if owner is pool]:
        del _CHECKED_OUT[key]


async def connect_own(connect: Callable[[], Awaitable[Conn]]) -> Conn:
    """A connection outside any pool (the relay's, a lock's session), closed if its caller left.

    A session-level advisory lock lives as long as its session: a connection opened for a task that
    was cancelled meanwhile must not linger until the garbage collector finds it.
    """
    connecting = asyncio.ensure_future(connect())
    try:
        return await asyncio.shield(connecting)
    except asyncio.CancelledError:
        connecting.add_done_callback(_close_unwanted)
        raise


def _close_unwanted(connecting: asyncio.Future[Conn]) -> None:
    if connecting.cancelled() or connecting.exception() is not None:
        return
    _keep(asyncio.ensure_future(connecting.result().close()))
