"""The unit of work on PostgreSQL: one pooled connection, one transaction, every repository on it."""

from __future__ import annotations

from datetime import datetime
from types import TracebackType
from typing import Self

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
        with translated():
            self._conn = conn = await leases.take(self._database.pool)
        self._open = True
        # BEGIN goes out with the first statement (one round trip for both).
        self._session = session = TransactionSession(conn, begin=True, replace=self._replace)
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

    async def _replace(self) -> AsyncConnection[Row]:
        """The first statement found the pooled connection dead: a fresh one (once)."""
        pool = self._database.pool
        with translated():
            fresh = await leases.take(pool)  # (raising, it leaves the dead one for __aexit__)
        dead, self._conn = self._conn, fresh
        if dead is not None:
            await leases.give_back(pool, dead)  # the pool discards a broken connection
        return fresh

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

        The journal's statement and ``COMMIT`` go out pipelined, while the change still holds its
        key's lock (so one key's outbox ids rise in its commit order). An error in either raises
        here; the transaction is then rolled back on leaving the unit of work.
        """
        assert self._session is not None
        journal = [(self._journal.statement(), self._journal.params())] if self._journal else []
        self._journal.clear()
        with translated():
            await self._session.commit(journal)
        self._open = False

    async def rollback(self) -> None:
        self._journal.clear()
        if self._open and self._session is not None:
            self._open = False
            if not self._session.discard():
                return  # nothing was sent: nothing to roll back
            with translated():
                await self._session.rollback()

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
