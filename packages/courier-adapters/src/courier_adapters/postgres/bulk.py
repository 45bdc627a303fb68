"""Bulk creation of couriers on PostgreSQL (``courier couriers import``).

One ``INSERT ... SELECT FROM unnest(...) ON CONFLICT DO NOTHING`` per batch: four array parameters
instead of one statement (or four parameters) per row, which is what makes a 100,000-row import take
seconds. Phones already taken by a courier not deleted are skipped, not errors.

:class:`BulkUnitOfWork` is a full :class:`~courier_adapters.postgres.uow.PostgresUnitOfWork` (core's
``WaitingQueue`` runs in it unchanged) with one more repository, ``bulk``, on the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Self

from sqlalchemy import String, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY, insert

from courier_adapters.postgres.database import PostgresDatabase, Session
from courier_adapters.postgres.repositories import courier_from_row
from courier_adapters.postgres.schema import couriers
from courier_adapters.postgres.statements import COURIER_COLUMNS, Statement, compile_sql
from courier_adapters.postgres.uow import PostgresUnitOfWork
from courier_core.model import Courier, NewCourier

_FIELDS = ("name", "phone", "status", "transport_type")


@cache
def courier_bulk_insert() -> Statement:
    """Insert every row of four parallel arrays; rows whose phone is taken are skipped."""
    rows = func.unnest(*(bindparam(f"{name}_list", type_=ARRAY(String)) for name in _FIELDS)).table_valued(
        *_FIELDS
    )
    rows = rows.render_derived(name="new_rows")
    source = select(*(rows.c[name] for name in _FIELDS))
    stmt = (
        insert(couriers)
        .from_select(list(_FIELDS), source)
        .on_conflict_do_nothing(
            index_elements=[couriers.c.phone], index_where=couriers.c.deleted_at.is_(None)
        )
        .returning(*COURIER_COLUMNS)
    )
    return compile_sql(stmt)


class PostgresBulkCourierRepository:
    """Creates many couriers in one statement, inside the session's transaction."""

    def __init__(self, session: Session) -> None:
        self._session = session

    async def add_many(self, batch: Sequence[NewCourier]) -> list[Courier]:
        """Create ``batch``; return the couriers created (those whose phone was free)."""
        if not batch:
            return []
        stmt = courier_bulk_insert()
        rows = await self._session.fetch_all(
            stmt.sql,
            stmt.params(
                name_list=[c.name for c in batch],
                phone_list=[c.phone for c in batch],
                status_list=[c.status.value for c in batch],
                transport_type_list=[c.transport_type.value for c in batch],
            ),
        )
        return [courier_from_row(row) for row in rows]


class BulkUnitOfWork(PostgresUnitOfWork):
    """A PostgreSQL unit of work that can also create couriers in bulk (``uow.bulk``)."""

    bulk: PostgresBulkCourierRepository

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.bulk = PostgresBulkCourierRepository(self.session)
        return self


class BulkUnitOfWorkFactory:
    def __init__(self, database: PostgresDatabase) -> None:
        self._database = database

    def __call__(self) -> BulkUnitOfWork:
        return BulkUnitOfWork(self._database)
