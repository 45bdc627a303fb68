"""Ports: what courier's use cases need from the outside world, as ``typing.Protocol`` s.

Adapters implement them (``courier_adapters``: ``PostgresCourierRepository``, ``GrpcOrderGateway``,
``PrometheusMetrics``...); :mod:`courier_core.testing` implements them in memory. Everything that does
I/O is ``async``: every app (HTTP, consumer, CLI) calls the same async use cases.

Repositories work in two modes: inside a :class:`UnitOfWork` (one transaction, ``for_update`` locks
honoured) and outside one, for reads (one statement, no transaction).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from courier_core.model import (
    Courier,
    CourierStatus,
    Delivery,
    DeliveryCursor,
    DeliveryStatus,
    KnownOrder,
    NewCourier,
    OrderInfo,
    TransportType,
    WaitingOrder,
)


class Clock(Protocol):
    """The clock that stamps delivery times: the database's (one clock for every process)."""

    async def now(self) -> datetime: ...


class CourierRepository(Protocol):
    """Couriers. Deleted couriers are invisible to every method."""

    async def add(self, new: NewCourier) -> Courier:
        """Store a new courier; raises ``CourierExists`` when the phone is taken."""
        ...

    async def get(self, courier_id: int, *, for_update: bool = False) -> Courier | None: ...

    async def save(self, courier: Courier) -> Courier:
        """Write every mutable field back; returns it with ``updated_at``/``version`` advanced.

        Raises ``CourierExists`` when the new phone is taken.
        """
        ...

    async def delete(self, courier_id: int) -> None:
        """Soft delete: the courier disappears from reads and its phone is free again."""
        ...

    async def pick_available(self, *, exclude: Sequence[int] = (), wait: bool = False) -> Courier | None:
        """Lock and return the available courier with the fewest deliveries (ties: lowest id).

        Couriers locked by a concurrent transaction are skipped; with ``wait=True`` the best candidate
        is waited for instead, and returned if it is still available once its lock is released.
        """
        ...

    async def list(
        self,
        *,
        status: CourierStatus | None = None,
        transport_type: TransportType | None = None,
        after: int = 0,
        limit: int = 100,
    ) -> list[Courier]:
        """Couriers with ``id > after`` ordered by id, at most ``limit``."""
        ...


class DeliveryRepository(Protocol):
    """Deliveries, one per order at most."""

    async def lock_order(self, order_id: str) -> None:
        """Serialise concurrent work on one order until the transaction ends."""
        ...

    async def get(self, order_id: str, *, for_update: bool = False) -> Delivery | None: ...

    async def add(self, delivery: Delivery) -> None:
        """Store a new delivery; raises ``DeliveryExists`` when the order has one."""
        ...

    async def remove(self, order_id: str) -> None:
        """Forget the order's delivery (unassign: it never happened)."""
        ...

    async def finish(self, order_id: str, status: DeliveryStatus) -> Delivery | None:
        """Move the delivery from ``active`` to ``status``, stamped with the database's clock.

        Returns the changed delivery, or ``None`` when no active delivery was changed (a conditional
        update: of two racing finishers, only one gets the delivery back).
        """
        ...

    async def expire_due(self, *, limit: int) -> list[Delivery]:
        """Expire up to ``limit`` active deliveries past their deadline; return those changed."""
        ...

    async def list(
        self,
        *,
        status: DeliveryStatus | None = None,
        courier_id: int | None = None,
        after: DeliveryCursor | None = None,
        limit: int = 100,
    ) -> list[Delivery]:
        """Deliveries newest assignment first (ties by order id, descending)."""
        ...


class OrderRepository(Protocol):
    """The orders courier knows: the last status learned for each, and when."""

    async def get(self, order_id: str) -> KnownOrder | None: ...

    async def record(self, order: KnownOrder) -> bool:
        """Remember ``order`` when it replaces what is known (``KnownOrder.replaces``: newer, and a
        finished order stays finished); return whether it was stored."""
        ...


class WaitingOrderRepository(Protocol):
    """Orders that found no courier free, oldest first."""

    async def lock_queue(self, *, exclusive: bool) -> None:
        """Take the queue's lock until the transaction ends: shared to free couriers into the queue,
        exclusive to queue an order (so no order waits while a courier is being freed unseen)."""
        ...

    async def add(self, order_id: str) -> WaitingOrder:
        """Queue ``order_id`` (stamped with the database's clock); queuing twice keeps the first."""
        ...

    async def remove(self, order_id: str) -> bool: ...

    async def contains(self, order_id: str) -> bool: ...

    async def pop_oldest(self) -> WaitingOrder | None:
        """Take the oldest waiting order out of the queue, its order locked as ``lock_order`` does.

        Orders whose lock another transaction holds are skipped (left waiting), never waited for.
        """
        ...

    async def list(self, *, limit: int = 100) -> list[WaitingOrder]: ...


class ProcessedEventRepository(Protocol):
    """Identities of events already applied (idempotent consumption)."""

    async def add(self, key: bytes) -> bool:
        """Record ``key``; return ``False`` when it was recorded before (a redelivery)."""
        ...

    async def prune(self, *, older_than: float) -> int:
        """Forget keys recorded more than ``older_than`` seconds ago; return how many."""
        ...


class CursorRepository(Protocol):
    """Named positions of periodic jobs (the reconciliation's last ``created_at`` seen)."""

    async def get(self, name: str) -> datetime | None: ...

    async def advance(self, name: str, position: datetime) -> None:
        """Move the cursor forward to ``position`` (never backwards)."""
        ...


class UnitOfWork(Protocol):
    """One transaction over every repository. Leaving the block without ``commit()`` rolls back."""

    @property
    def couriers(self) -> CourierRepository: ...

    @property
    def deliveries(self) -> DeliveryRepository: ...

    @property
    def orders(self) -> OrderRepository: ...

    @property
    def waiting(self) -> WaitingOrderRepository: ...

    @property
    def processed(self) -> ProcessedEventRepository: ...

    @property
    def cursors(self) -> CursorRepository: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...

    async def now(self) -> datetime:
        """The transaction's time on the shared clock (the database's ``now()``)."""
        ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...


class OrderGateway(Protocol):
    """The platform's order service.

    Raises ``OrderNotFound`` for an order it does not know and ``DependencyUnavailable`` when it
    cannot answer within the call's budget.
    """

    async def get_order(self, order_id: str) -> OrderInfo: ...

    async def list_orders(self, *, since: datetime | None) -> list[OrderInfo]: ...


class Metrics(Protocol):
    """What courier counts, by intention. Adapters and decorators report through it."""

    def assignment(self, result: str) -> None:
        """An assignment attempt ended: assigned, no_courier, exists, finished, waiting."""
        ...

    def deliveries_expired(self, count: int) -> None: ...

    def gateway_retry(self, method: str) -> None: ...

    def breaker_state(self, target: str, state: str) -> None: ...

    def order_verification_skipped(self) -> None: ...

    def port_call(self, port: str, method: str, seconds: float) -> None: ...
