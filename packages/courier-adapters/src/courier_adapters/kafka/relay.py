"""The outbox relay as a service: one active relay across every process, the others standing by.

Leadership is a session-level advisory lock, ``pg_try_advisory_lock(4, 0)``, held on a connection of
its own (never a pooled one): the lock lives exactly as long as that session. The active relay runs
every statement of its work (read pending events, mark them sent, prune) on that same connection, so
each ``mark_sent`` is proof that it still held the lock a moment before. When the connection dies (the
process was killed, the server restarted, the network broke), the server releases the lock, the relay
stops publishing and starts over as a candidate, and a standby (each retries every
``COURIER_OUTBOX_STANDBY_INTERVAL``) takes over from the oldest event not marked sent.

At least once: events published but not yet marked sent when a relay dies are published again by the
next one, with the same ``event_id``. The relay publishes by outbox position (stamped after commit,
:mod:`courier_adapters.postgres.stamper`), so per key, the first copy of each event still comes in
commit order (both relays send the same events in the same order).

A broker outage does not give leadership away (no other relay could do better): the active relay
retries with capped backoff, and nothing is marked sent meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from psycopg import AsyncConnection

from courier_adapters.postgres.database import Row, Session, TransactionSession
from courier_adapters.postgres.journal import RELAY_LOCK_NAMESPACE, PostgresOutboxRepository
from courier_adapters.postgres.leader import (
    close_quietly,
    connect_session,
    connection_lost,
    pause,
    try_session_lock,
)
from courier_adapters.postgres.stamper import stamp_until
from courier_adapters.settings import Settings
from courier_core.errors import Conflict
from courier_core.ports import EventPublisher
from courier_core.usecases.relay import OutboxRelay

log = logging.getLogger("courier.outbox.relay")
APPLICATION_NAME = "courier-relay"
# A lock taken with two int4 keys shows in pg_locks as classid, objid with objsubid = 2.
RELAY_ACTIVE_SQL = (
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    f" AND classid = {RELAY_LOCK_NAMESPACE} AND objid = 0 AND objsubid = 2)"
)
BACKOFF_FIRST = 0.2
EVENTS_PARTITIONS = 4  # when courier creates the events topic itself (a development broker)


class RelayBusy(Conflict):
    """Another relay holds the lock: it publishes what is pending (``courier outbox status`` shows it)."""

    message = "another relay is active (it publishes what is pending): nothing to drain here"


class RelayObserver(Protocol):
    """What a relay reports: leadership taken or lost, events published (metrics, the CLI's progress)."""

    def active(self, active: bool) -> None: ...

    def published(self, count: int) -> None: ...


class NullRelayObserver:
    def active(self, active: bool) -> None:
        """Nobody listens."""

    def published(self, count: int) -> None:
        """Nobody listens."""


@dataclass(frozen=True, slots=True)
class RelayOptions:
    batch: int = 500
    poll_interval: float = 0.2  # idle leader: how long until it looks for new events
    standby_interval: float = 1.0  # standby: how often it tries the lock
    retention: float = 86400.0  # sent rows older than this are pruned (0: kept)
    prune_interval: float = 300.0
    statement_timeout: float = 5.0
    connect_timeout: float = 5.0
    backoff_max: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RelayOptions:
        return cls(
            batch=settings.outbox_batch,
            poll_interval=settings.outbox_poll_interval,
            standby_interval=settings.outbox_standby_interval,
            retention=settings.retention_outbox_sent,
            statement_timeout=settings.db_statement_timeout,
        )


async def connect(database_url: str, options: RelayOptions) -> AsyncConnection[Row]:
    """A connection of the relay's own (autocommit, courier's session settings, TCP keepalives)."""
    return await connect_session(
        database_url,
        application_name=APPLICATION_NAME,
        statement_timeout=options.statement_timeout,
        connect_timeout=options.connect_timeout,
    )


async def try_lock(conn: AsyncConnection[Row]) -> bool:
    """Take the relay's lock for this session if nobody holds it; whether we hold it now."""
    return await try_session_lock(conn, RELAY_LOCK_NAMESPACE, 0)


async def relay_active(session: Session) -> bool:
    """Whether some session of this database holds the relay's lock (a relay is active)."""
    row = await session.fetch_one(RELAY_ACTIVE_SQL)
    return bool(row and row[0])


class RelayRunner:
    """``await runner.run(stop)``: stand by or publish until ``stop`` is set, then let go of the lock."""

    def __init__(
        self,
        database_url: str,
        publisher: EventPublisher,
        *,
        options: RelayOptions | None = None,
        observer: RelayObserver | None = None,
        topic: str = "",
    ) -> None:
        self._url = database_url
        self._publisher = publisher
        self._options = options or RelayOptions()
        self._observer = observer or NullRelayObserver()
        self._topic = topic
        self.is_active = False
        self.standing_by = False  # it tried the lock and another relay held it
        self.published = 0
        self._problem: str | None = None  # the last failure logged (the same one is not logged again)

    def _trouble(self, what: str) -> None:
        if what != self._problem:
            self._problem = what
            log.warning("outbox relay: %s", what)

    def _set_active(self, active: bool) -> None:
        if active != self.is_active:
            self.is_active = active
            self._observer.active(active)

    async def run(self, stop: asyncio.Event) -> None:
        conn: AsyncConnection[Row] | None = None
        try:
            while not stop.is_set():
                try:
                    if connection_lost(conn):
                        await close_quietly(conn)
                        conn = await connect(self._url, self._options)
                    assert conn is not None
                    locked = await try_lock(conn)
                    self._problem = None
                    if locked:
                        self.standing_by = False
                        await self._lead(conn, stop)
                    elif not self.standing_by:
                        self.standing_by = True
                        log.info("outbox relay standing by: another relay is active")
                except Exception as exc:  # the database above all: start again as a candidate
                    self._set_active(False)
                    self.standing_by = False
                    self._trouble(f"{_describe(exc)}; trying again every {self._options.standby_interval:g}s")
                    if not connection_lost(conn):  # a statement failed on a live session: start afresh
                        await close_quietly(conn)
                    conn = None
                await pause(stop, self._options.standby_interval)
        finally:
            self._set_active(False)
            await close_quietly(conn)  # a session's advisory lock ends with it

    async def _lead(self, conn: AsyncConnection[Row], stop: asyncio.Event) -> None:
        """Publish until ``stop``; raises when the connection (so the lock) is lost."""
        options = self._options
        outbox = PostgresOutboxRepository(TransactionSession(conn))
        relay = OutboxRelay(outbox=outbox, publisher=self._publisher, batch=options.batch)
        self._set_active(True)
        log.info("outbox relay active: publishing to %s", self._topic or "Kafka")
        backoff = 0.0
        next_prune = time.monotonic() + min(options.prune_interval, 10.0)
        try:
            while not stop.is_set():
                try:
                    sent = await relay.relay_once()
                    if not sent and options.retention > 0 and time.monotonic() >= next_prune:
                        next_prune = time.monotonic() + options.prune_interval
                        pruned = await outbox.prune(older_than=options.retention)
                        if pruned:
                            log.info("pruned sent outbox events", extra={"events": pruned})
                except Exception as exc:
                    if connection_lost(conn):
                        log.warning("outbox relay lost its database session: no longer active")
                        raise
                    backoff = min(max(backoff * 2, BACKOFF_FIRST), options.backoff_max)
                    self._trouble(f"{_describe(exc)}; retrying (at most every {options.backoff_max:g}s)")
                    await pause(stop, backoff)
                    continue
                if backoff:
                    log.info("outbox relay: publishing again")
                    self._problem = None
                backoff = 0.0
                if sent:
                    self.published += sent
                    self._observer.published(sent)
                else:
                    await pause(stop, options.poll_interval)
        finally:
            self._set_active(False)


def _describe(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


async def drain(
    database_url: str,
    publisher: EventPublisher,
    *,
    options: RelayOptions | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Publish every event pending now (not those committed meanwhile) as the one active relay.

    Raises :class:`RelayBusy` when another relay holds the lock, ``DependencyUnavailable`` when the
    broker (``dependency="broker"``) or the database cannot be reached: nothing of the failed batch is
    marked sent then. ``progress(sent, pending)`` is called after each batch.
    """
    options = options or RelayOptions()
    conn = await connect(database_url, options)
    try:
        if not await try_lock(conn):
            raise RelayBusy()
        outbox = PostgresOutboxRepository(TransactionSession(conn))
        relay = OutboxRelay(outbox=outbox, publisher=publisher, batch=options.batch)
        await stamp_until(conn, await outbox.last_id())  # "pending now" includes rows not stamped yet
        upto = await outbox.last_position()
        pending, _ = await outbox.stats()
        sent = 0
        while count := await relay.relay_once(upto=upto):
            sent += count
            if progress is not None:
                progress(sent, max(pending, sent))
        return sent
    finally:
        await close_quietly(conn)
