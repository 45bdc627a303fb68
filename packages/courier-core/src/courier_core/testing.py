"""In-memory implementations of every port, for tests of code that uses courier-core.

They keep state and honour the same contracts as the PostgreSQL adapter (the same contract test suite
runs against both), so a test can assert outcomes (``uow.committed``, what a repository holds) rather
than calls::

    store = InMemoryStore()
    couriers, deliveries = build_services(store)
    await couriers.create(CreateCourier(name="Ivan", phone="+79990001122", status="available"))

Transactions are serialised (one at a time) and roll back by restoring a snapshot.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Protocol, Self

from courier_core.errors import CourierExists, CourierNotAvailable, DeliveryExists, OrderNotFound
from courier_core.metrics import NullMetrics
from courier_core.model import (
    AT_RISK_SHARE,
    Courier,
    CourierStatus,
    DeadlinePolicy,
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
from courier_core.ports import Metrics
from courier_core.usecases import CourierService, DeliveryService, WaitingQueue


class FakeClock:
    """A settable clock standing in for the database's."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 1, 1, tzinfo=UTC)

    async def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


@dataclass
class _State:
    couriers: dict[int, Courier] = field(default_factory=dict)
    deleted: set[int] = field(default_factory=set)
    deliveries: dict[str, Delivery] = field(default_factory=dict)
    orders: dict[str, KnownOrder] = field(default_factory=dict)
    waiting: dict[str, WaitingOrder] = field(default_factory=dict)
    processed: dict[bytes, datetime] = field(default_factory=dict)
    cursors: dict[str, datetime] = field(default_factory=dict)
    outbox: dict[int, OutboxEvent] = field(default_factory=dict)
    sent: dict[int, datetime] = field(default_factory=dict)
    history: list[HistoryEntry] = field(default_factory=list)
    decisions: dict[str, Decision] = field(default_factory=dict)
    next_id: int = 1
    next_position: int = 1

    def snapshot(self) -> _State:
        """A copy that shares the (never mutated in place) stored objects: O(n) pointer copies."""
        return _State(
            couriers=dict(self.couriers),
            deleted=set(self.deleted),
            deliveries=dict(self.deliveries),
            orders=dict(self.orders),
            waiting=dict(self.waiting),
            processed=dict(self.processed),
            cursors=dict(self.cursors),
            outbox=dict(self.outbox),
            sent=dict(self.sent),
            history=list(self.history),
            decisions=dict(self.decisions),
            next_id=self.next_id,
            next_position=self.next_position,
        )


class InMemoryStore:
    """Everything the fakes hold, shared by the repositories and units of work built on it.

    ``state`` is the committed state: reads outside a unit of work see only committed data, as on
    PostgreSQL; a unit of work works on a copy and publishes it when it commits.
    """

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.clock = clock or FakeClock()
        self.state = _State()
        self.lock = asyncio.Lock()


class _Holder(Protocol):
    """Whoever holds the state a repository works on: the store, or a unit of work."""

    @property
    def state(self) -> _State: ...


class _Repository:
    def __init__(self, store: InMemoryStore, holder: _Holder | None = None) -> None:
        self._store = store
        self._holder: _Holder = holder if holder is not None else store

    @property
    def _s(self) -> _State:
        return self._holder.state


class InMemoryCourierRepository(_Repository):
    def _phone_taken(self, phone: str, but: int | None = None) -> bool:
        return any(
            c.phone == phone and c.id != but and c.id not in self._s.deleted
            for c in self._s.couriers.values()
        )

    async def add(self, new: NewCourier) -> Courier:
        if self._phone_taken(new.phone):
            raise CourierExists()
        now = self._store.clock.current
        courier = Courier(
            id=self._s.next_id,
            name=new.name,
            phone=new.phone,
            status=new.status,
            transport_type=new.transport_type,
            created_at=now,
            updated_at=now,
        )
        self._s.next_id += 1
        self._s.couriers[courier.id] = courier
        return replace(courier)

    async def get(self, courier_id: int, *, for_update: bool = False) -> Courier | None:
        courier = self._s.couriers.get(courier_id)
        if courier is None or courier_id in self._s.deleted:
            return None
        return replace(courier)

    async def save(self, courier: Courier) -> Courier:
        if self._phone_taken(courier.phone, but=courier.id):
            raise CourierExists()
        stored = replace(courier, updated_at=self._store.clock.current, version=courier.version + 1)
        self._s.couriers[courier.id] = stored
        return replace(stored)

    async def store(self, courier: Courier) -> None:
        await self.save(courier)

    async def delete(self, courier_id: int) -> None:
        self._s.deleted.add(courier_id)

    async def pick_available(self, *, exclude: Sequence[int] = (), wait: bool = False) -> Picked | None:
        candidates = [
            c
            for c in self._s.couriers.values()
            if c.status is CourierStatus.AVAILABLE and c.id not in self._s.deleted and c.id not in exclude
        ]
        if not candidates:
            return None
        best = min(candidates, key=lambda c: (c.total_deliveries, c.id))
        tied = sum(1 for c in candidates if c.total_deliveries == best.total_deliveries)
        return Picked(courier=replace(best), candidates=len(candidates), tied=tied)

    async def list(
        self,
        *,
        status: CourierStatus | None = None,
        transport_type: TransportType | None = None,
        after: int = 0,
        limit: int = 100,
    ) -> list[Courier]:
        found = [
            replace(c)
            for c in sorted(self._s.couriers.values(), key=lambda c: c.id)
            if c.id > after
            and c.id not in self._s.deleted
            and (status is None or c.status is status)
            and (transport_type is None or c.transport_type is transport_type)
        ]
        return found[:limit]


class InMemoryDeliveryRepository(_Repository):
    async def lock_order(self, order_id: str, *, for_update: bool = False) -> LockedOrder:
        """Transactions are serialised already: nothing more to lock."""
        delivery = self._s.deliveries.get(order_id)
        return LockedOrder(self._s.orders.get(order_id), None if delivery is None else replace(delivery))

    async def get(self, order_id: str, *, for_update: bool = False) -> Delivery | None:
        delivery = self._s.deliveries.get(order_id)
        return None if delivery is None else replace(delivery)

    async def add(self, delivery: Delivery) -> None:
        if delivery.order_id in self._s.deliveries:
            raise DeliveryExists()
        if delivery.is_active and any(
            d.is_active and d.courier_id == delivery.courier_id for d in self._s.deliveries.values()
        ):
            raise CourierNotAvailable()  # PostgreSQL: deliveries_one_active_per_courier
        self._s.deliveries[delivery.order_id] = replace(delivery)

    async def remove(self, order_id: str) -> None:
        self._s.deliveries.pop(order_id, None)

    async def active_of(self, courier_id: int) -> Delivery | None:
        for delivery in self._s.deliveries.values():
            if delivery.is_active and delivery.courier_id == courier_id:
                return replace(delivery)
        return None

    async def reassign(self, order_id: str, courier_id: int) -> None:
        delivery = self._s.deliveries[order_id]
        if any(d.is_active and d.courier_id == courier_id for d in self._s.deliveries.values()):
            raise CourierNotAvailable()  # PostgreSQL: deliveries_one_active_per_courier
        self._s.deliveries[order_id] = replace(delivery, courier_id=courier_id)

    async def finish(self, order_id: str, status: DeliveryStatus) -> Delivery | None:
        delivery = self._s.deliveries.get(order_id)
        if delivery is None or not delivery.is_active:
            return None
        finished = replace(delivery, status=status, finished_at=self._store.clock.current)
        self._s.deliveries[order_id] = finished
        return replace(finished)

    async def expire_due(self, *, limit: int) -> list[Delivery]:
        now = self._store.clock.current
        due = [d for d in self._s.deliveries.values() if d.is_active and d.deadline < now]
        due.sort(key=lambda d: d.deadline)
        changed = []
        for delivery in due[:limit]:
            expired = replace(delivery, status=DeliveryStatus.EXPIRED, finished_at=now)
            self._s.deliveries[delivery.order_id] = expired
            changed.append(replace(expired))
        return changed

    async def list(
        self,
        *,
        status: DeliveryStatus | None = None,
        courier_id: int | None = None,
        at_risk: bool = False,
        after: DeliveryCursor | None = None,
        limit: int = 100,
    ) -> list[Delivery]:
        ordered = sorted(self._s.deliveries.values(), key=lambda d: (d.assigned_at, d.order_id), reverse=True)
        now = self._store.clock.current
        found = [
            replace(d)
            for d in ordered
            if (status is None or d.status is status)
            and (courier_id is None or d.courier_id == courier_id)
            and (
                not at_risk
                or (d.is_active and now >= d.assigned_at + (d.deadline - d.assigned_at) * AT_RISK_SHARE)
            )
            and (after is None or (d.assigned_at, d.order_id) < (after.assigned_at, after.order_id))
        ]
        return found[:limit]


class InMemoryOrderRepository(_Repository):
    async def get(self, order_id: str) -> KnownOrder | None:
        return self._s.orders.get(order_id)

    async def record(self, order: KnownOrder) -> bool:
        known = self._s.orders.get(order.order_id)
        if known is not None and not order.replaces(known):
            return False
        self._s.orders[order.order_id] = order
        return True

    async def note(self, order: KnownOrder) -> None:
        await self.record(order)


class InMemoryWaitingOrderRepository(_Repository):
    async def lock_queue(self, *, exclusive: bool) -> None:
        """Transactions are serialised already: nothing more to lock."""

    async def add(self, order_id: str) -> WaitingOrder:
        queue = self._s.waiting
        if order_id not in queue:
            queue[order_id] = WaitingOrder(order_id=order_id, since=self._store.clock.current)
        return queue[order_id]

    async def remove(self, order_id: str) -> bool:
        return self._s.waiting.pop(order_id, None) is not None

    async def discard(self, order_id: str) -> None:
        await self.remove(order_id)

    async def contains(self, order_id: str) -> bool:
        return order_id in self._s.waiting

    async def pop_oldest(self) -> WaitingOrder | None:
        queue = self._s.waiting
        if not queue:
            return None
        oldest = min(queue.values(), key=lambda w: (w.since, w.order_id))
        del queue[oldest.order_id]
        return oldest

    async def list(self, *, limit: int = 100) -> list[WaitingOrder]:
        return sorted(self._s.waiting.values(), key=lambda w: (w.since, w.order_id))[:limit]


class InMemoryProcessedEventRepository(_Repository):
    async def add(self, key: bytes) -> bool:
        processed = self._s.processed
        if key in processed:
            return False
        processed[key] = self._store.clock.current
        return True

    async def add_many(self, keys: Sequence[bytes]) -> set[bytes]:
        return {key for key in keys if await self.add(key)}

    async def prune(self, *, older_than: float) -> int:
        limit = self._store.clock.current - timedelta(seconds=older_than)
        processed = self._s.processed
        old = [k for k, at in processed.items() if at < limit]
        for key in old:
            del processed[key]
        return len(old)


class InMemoryCursorRepository(_Repository):
    async def get(self, name: str) -> datetime | None:
        return self._s.cursors.get(name)

    async def advance(self, name: str, position: datetime) -> None:
        cursors = self._s.cursors
        if name not in cursors or cursors[name] < position:
            cursors[name] = position


class InMemoryOutboxRepository(_Repository):
    """Units of work here commit one at a time, so an event's id is its commit order and its
    position at once: each row is stamped as it commits, and :meth:`stamp` finds none left."""

    async def add(self, event: OutboxEvent) -> None:
        self._s.outbox[self._s.next_position] = event
        self._s.next_position += 1

    async def stamp(self, *, limit: int) -> int:
        return 0

    async def pending(self, *, limit: int) -> list[StoredEvent]:
        positions = sorted(p for p in self._s.outbox if p not in self._s.sent)[:limit]
        return [StoredEvent(p, self._s.outbox[p]) for p in positions]

    async def mark_sent(self, positions: Sequence[int]) -> None:
        for position in positions:
            if position in self._s.outbox:
                self._s.sent.setdefault(position, self._store.clock.current)

    async def after(self, position: int, *, limit: int) -> list[StoredEvent]:
        positions = sorted(p for p in self._s.outbox if p > position)[:limit]
        return [StoredEvent(p, self._s.outbox[p]) for p in positions]

    async def last_position(self) -> int:
        return max(self._s.outbox, default=0)

    async def prune(self, *, older_than: float) -> int:
        limit = self._store.clock.current - timedelta(seconds=older_than)
        old = [p for p, at in self._s.sent.items() if at < limit]
        for position in old:
            del self._s.outbox[position]
            del self._s.sent[position]
        return len(old)


class InMemoryHistoryRepository(_Repository):
    async def add(self, entry: HistoryEntry) -> None:
        self._s.history.append(entry)

    async def list(self, subject: Subject, subject_id: str, *, limit: int = 100) -> list[HistoryEntry]:
        found = [e for e in self._s.history if e.subject is subject and e.subject_id == subject_id]
        return found[:limit]


class InMemoryDecisionRepository(_Repository):
    async def save(self, decision: Decision) -> None:
        self._s.decisions[decision.order_id] = decision

    async def get(self, order_id: str) -> Decision | None:
        return self._s.decisions.get(order_id)


class RecordingPublisher:
    """An ``EventPublisher`` that keeps what it was given; ``fail`` makes the next publish raise."""

    def __init__(self) -> None:
        self.published: list[StoredEvent] = []
        self.fail: Exception | None = None

    async def publish(self, events: Sequence[StoredEvent]) -> None:
        if self.fail is not None:
            raise self.fail
        self.published.extend(events)


class InMemoryUnitOfWork:
    """A transaction over the store: serialised with other units; its writes are published to the
    store only by ``commit()`` (until then, reads outside it do not see them)."""

    def __init__(self, store: InMemoryStore) -> None:
        self._store = store
        self.state = store.state
        self.couriers = InMemoryCourierRepository(store, self)
        self.deliveries = InMemoryDeliveryRepository(store, self)
        self.orders = InMemoryOrderRepository(store, self)
        self.waiting = InMemoryWaitingOrderRepository(store, self)
        self.processed = InMemoryProcessedEventRepository(store, self)
        self.cursors = InMemoryCursorRepository(store, self)
        self.outbox = InMemoryOutboxRepository(store, self)
        self.history = InMemoryHistoryRepository(store, self)
        self.decisions = InMemoryDecisionRepository(store, self)
        self.committed = False

    async def __aenter__(self) -> Self:
        await self._store.lock.acquire()
        self.state = self._store.state.snapshot()
        self.committed = False
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.state = self._store.state
        self._store.lock.release()

    async def commit(self) -> None:
        self._store.state = self.state
        self.state = self.state.snapshot()
        self.committed = True

    async def rollback(self) -> None:
        self.state = self._store.state.snapshot()

    async def now(self) -> datetime:
        return await self._store.clock.now()


class InMemoryUnitOfWorkFactory:
    def __init__(self, store: InMemoryStore) -> None:
        self.store = store
        self.started: list[InMemoryUnitOfWork] = []

    def __call__(self) -> InMemoryUnitOfWork:
        uow = InMemoryUnitOfWork(self.store)
        self.started.append(uow)
        return uow


class FakeOrderGateway:
    """An order service held in memory: ``orders`` maps id to what ``get_order`` answers."""

    def __init__(self, orders: Sequence[OrderInfo] = ()) -> None:
        self.orders = {o.order_id: o for o in orders}
        self.calls: list[str] = []

    async def get_order(self, order_id: str) -> OrderInfo:
        self.calls.append(order_id)
        try:
            return self.orders[order_id]
        except KeyError:
            raise OrderNotFound() from None

    async def list_orders(self, *, since: datetime | None) -> list[OrderInfo]:
        return [o for o in self.orders.values() if since is None or o.created_at >= since]


class RecordingMetrics(NullMetrics):
    """Metrics that remember what was counted, for assertions."""

    def __init__(self) -> None:
        self.assignments: dict[str, int] = {}
        self.expired = 0
        self.retries: dict[str, int] = {}
        self.skipped = 0

    def assignment(self, result: str) -> None:
        self.assignments[result] = self.assignments.get(result, 0) + 1

    def deliveries_expired(self, count: int) -> None:
        self.expired += count

    def gateway_retry(self, method: str) -> None:
        self.retries[method] = self.retries.get(method, 0) + 1

    def order_verification_skipped(self) -> None:
        self.skipped += 1


@dataclass
class Services:
    """Use cases wired to the in-memory store."""

    store: InMemoryStore
    uow: InMemoryUnitOfWorkFactory
    couriers: CourierService
    deliveries: DeliveryService
    waiting: WaitingQueue
    metrics: Metrics


def build_services(
    store: InMemoryStore | None = None,
    *,
    policy: DeadlinePolicy | None = None,
    metrics: Metrics | None = None,
) -> Services:
    """Wire courier's use cases to in-memory ports."""
    store = store or InMemoryStore()
    policy = policy or DeadlinePolicy()
    metrics = metrics or RecordingMetrics()
    uow = InMemoryUnitOfWorkFactory(store)
    waiting = WaitingQueue(policy=policy, metrics=metrics)
    return Services(
        store=store,
        uow=uow,
        couriers=CourierService(
            uow=uow,
            couriers=InMemoryCourierRepository(store),
            waiting=waiting,
            history=InMemoryHistoryRepository(store),
        ),
        deliveries=DeliveryService(
            uow=uow,
            deliveries=InMemoryDeliveryRepository(store),
            queue=InMemoryWaitingOrderRepository(store),
            waiting=waiting,
            policy=policy,
            metrics=metrics,
            decisions=InMemoryDecisionRepository(store),
            history=InMemoryHistoryRepository(store),
        ),
        waiting=waiting,
        metrics=metrics,
    )
