"""courier's repository ports on PostgreSQL.

Each repository runs on a :class:`~courier_adapters.postgres.database.Session`: a pooled autocommit
session for reads outside a transaction, or the transaction of a unit of work.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from courier_adapters.postgres import compiled as sql
from courier_adapters.postgres.database import Row, Session
from courier_adapters.postgres.statement import Statement
from courier_core.model import (
    Courier,
    CourierStatus,
    Delivery,
    DeliveryCursor,
    DeliveryStatus,
    KnownOrder,
    LockedOrder,
    NewCourier,
    Picked,
    TransportType,
    WaitingOrder,
)

POP_CANDIDATES = 16  # waiting orders looked at per pop (those whose order is locked are passed over)
# Enum members by value: a dict lookup per row instead of an Enum call.
_COURIER_STATUS = {s.value: s for s in CourierStatus}
_TRANSPORT = {t.value: t for t in TransportType}
_DELIVERY_STATUS = {s.value: s for s in DeliveryStatus}


def _courier_fields(stmt: Statement, courier: Courier) -> Mapping[str, Any]:
    return stmt.params(
        id=courier.id,
        name=courier.name,
        phone=courier.phone,
        status=courier.status.value,
        transport_type=courier.transport_type.value,
        total_deliveries=courier.total_deliveries,
    )


def courier_from_row(row: Row) -> Courier:
    """A courier from a row of ``statements.COURIER_COLUMNS``."""
    return Courier(
        id=row[0],
        name=row[1],
        phone=row[2],
        status=_COURIER_STATUS[row[3]],
        transport_type=_TRANSPORT[row[4]],
        created_at=row[5],
        updated_at=row[6],
        total_deliveries=row[7],
        version=row[8],
    )


def _delivery(row: Row) -> Delivery:
    return Delivery(
        order_id=row[0],
        courier_id=row[1],
        status=_DELIVERY_STATUS[row[2]],
        assigned_at=row[3],
        deadline=row[4],
        finished_at=row[5],
    )


class PostgresCourierRepository:
    """Couriers in table ``couriers`` (soft-deleted rows are invisible)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    async def add(self, new: NewCourier) -> Courier:
        stmt = sql.courier_insert()
        row = await self._session.fetch_one(
            stmt.sql,
            stmt.params(
                name=new.name,
                phone=new.phone,
                status=new.status.value,
                transport_type=new.transport_type.value,
            ),
        )
        assert row is not None
        return courier_from_row(row)

    async def get(self, courier_id: int, *, for_update: bool = False) -> Courier | None:
        stmt = sql.courier_get(for_update)
        row = await self._session.fetch_one(stmt.sql, stmt.params(id=courier_id))
        return None if row is None else courier_from_row(row)

    async def save(self, courier: Courier) -> Courier:
        stmt = sql.courier_update()
        row = await self._session.fetch_one(stmt.sql, _courier_fields(stmt, courier))
        if row is None:
            raise LookupError(f"courier {courier.id} vanished while being saved")
        return courier_from_row(row)

    async def store(self, courier: Courier) -> None:
        """``save`` without reading it back: sent with the transaction's next statement. (The caller
        holds the courier's row lock, so the row is there.)"""
        stmt = sql.courier_update()
        self._session.defer(stmt.sql, _courier_fields(stmt, courier))

    async def delete(self, courier_id: int) -> None:
        stmt = sql.courier_delete()
        await self._session.execute(stmt.sql, stmt.params(id=courier_id))

    async def pick_available(self, *, exclude: Sequence[int] = (), wait: bool = False) -> Picked | None:
        stmt = sql.courier_pick(bool(exclude), skip_locked=not wait)
        params = stmt.params(exclude=list(exclude)) if exclude else stmt.defaults
        row = await self._session.fetch_one(stmt.sql, params)
        if row is None:
            return None
        return Picked(courier=courier_from_row(row), candidates=row[9], tied=row[10])

    async def list(
        self,
        *,
        status: CourierStatus | None = None,
        transport_type: TransportType | None = None,
        after: int = 0,
        limit: int = 100,
    ) -> list[Courier]:
        stmt = sql.courier_list(status is not None, transport_type is not None)
        rows = await self._session.fetch_all(
            stmt.sql,
            stmt.params(
                after=after,
                limit=limit,
                status=None if status is None else status.value,
                transport_type=None if transport_type is None else transport_type.value,
            ),
        )
        return [courier_from_row(r) for r in rows]


class PostgresDeliveryRepository:
    """Deliveries in table ``deliveries``; one per order (``deliveries_order_id_key``)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    async def lock_order(self, order_id: str, *, for_update: bool = False) -> LockedOrder:
        """The lock, then the order's known status and its delivery: three statements, one trip."""
        lock, known, delivery = sql.order_lock(), sql.order_get(), sql.delivery_get(for_update)
        params = {"order_id": order_id}
        locked, order, found = await self._session.fetch_each(
            [(s.sql, s.params(**params)) for s in (lock, known, delivery)]
        )
        assert locked is not None
        self._session.remember_now(locked[1])
        return LockedOrder(
            known=None
            if order is None
            else KnownOrder(order_id=order[0], status=order[1], status_at=order[2]),
            delivery=None if found is None else _delivery(found),
        )

    async def get(self, order_id: str, *, for_update: bool = False) -> Delivery | None:
        stmt = sql.delivery_get(for_update)
        row = await self._session.fetch_one(stmt.sql, stmt.params(order_id=order_id))
        return None if row is None else _delivery(row)

    async def add(self, delivery: Delivery) -> None:
        stmt = sql.delivery_insert()
        self._session.defer(
            stmt.sql,
            stmt.params(
                order_id=delivery.order_id,
                courier_id=delivery.courier_id,
                status=delivery.status.value,
                assigned_at=delivery.assigned_at,
                deadline=delivery.deadline,
                finished_at=delivery.finished_at,
            ),
        )

    async def remove(self, order_id: str) -> None:
        stmt = sql.delivery_delete()
        self._session.defer(stmt.sql, stmt.params(order_id=order_id))

    async def active_of(self, courier_id: int) -> Delivery | None:
        stmt = sql.delivery_active_of()
        row = await self._session.fetch_one(stmt.sql, stmt.params(courier_id=courier_id))
        return None if row is None else _delivery(row)

    async def reassign(self, order_id: str, courier_id: int) -> None:
        stmt = sql.delivery_reassign()
        self._session.defer(stmt.sql, stmt.params(order_id=order_id, courier_id=courier_id))

    async def finish(self, order_id: str, status: DeliveryStatus) -> Delivery | None:
        stmt = sql.delivery_finish()
        row = await self._session.fetch_one(stmt.sql, stmt.params(order_id=order_id, status=status.value))
        if row is None:
            return None
        finished = _delivery(row)
        if finished.finished_at is not None:  # finished_at = now(): no trip to ask for it
            self._session.remember_now(finished.finished_at)
        return finished

    async def expire_due(self, *, limit: int) -> list[Delivery]:
        stmt = sql.delivery_expire_due()
        rows = await self._session.fetch_all(stmt.sql, stmt.params(limit=limit))
        expired = [_delivery(r) for r in rows]
        if expired and expired[0].finished_at is not None:
            self._session.remember_now(expired[0].finished_at)  # finished_at = now()
        return expired

    async def list(
        self,
        *,
        status: DeliveryStatus | None = None,
        courier_id: int | None = None,
        at_risk: bool = False,
        after: DeliveryCursor | None = None,
        limit: int = 100,
    ) -> list[Delivery]:
        stmt = sql.delivery_list(status is not None, courier_id is not None, after is not None, at_risk)
        rows = await self._session.fetch_all(
            stmt.sql,
            stmt.params(
                status=None if status is None else status.value,
                courier_id=courier_id,
                after_assigned_at=None if after is None else after.assigned_at,
                after_order_id=None if after is None else after.order_id,
                limit=limit,
            ),
        )
        return [_delivery(r) for r in rows]


class PostgresOrderRepository:
    """The orders courier knows, in table ``orders``."""

    def __init__(self, session: Session) -> None:
        self._session = session

    async def get(self, order_id: str) -> KnownOrder | None:
        stmt = sql.order_get()
        row = await self._session.fetch_one(stmt.sql, stmt.params(order_id=order_id))
        return None if row is None else KnownOrder(order_id=row[0], status=row[1], status_at=row[2])

    async def record(self, order: KnownOrder) -> bool:
        stmt = sql.order_record()
        row = await self._session.fetch_one(
            stmt.sql,
            stmt.params(order_id=order.order_id, status=order.status, status_at=order.status_at),
        )
        return row is not None

    async def note(self, order: KnownOrder) -> None:
        """Sent with the next statement (in a transaction): no round trip of its own."""
        stmt = sql.order_record()
        self._session.defer(
            stmt.sql, stmt.params(order_id=order.order_id, status=order.status, status_at=order.status_at)
        )


class PostgresWaitingOrderRepository:
    """The waiting queue, in table ``waiting_orders``."""

    def __init__(self, session: Session) -> None:
        self._session = session

    async def add(self, order_id: str) -> WaitingOrder:
        stmt = sql.waiting_add()
        row = await self._session.fetch_one(stmt.sql, stmt.params(order_id=order_id))
        assert row is not None
        return WaitingOrder(order_id=row[0], since=row[1])

    async def remove(self, order_id: str) -> bool:
        stmt = sql.waiting_remove()
        return await self._session.fetch_one(stmt.sql, stmt.params(order_id=order_id)) is not None

    async def discard(self, order_id: str) -> None:
        stmt = sql.waiting_remove()
        self._session.defer(stmt.sql, stmt.params(order_id=order_id))

    async def contains(self, order_id: str) -> bool:
        stmt = sql.waiting_contains()
        return await self._session.fetch_one(stmt.sql, stmt.params(order_id=order_id)) is not None

    async def lock_queue(self, *, exclusive: bool) -> None:
        """Sent with the next statement (in a transaction): no round trip of its own."""
        stmt = sql.queue_lock(exclusive)
        self._session.defer(stmt.sql, stmt.defaults)

    async def pop_oldest(self) -> WaitingOrder | None:
        candidates = sql.waiting_candidates()
        rows = await self._session.fetch_all(candidates.sql, candidates.params(limit=POP_CANDIDATES))
        take = sql.waiting_take()
        for (order_id,) in rows:
            row = await self._session.fetch_one(take.sql, take.params(order_id=order_id))
            if row is not None:
                return WaitingOrder(order_id=row[0], since=row[1])
        return None

    async def list(self, *, limit: int = 100) -> list[WaitingOrder]:
        stmt = sql.waiting_list()
        rows = await self._session.fetch_all(stmt.sql, stmt.params(limit=limit))
        return [WaitingOrder(order_id=r[0], since=r[1]) for r in rows]


class PostgresProcessedEventRepository:
    """Keys of applied events, in table ``processed_events``."""

    def __init__(self, session: Session) -> None:
        self._session = session

    async def add(self, key: bytes) -> bool:
        stmt = sql.processed_add()
        return await self._session.fetch_one(stmt.sql, stmt.params(key=key)) is not None

    async def add_many(self, keys: Sequence[bytes]) -> set[bytes]:
        if not keys:
            return set()
        stmt = sql.processed_add_many()
        rows = await self._session.fetch_all(stmt.sql, stmt.params(keys=list(keys)))
        return {bytes(row[0]) for row in rows}

    async def prune(self, *, older_than: float) -> int:
        stmt = sql.processed_prune()
        return await self._session.execute(stmt.sql, stmt.params(seconds=older_than))


class PostgresCursorRepository:
    """Named job cursors, in table ``cursors``."""

    def __init__(self, session: Session) -> None:
        self._session = session

    async def get(self, name: str) -> datetime | None:
        stmt = sql.cursor_get()
        row = await self._session.fetch_one(stmt.sql, stmt.params(name=name))
        position: datetime | None = None if row is None else row[0]
        return position

    async def advance(self, name: str, position: datetime) -> None:
        stmt = sql.cursor_advance()
        await self._session.execute(stmt.sql, stmt.params(name=name, position=position))


async def transaction_now(session: Session) -> datetime:
    stmt = sql.transaction_now()
    row = await session.fetch_one(stmt.sql, stmt.defaults)
    assert row is not None
    now: datetime = row[0]
    return now
