"""Leadership of a cluster-wide job: whichever process holds its session advisory lock runs it.

Reconciliation with the order service and pruning need to run once per interval in the whole
cluster, not once per replica. Each job has a lock ``pg_try_advisory_lock(JOBS_LOCK_NAMESPACE, key)``
held on a connection of its own (never a pooled one: the lock lives exactly as long as that session).
Before each run, :meth:`LeaderLease.held` says whether this process holds it, taking it if nobody
does; when the leader dies (``kill -9``, a lost network) its session ends, PostgreSQL releases the lock
and a standby takes it at its next tick. The outbox relay has the same kind of lock
(``RELAY_LOCK_NAMESPACE``) and keeps its own loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.conninfo import conninfo_to_dict

from courier_adapters.postgres import leases
from courier_adapters.postgres.database import Row, TransactionSession
from courier_adapters.postgres.errors import translated

log = logging.getLogger("courier.leader")
JOBS_LOCK_NAMESPACE = 5  # pg_try_advisory_lock(5, key): one leader per cluster-wide job
JOB_KEYS = {"reconcile": 1, "prune": 2, "stamp": 3}  # stamp: postgres/stamper.py


async def connect_session(
    database_url: str,
    *,
    application_name: str,
    statement_timeout: float = 5.0,
    connect_timeout: float = 5.0,
) -> AsyncConnection[Row]:
    """A connection outside the pool (autocommit, courier's session settings, TCP keepalives, so a
    leader cut off by the network loses its session, and so its lock, within seconds)."""
    settings = f"-c timezone=UTC -c statement_timeout={int(statement_timeout * 1000)}"
    given = conninfo_to_dict(database_url).get("options")
    with translated():
        conn: AsyncConnection[Row] = await leases.connect_own(
            lambda: psycopg.AsyncConnection.connect(
                database_url,
                autocommit=True,
                options=f"{given} {settings}" if given else settings,
                connect_timeout=max(1, int(connect_timeout)),
                application_name=application_name,
                keepalives=1,
                keepalives_idle=10,
                keepalives_interval=5,
                keepalives_count=3,
            )
        )
    return conn


def connection_lost(conn: AsyncConnection[Row] | None) -> bool:
    return conn is None or conn.closed or conn.broken


async def close_quietly(conn: AsyncConnection[Row] | None) -> None:
    """Close a leader's session (its advisory lock ends with it); a broken one may fail to: fine."""
    if conn is not None:
        with contextlib.suppress(Exception):
            await conn.close()


async def pause(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less when ``stop`` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def try_session_lock(conn: AsyncConnection[Row], namespace: int, key: int) -> bool:
    """Take the session advisory lock ``(namespace, key)`` if nobody holds it; whether we hold it."""
    row = await TransactionSession(conn).fetch_one("SELECT pg_try_advisory_lock(%s, %s)", (namespace, key))
    return bool(row and row[0])


class LeaderLease:
    """``await lease.held()``: whether this process leads ``job`` now (taking the lead if free)."""

    def __init__(
        self,
        database_url: str,
        job: str,
        *,
        statement_timeout: float = 5.0,
        observer: Callable[[str, bool], Any] = lambda job, leading: None,
    ) -> None:
        self.job = job
        self._url = database_url
        self._key = JOB_KEYS[job]
        self._statement_timeout = statement_timeout
        self._observer = observer
        self._conn: AsyncConnection[Row] | None = None
        self.leading = False

    async def held(self) -> bool:
        try:
            if self._conn is None or self._conn.closed or self._conn.broken:
                await self._drop()
                self._conn = await connect_session(
                    self._url,
                    application_name=f"courier-leader-{self.job}",
                    statement_timeout=self._statement_timeout,
                )
            if not self.leading:
                self._set(await try_session_lock(self._conn, JOBS_LOCK_NAMESPACE, self._key))
            elif not await self._still_alive():
                raise ConnectionError("the leader's session was lost")
        except Exception as exc:
            log.warning("%s: leadership unknown (%s); not running it this time", self.job, exc)
            await self._drop()
        return self.leading

    async def _still_alive(self) -> bool:
        assert self._conn is not None
        with contextlib.suppress(Exception):
            await TransactionSession(self._conn).fetch_one("SELECT 1")
            return True
        return False

    def _set(self, leading: bool) -> None:
        if leading != self.leading:
            self.leading = leading
            log.info("%s: %s", self.job, "this process leads it" if leading else "another process leads it")
            self._observer(self.job, leading)

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        self._set(False)
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    async def release(self) -> None:
        """Give the lead up: unlocked first (a session's end releases it only once the server has
        noticed), then the session ends; a standby takes it at its next tick."""
        if self.leading and self._conn is not None and not self._conn.broken:
            with contextlib.suppress(Exception):
                await TransactionSession(self._conn).fetch_one(
                    "SELECT pg_advisory_unlock(%s, %s)", (JOBS_LOCK_NAMESPACE, self._key)
                )
        await self._drop()


def leader_only(lease: LeaderLease, job: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[object]]:
    """``job`` run only while this process leads it."""

    async def run() -> object:
        if await lease.held():
            return await job()
        return None

    return run
