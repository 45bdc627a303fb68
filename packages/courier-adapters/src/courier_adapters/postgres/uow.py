"""The unit of work on PostgreSQL: one pooled connection, one transaction, every repository on it."""

from __future__ import annotations

from datetime import datetime
from types import TracebackType
from typing import Self

import psycopg
from psycopg import AsyncConnection

from courier_adapters.postgres import leases
from courier_adapters.postgres.database import PoolSession, PostgresDatabase, Row, TransactionSession
from courier_adapters.postgres.errors import translated
from courier_adapters.postgres.journal import (
    Journal,
    PostgresDecisionRepository,
    PostgresHistoryRepository,
    PostgresOutboxRepository,
)
from courier_adapters.postgres.repositories import (
    PostgresCourierRepository,
    PostgresCursorRepository,
    PostgresDeliveryRepository,
    PostgresOrderRepository,
    PostgresProcessedEventRepository,
    PostgresWaitingOrderRepository,
    transaction_now,
)


class PostgresUnitOfWork:
    """``async with uow:`` takes a connection and begins; leaving without ``commit()`` rolls back."""

    couriers: PostgresCourierRepository
    deliveries: PostgresDeliveryRepository
    orders: PostgresOrderRepository
    waiting: PostgresWaitingOrderRepository
    processed: PostgresProcessedEventRepository
    cursors: PostgresCursorRepository
    outbox: PostgresOutboxRepository
    history: PostgresHistoryRepository
    decisions: PostgresDecisionRepository

    def __init__(self, database: PostgresDatabase) -> None:
        self._database = database
        self._conn: AsyncConnection[Row] | None = None
        self._session: TransactionSession | None = None
        self._open = False
        self._journal = Journal()

    async def __aenter__(self) -> Self:
        conn = await self._begin()
        self._open = True
        self._session = session = TransactionSession(conn)
        self.couriers = PostgresCourierRepository(session)
        self.deliveries = PostgresDeliveryRepository(session)
        self.orders = PostgresOrderRepository(session)
        self.waiting = PostgresWaitingOrderRepository(session)
        self.processed = PostgresProcessedEventRepository(session)
        self.cursors = PostgresCursorRepository(session)
        self._journal.clear()
        self.outbox = PostgresOutboxRepository(session, self._journal)
        self.history = PostgresHistoryRepository(session, self._journal)
        self.decisions = PostgresDecisionRepository(session, self._journal)
        return self

    async def _begin(self) -> AsyncConnection[Row]:
        """A pooled connection with a transaction begun; a connection found dead is replaced once."""
        for attempt in (1, 2):
            with translated():
                pool = self._database.pool
                self._conn = conn = await leases.take(pool)
                try:
                    await conn.execute("BEGIN")
                except BaseException as exc:
                    self._conn = None
                    await leases.give_back(pool, conn)
                    if attempt == 1 and isinstance(exc, psycopg.OperationalError) and conn.broken:
                        continue
                    raise
                return conn
        raise AssertionError("unreachable")  # pragma: no cover

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._conn is not None
        try:
            if self._open:
                await self.rollback()
        except Exception:  # noqa: S110 - the connection is broken; the pool discards it
            pass
        finally:
            # Even when this task is cancelled during the rollback: the pool rolls back what is
            # left and takes the connection back (see leases).
            conn, self._conn = self._conn, None
            await leases.give_back(self._database.pool, conn)

    @property
    def session(self) -> TransactionSession:
        """The open transaction, for adapters that add repositories of their own (bulk import)."""
        if self._session is None:
            raise RuntimeError("the unit of work is not open (use `async with`)")
        return self._session

    async def commit(self) -> None:
        """Write what the journal holds (outbox, history, decisions) and commit, in one round trip.

        The journal's statement and ``COMMIT`` go out pipelined: the outbox's commit-order lock is
        held for one round trip only. An error in either raises here; the transaction is then rolled
        back on leaving the unit of work.
        """
        assert self._session is not None
        conn = self._session.conn
        with translated():
            if self._journal:
                statement, params = self._journal.statement(), self._journal.params()
                self._journal.clear()
                async with conn.pipeline():
                    await conn.execute(statement, params)
                    await conn.execute("COMMIT")
            else:
                await conn.execute("COMMIT")
        self._open = False

    async def rollback(self) -> None:
        self._journal.clear()
        if self._open and self._session is not None:
            self._open = False
            with translated():
                await self._session.conn.execute("ROLLBACK")

    async def now(self) -> datetime:
        """The transaction's ``now()``, read once (often already by ``lock_order``)."""
        assert self._session is not None
        if self._session.now is None:
            self._session.now = await transaction_now(self._session)
        return self._session.now


class PostgresUnitOfWorkFactory:
    def __init__(self, database: PostgresDatabase) -> None:
        self._database = database

    def __call__(self) -> PostgresUnitOfWork:
        return PostgresUnitOfWork(self._database)


def read_repositories(
    database: PostgresDatabase,
) -> tuple[PostgresCourierRepository, PostgresDeliveryRepository, PostgresWaitingOrderRepository]:
    """Repositories for reads outside any transaction (one statement, one round trip)."""
    session = PoolSession(database.pool)
    return (
        PostgresCourierRepository(session),
        PostgresDeliveryRepository(session),
        PostgresWaitingOrderRepository(session),
    )


def journal_readers(
    database: PostgresDatabase,
) -> tuple[PostgresOutboxRepository, PostgresHistoryRepository, PostgresDecisionRepository]:
    """Outbox (relay, stream), history and decisions outside any transaction."""
    session = PoolSession(database.pool)
    return (
        PostgresOutboxRepository(session),
        PostgresHistoryRepository(session),
        PostgresDecisionRepository(session),
    )
