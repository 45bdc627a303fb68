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
    Decision,
    Delivery,
    DeliveryCursor,
    DeliveryStatus,
    HistoryEntry,
    KnownOrder,
    LockedOrder,
    NewCourier,
    OrderInfo,
    OutboxEvent,
    Picked,
    StoredEvent,
    Subject,
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

    async def store(self, courier: Courier) -> None:
        """Write every mutable field back when the caller needs nothing read back (``courier`` keeps
        its old ``version``): the write may go out with the transaction's next statement or its
        commit, and raises there (``CourierExists``) at the latest."""
        ...

    async def delete(self, courier_id: int) -> None:
        """Soft delete: the courier disappears from reads and its phone is free again."""
        ...

    async def pick_available(self, *, exclude: Sequence[int] = (), wait: bool = False) -> Picked | None:
        """Lock and return the available courier with the fewest deliveries (ties: lowest id).

        Couriers locked by a concurrent transaction are skipped; with ``wait=True`` the best candidate
        is waited for instead, and returned if it is still available once its lock is released.
        The answer also counts the candidates and those tied with the pick (up to ``CANDIDATES_CAP``).
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

    async def lock_order(self, order_id: str, *, for_update: bool = False) -> LockedOrder:
        """Serialise concurrent work on one order until the transaction ends; then read what is
        known of it (its status, its delivery: locked too with ``for_update``), in the same exchange."""
        ...

    async def get(self, order_id: str, *, for_update: bool = False) -> Delivery | None: ...

    async def add(self, delivery: Delivery) -> None:
        """Store a new delivery; raises ``DeliveryExists`` when the order has one, at the latest when
        the unit of work commits (the write may go out with the next statement)."""
        ...

    async def remove(self, order_id: str) -> None:
        """Forget the order's delivery (unassign: it never happened); may go out with the next
        statement."""
        ...

    async def active_of(self, courier_id: int) -> Delivery | None:
        """The courier's active delivery, if any (not locked: lock its order, then re-read)."""
        ...

    async def reassign(self, order_id: str, courier_id: int) -> None:
        """Give the order's active delivery to another courier (handover); the deadline stays. May go
        out with the next statement, and raise there (``CourierNotAvailable``) at the latest."""
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
        at_risk: bool = False,
        after: DeliveryCursor | None = None,
        limit: int = 100,
    ) -> list[Delivery]:
        """Deliveries newest assignment first (ties by order id, descending).

        ``at_risk``: only active deliveries past ``AT_RISK_SHARE`` of their window (now, the database's).
        """
        ...


class OrderRepository(Protocol):
    """The orders courier knows: the last status learned for each, and when."""

    async def get(self, order_id: str) -> KnownOrder | None: ...

    async def record(self, order: KnownOrder) -> bool:
        """Remember ``order`` when it replaces what is known (``KnownOrder.replaces``: newer, and a
        finished order stays finished); return whether it was stored."""
        ...

    async def note(self, order: KnownOrder) -> None:
        """Remember ``order`` as :meth:`record` does, without saying whether it was stored; an adapter
        may send it with the transaction's next statement (no round trip of its own)."""
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

    async def discard(self, order_id: str) -> None:
        """As :meth:`remove` when the caller does not ask whether it waited (may go out with the
        next statement)."""
        ...

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

    async def add_many(self, keys: Sequence[bytes]) -> set[bytes]:
        """Record ``keys`` at once (a poll's events); return those not recorded before. A key given
        twice is new at most once: the caller treats its second event as the redelivery it is."""
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


class OutboxRepository(Protocol):
    """Events on their way out. ``add`` is transactional (inside a unit of work, written with the
    change, while the change holds its key's lock); the rest is the stamper's, the relay's and the
    stream's, outside any unit of work.

    Readers go by *position*, not by the order rows were written: a committed event gets one from
    :meth:`stamp` (one stamper at a time), after every event committed before it that is visible.
    One key's events get positions in that key's commit order; a reader that saw position *n* never
    later sees a new event below *n*.
    """

    async def add(self, event: OutboxEvent) -> None: ...

    async def stamp(self, *, limit: int) -> int:
        """Give up to ``limit`` committed events without a position the next ones, oldest first;
        how many it stamped. Only one stamper may run at a time."""
        ...

    async def pending(self, *, limit: int) -> list[StoredEvent]:
        """The stamped events not yet sent, by position."""
        ...

    async def mark_sent(self, positions: Sequence[int]) -> None: ...

    async def after(self, position: int, *, limit: int) -> list[StoredEvent]:
        """Stamped events (sent or not) after ``position``, by position (the live stream)."""
        ...

    async def last_position(self) -> int:
        """The newest position stamped (0 when there is none)."""
        ...

    async def prune(self, *, older_than: float) -> int:
        """Forget events sent more than ``older_than`` seconds ago (never a pending one)."""
        ...


class HistoryRepository(Protocol):
    """Every status change of couriers and deliveries, with its actor: kept, never changed."""

    async def add(self, entry: HistoryEntry) -> None: ...

    async def list(self, subject: Subject, subject_id: str, *, limit: int = 100) -> list[HistoryEntry]:
        """Oldest first."""
        ...


class DecisionRepository(Protocol):
    """Why each order went to its courier (the latest assignment's decision)."""

    async def save(self, decision: Decision) -> None: ...

    async def get(self, order_id: str) -> Decision | None: ...


class EventPublisher(Protocol):
    """Where the relay sends events (Kafka's ``courier.events``)."""

    async def publish(self, events: Sequence[StoredEvent]) -> None:
        """Send ``events`` in order, each keyed by its ``key``; return once the broker acknowledged
        every one of them. Raises ``DependencyUnavailable`` when it could not (none is then known sent)."""
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

    @property
    def outbox(self) -> OutboxRepository: ...

    @property
    def history(self) -> HistoryRepository: ...

    @property
    def decisions(self) -> DecisionRepository: ...

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
