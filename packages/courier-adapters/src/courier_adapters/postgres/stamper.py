"""The outbox's position stamper: one leader in the cluster orders what readers see.

Writers no longer share a lock through ``COMMIT`` (see :mod:`courier_adapters.postgres.journal`), so
a lower outbox id can become visible after a higher one. The stamper gives every *visible* row that
has no position the next values of ``outbox_position_seq``, in id order, in small steps
(:data:`BATCH` rows a statement, every ``COURIER_OUTBOX_STAMP_INTERVAL`` when idle); the relay and the
live stream read by position only. A row that commits late is simply stamped later: nobody skips it,
nobody sees it twice, and one key's events keep their commit order (their ids rise in it, and a key's
later row is never visible before its earlier one).

Every process that can write runs a candidate (the API, the consumer, ``courier outbox relay``), since
the live stream must work with no broker; leadership is the session advisory lock
``pg_try_advisory_lock(5, 3)`` on a connection of its own, like the relay's. When the leader dies its
session ends, PostgreSQL releases the lock, and a standby takes it within ``standby_interval``.
Stamping is idempotent: a stamp that did not commit leaves its rows to the next leader.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from psycopg import AsyncConnection

from courier_adapters.postgres.database import Row, TransactionSession
from courier_adapters.postgres.journal import PostgresOutboxRepository
from courier_adapters.postgres.leader import (
    JOB_KEYS,
    JOBS_LOCK_NAMESPACE,
    close_quietly,
    connect_session,
    connection_lost,
    pause,
    try_session_lock,
)
from courier_adapters.settings import Settings
from courier_core.errors import DependencyUnavailable

log = logging.getLogger("courier.outbox.stamper")
APPLICATION_NAME = "courier-stamper"
BATCH = 1000  # rows stamped per statement: small steps, each a short transaction
TRY_LOCK_SQL = f"SELECT pg_try_advisory_lock({JOBS_LOCK_NAMESPACE}, {JOB_KEYS['stamp']})"
UNLOCK_SQL = f"SELECT pg_advisory_unlock({JOBS_LOCK_NAMESPACE}, {JOB_KEYS['stamp']})"


@dataclass(frozen=True, slots=True)
class StamperOptions:
    interval: float = 0.05  # idle leader: how long until it looks for new rows
    standby_interval: float = 1.0  # standby: how often it tries the lock
    batch: int = BATCH
    statement_timeout: float = 5.0

    @classmethod
    def from_settings(cls, settings: Settings) -> StamperOptions:
        return cls(
            interval=settings.outbox_stamp_interval,
            standby_interval=settings.outbox_standby_interval,
            statement_timeout=settings.db_statement_timeout,
        )


class PositionStamper:
    """``await stamper.run(stop)``: stand by or stamp until ``stop`` is set, then let the lock go."""

    def __init__(self, database_url: str, *, options: StamperOptions | None = None) -> None:
        self._url = database_url
        self._options = options or StamperOptions()
        self.leading = False
        self.stamped = 0
        self._problem: str | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Run as a task of the current loop until :meth:`stop`."""
        self._stop.clear()
        self._task = asyncio.create_task(self.run(self._stop), name="courier-outbox-stamper")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            self._stop.set()
            await task

    async def run(self, stop: asyncio.Event) -> None:
        conn: AsyncConnection[Row] | None = None
        try:
            while not stop.is_set():
                try:
                    if connection_lost(conn):
                        await close_quietly(conn)
                        conn = await connect_session(
                            self._url,
                            application_name=APPLICATION_NAME,
                            statement_timeout=self._options.statement_timeout,
                        )
                    assert conn is not None
                    if await try_lock(conn):
                        self._problem = None
                        await self._lead(conn, stop)
                except Exception as exc:  # the database above all: start again as a candidate
                    self._set_leading(False)
                    problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                    if problem != self._problem:
                        self._problem = problem
                        log.warning("outbox stamper: %s; trying again", problem)
                    await close_quietly(conn)
                    conn = None
                await pause(stop, self._options.standby_interval)
        finally:
            self._set_leading(False)
            await close_quietly(conn)  # a session's advisory lock ends with it

    async def _lead(self, conn: AsyncConnection[Row], stop: asyncio.Event) -> None:
        """Stamp until ``stop``; raises when the session (so the lock) is lost."""
        outbox = PostgresOutboxRepository(TransactionSession(conn))
        self._set_leading(True)
        try:
            while not stop.is_set():
                count = await outbox.stamp(limit=self._options.batch)
                self.stamped += count
                if count < self._options.batch:
                    await pause(stop, self._options.interval)
        finally:
            self._set_leading(False)

    def _set_leading(self, leading: bool) -> None:
        if leading != self.leading:
            self.leading = leading
            log.info("outbox stamper: %s", "this process leads it" if leading else "no longer leading")


async def try_lock(conn: AsyncConnection[Row]) -> bool:
    """Take the stamper's lock for this session if nobody holds it; whether we hold it now."""
    return await try_session_lock(conn, JOBS_LOCK_NAMESPACE, JOB_KEYS["stamp"])


async def stamp_until(conn: AsyncConnection[Row], upto: int, *, timeout: float = 30.0) -> None:
    """Make sure every committed row with an id up to ``upto`` has a position: stamp them here when
    no stamper leads (taking the lead on ``conn`` only for that, then letting it go), else wait for
    the leader. Raises ``DependencyUnavailable`` when they still have none after ``timeout`` seconds."""
    session = TransactionSession(conn)
    outbox = PostgresOutboxRepository(session)
    deadline = asyncio.get_running_loop().time() + timeout
    leading = False
    try:
        while await outbox.unstamped(upto=upto):
            leading = leading or await try_lock(conn)
            if leading:
                await outbox.stamp(limit=BATCH)
                continue
            if asyncio.get_running_loop().time() > deadline:
                raise DependencyUnavailable(
                    f"outbox events up to id {upto} got no position within {timeout:g}s: the stamper"
                    " that leads is not progressing"
                )
            await asyncio.sleep(0.05)
    finally:
        if leading:  # the live stream's stamper takes over again at its next try
            await session.fetch_one(UNLOCK_SQL)
