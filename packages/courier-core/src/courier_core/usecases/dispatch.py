"""Use cases of dispatch: assign, unassign, complete, release expired, and the waiting queue.

The one rule every path shares lives here once: a courier that becomes available is given to the
oldest waiting order in the same transaction (:class:`WaitingQueue`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from courier_core.errors import (
    CourierNotAvailable,
    CourierNotFound,
    DeliveryExists,
    DeliveryNotFound,
    InvalidInput,
    NoAvailableCouriers,
    OrderFinished,
)
from courier_core.model import (
    CANDIDATES_CAP,
    Assignment,
    Courier,
    CourierStatus,
    DeadlinePolicy,
    Decision,
    Delivery,
    DeliveryCursor,
    DeliveryOutcome,
    DeliveryStatus,
    DryRun,
    Handover,
    HistoryEntry,
    Page,
    Picked,
    Queued,
    Strategy,
    Subject,
    WaitingOrder,
    validate_courier_id,
    validate_delivery_status,
    validate_limit,
    validate_new_order_id,
    validate_order_id,
)
from courier_core.ports import (
    DecisionRepository,
    DeliveryRepository,
    HistoryRepository,
    Metrics,
    UnitOfWork,
    UnitOfWorkFactory,
    WaitingOrderRepository,
)
from courier_core.usecases import journal
from courier_core.usecases.transactions import in_transaction

EXPIRY_BATCH = 500


@dataclass(frozen=True, slots=True)
class AssignOrder:
    """Assign ``order_id``: to ``courier_id`` when given, else to the least-loaded courier.

    With ``wait=True`` an order that finds no courier free joins the waiting queue instead of failing.
    """

    order_id: object
    courier_id: object = None
    exclude_courier_ids: Sequence[object] = field(default_factory=tuple)
    wait: bool = False
    dry_run: bool = False


@dataclass(frozen=True, slots=True)
class HandOver:
    """Move ``courier_id``'s active delivery to ``to_courier_id`` (which must be available)."""

    courier_id: object
    to_courier_id: object


@dataclass(frozen=True, slots=True)
class ListDeliveries:
    status: object = None
    courier_id: object = None
    at_risk: bool = False
    limit: int = 100
    after: DeliveryCursor | None = None


def _arguments(command: AssignOrder) -> tuple[str, int | None, tuple[int, ...]]:
    """The order, the courier asked for (if any) and those excluded, checked."""
    order_id = validate_new_order_id(command.order_id)
    chosen = None if command.courier_id is None else validate_courier_id(command.courier_id, "courier_id")
    exclude = tuple(validate_courier_id(c, "exclude_courier_ids") for c in command.exclude_courier_ids)
    if command.wait and (chosen is not None or exclude):
        # The queue gives an order the next courier freed, whoever it is.
        raise InvalidInput("wait", "wait cannot be combined with courier_id or exclude_courier_ids")
    return order_id, chosen, exclude


async def _ensure_assignable(uow: UnitOfWork, order_id: str) -> None:
    """Lock the order, then refuse it when it finished (``OrderFinished``) or has a delivery
    (``DeliveryExists``)."""
    await uow.deliveries.lock_order(order_id)
    known = await uow.orders.get(order_id)
    if known is not None and known.is_finished:
        raise OrderFinished()
    if await uow.deliveries.get(order_id) is not None:
        raise DeliveryExists()


def _decide(
    order_id: str, picked: Picked, *, chosen: int | None, exclude: tuple[int, ...], now: datetime
) -> Decision:
    """Why ``picked`` gets the order: the strategy, the candidates seen, the tie-break."""
    return Decision(
        order_id=order_id,
        courier_id=picked.courier.id,
        strategy=Strategy.LEAST_LOADED if chosen is None else Strategy.REQUESTED,
        candidates=min(picked.candidates, CANDIDATES_CAP),
        candidates_capped=picked.candidates > CANDIDATES_CAP,
        courier_deliveries=picked.courier.total_deliveries,
        tie_break="lowest_id" if chosen is None else "none",
        tied=min(picked.tied, CANDIDATES_CAP),
        excluded=exclude,
        decided_at=now,
    )


class WaitingQueue:
    """Gives freed couriers to waiting orders, oldest first, inside the caller's transaction."""

    def __init__(self, *, policy: DeadlinePolicy, metrics: Metrics) -> None:
        self._policy = policy
        self._metrics = metrics

    async def give_courier(self, uow: UnitOfWork, courier: Courier) -> Delivery | None:
        """Give the available ``courier`` to the oldest waiting order that still needs one.

        Takes the queue's shared lock first, so an order being queued at this moment (which takes it
        exclusively) is either seen here or sees this courier free: none waits next to a free courier.
        Orders that finished or got a delivery meanwhile leave the queue on the way. The caller saves
        the courier; returns the new delivery, if any.
        """
        if not courier.is_available:
            return None
        await uow.waiting.lock_queue(exclusive=False)
        while True:
            waiting = await uow.waiting.pop_oldest()  # its order is locked for us: no waiting on it
            if waiting is None:
                return None
            known = await uow.orders.get(waiting.order_id)
            if known is not None and known.is_finished:
                continue
            if await uow.deliveries.get(waiting.order_id) is not None:
                continue
            deliveries_before = courier.total_deliveries
            delivery = courier.start_delivery(waiting.order_id, now=await uow.now(), policy=self._policy)
            await uow.deliveries.add(delivery)
            decision = Decision(
                order_id=waiting.order_id,
                courier_id=courier.id,
                strategy=Strategy.WAITING_QUEUE,
                candidates=1,
                candidates_capped=False,
                courier_deliveries=deliveries_before,
                tie_break="oldest_waiting_order",
                tied=1,
                excluded=(),
                decided_at=delivery.assigned_at,
            )
            await journal.delivery_assigned(uow, delivery, decision)
            self._metrics.assignment("assigned")
            return delivery

    async def courier_freed(
        self, uow: UnitOfWork, courier: Courier, *, before: CourierStatus, reason: str, order_id: str
    ) -> Courier:
        """``courier`` was freed (a delivery of ``order_id`` ended or moved away; its status was
        ``before``): it takes the oldest waiting order, if any, is saved, and its status change is
        recorded with ``reason``. Unassign, complete, expire and handover end here. Returns it as saved."""
        await self.give_courier(uow, courier)
        saved = await uow.couriers.save(courier)
        await journal.courier_status_changed(
            uow, saved.id, before, saved.status, reason=reason, order_id=order_id
        )
        return saved

    async def offer(self, uow: UnitOfWork, courier: Courier) -> Courier | None:
        """An available ``courier`` (just created or imported, or found free by a sweep) takes the
        oldest waiting order, if any; then it is saved and its change to busy recorded. Returns it as
        saved, or ``None`` when it took nothing (the queue is empty, or it is not available)."""
        before = courier.status
        given = await self.give_courier(uow, courier)
        if given is None:
            return None
        saved = await uow.couriers.save(courier)
        await journal.courier_status_changed(
            uow, saved.id, before, saved.status, reason="assigned", order_id=given.order_id
        )
        return saved


class DeliveryService:
    """Assignment of orders to couriers and the life of a delivery."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        deliveries: DeliveryRepository,
        queue: WaitingOrderRepository,
        waiting: WaitingQueue,
        policy: DeadlinePolicy,
        metrics: Metrics,
        decisions: DecisionRepository,
        history: HistoryRepository,
    ) -> None:
        self._uow = uow
        self._deliveries = deliveries
        self._queue = queue
        self._decisions = decisions
        self._history = history
        self._waiting = waiting
        self._policy = policy
        self._metrics = metrics

    async def assign(self, command: AssignOrder) -> Assignment | Queued | DryRun:
        """Assign an order in its own transaction (see :meth:`assign_in`); a dry run is :meth:`preview`."""
        if command.dry_run:
            return await self.preview(command)
        return await in_transaction(self._uow, lambda uow: self.assign_in(uow, command))

    async def preview(self, command: AssignOrder) -> DryRun:
        """Who would be assigned the order, and why, without assigning it: the same checks and choice
        as :meth:`assign_in`, in a transaction that is rolled back. Counts nothing in the metrics."""
        order_id, chosen, exclude = _arguments(command)
        if command.wait:
            raise InvalidInput("wait", "wait cannot be combined with dry_run")
        async with self._uow() as uow:  # leaving without commit rolls back
            await _ensure_assignable(uow, order_id)
            picked = await self._choose(uow, chosen=chosen, exclude=exclude)
            if picked is None:
                raise NoAvailableCouriers()
            decision = _decide(order_id, picked, chosen=chosen, exclude=exclude, now=await uow.now())
            courier = picked.courier
            return DryRun(
                order_id=order_id,
                courier_id=courier.id,
                transport_type=courier.transport_type,
                deadline=self._policy.deadline(courier.transport_type, decision.decided_at),
                decision=decision,
            )

    async def assign_in(self, uow: UnitOfWork, command: AssignOrder) -> Assignment | Queued:
        """Assign an order inside ``uow``'s transaction, serialised on the order: choose a courier,
        decide (the recorded why), apply.

        Raises ``OrderFinished``, ``DeliveryExists``, ``NoAvailableCouriers`` (unless ``wait``) or
        ``CourierNotAvailable`` (a chosen courier that is not available); nothing is written then.
        """
        if command.dry_run:
            raise InvalidInput("dry_run", "a dry run has no transaction of its own to join")
        order_id, chosen, exclude = _arguments(command)
        try:
            await _ensure_assignable(uow, order_id)
        except OrderFinished:
            self._metrics.assignment("finished")
            raise
        except DeliveryExists:
            self._metrics.assignment("exists")
            raise
        picked = await self._choose(uow, chosen=chosen, exclude=exclude)
        if picked is None and command.wait:
            # Exclusive against couriers being freed (see WaitingQueue.give_courier): look once more
            # under the lock, then queue; a courier freed after this will see the order.
            await uow.waiting.lock_queue(exclusive=True)
            picked = await uow.couriers.pick_available()
            if picked is None:
                waiting = await uow.waiting.add(order_id)
                await journal.order_waiting(uow, waiting)
                self._metrics.assignment("waiting")
                return Queued(order_id=order_id, since=waiting.since)
        if picked is None:
            self._metrics.assignment("no_courier")
            raise NoAvailableCouriers()
        decision = _decide(order_id, picked, chosen=chosen, exclude=exclude, now=await uow.now())
        return await self._apply(uow, picked.courier, decision)

    async def _apply(self, uow: UnitOfWork, courier: Courier, decision: Decision) -> Assignment:
        before = courier.status
        delivery = courier.start_delivery(decision.order_id, now=decision.decided_at, policy=self._policy)
        await uow.deliveries.add(delivery)
        await uow.couriers.save(courier)
        await uow.waiting.remove(decision.order_id)  # it may have waited: an assigned order waits no more
        await journal.delivery_assigned(uow, delivery, decision)
        await journal.courier_status_changed(
            uow, courier.id, before, courier.status, reason="assigned", order_id=decision.order_id
        )
        self._metrics.assignment("assigned")
        return Assignment(
            courier_id=courier.id,
            order_id=decision.order_id,
            transport_type=courier.transport_type,
            deadline=delivery.deadline,
        )

    async def _choose(self, uow: UnitOfWork, *, chosen: int | None, exclude: Sequence[int]) -> Picked | None:
        if chosen is None:
            picked = await uow.couriers.pick_available(exclude=exclude)
            if picked is None:  # every candidate locked (being edited or freed)? wait for the best
                picked = await uow.couriers.pick_available(exclude=exclude, wait=True)
            return picked
        courier = await uow.couriers.get(chosen, for_update=True)
        if courier is None:
            raise CourierNotFound()
        if not courier.is_available or chosen in exclude:
            raise CourierNotAvailable()
        return Picked(courier=courier, candidates=1, tied=1)

    async def hand_over(self, command: HandOver) -> Handover:
        """Move a courier's active delivery to another available courier, all or nothing.

        The deadline is kept; the source courier becomes available (and is given the oldest waiting
        order, if any) with one delivery less, the target becomes busy with one more. Raises
        ``InvalidInput`` (same courier), ``CourierNotFound``, ``DeliveryNotFound`` (no active delivery)
        or ``CourierNotAvailable`` (the target is not available).
        """
        source_id = validate_courier_id(command.courier_id)
        target_id = validate_courier_id(command.to_courier_id, "to_courier_id")
        if source_id == target_id:
            raise InvalidInput("to_courier_id", "a delivery cannot be handed over to the same courier")
        return await in_transaction(self._uow, lambda uow: self._hand_over(uow, source_id, target_id))

    async def _hand_over(self, uow: UnitOfWork, source_id: int, target_id: int) -> Handover:
        current = await uow.deliveries.active_of(source_id)
        if current is None:
            if await uow.couriers.get(source_id) is None:
                raise CourierNotFound()
            raise DeliveryNotFound()
        await uow.deliveries.lock_order(current.order_id)  # as assign/unassign/complete: order first
        delivery = await uow.deliveries.get(current.order_id, for_update=True)
        if delivery is None or not delivery.is_active or delivery.courier_id != source_id:
            raise DeliveryNotFound()  # it ended or moved while we looked
        couriers: dict[int, Courier] = {}
        for courier_id in sorted((source_id, target_id)):  # one lock order for every handover
            courier = await uow.couriers.get(courier_id, for_update=True)
            if courier is None:
                raise CourierNotFound(f"courier {courier_id} not found")
            couriers[courier_id] = courier
        source, target = couriers[source_id], couriers[target_id]
        if not target.is_available:
            raise CourierNotAvailable()
        source_before, target_before = source.status, target.status
        target.start_delivery(delivery.order_id, now=delivery.assigned_at, policy=self._policy)
        await uow.deliveries.reassign(delivery.order_id, target_id)
        moved = Delivery(
            order_id=delivery.order_id,
            courier_id=target_id,
            status=delivery.status,
            assigned_at=delivery.assigned_at,
            deadline=delivery.deadline,
        )
        source.give_back_delivery()
        await uow.couriers.save(target)
        await journal.delivery_handed_over(uow, moved, source_id)
        await journal.courier_status_changed(
            uow, target_id, target_before, target.status, reason="handed_over", order_id=delivery.order_id
        )
        await self._waiting.courier_freed(
            uow, source, before=source_before, reason="handed_over", order_id=delivery.order_id
        )
        return Handover(
            order_id=delivery.order_id,
            from_courier_id=source_id,
            to_courier_id=target_id,
            deadline=delivery.deadline,
        )

    async def unassign(self, order_id: object) -> DeliveryOutcome:
        """Undo the order's active delivery in its own transaction (see :meth:`unassign_in`)."""
        return await in_transaction(self._uow, lambda uow: self.unassign_in(uow, order_id))

    async def unassign_in(self, uow: UnitOfWork, order_id: object) -> DeliveryOutcome:
        """Undo the order's active delivery: it never happened, the courier is available again.

        Raises ``DeliveryNotFound`` when the order has no active delivery.
        """
        checked = validate_order_id(order_id)
        await uow.deliveries.lock_order(checked)
        delivery = await uow.deliveries.get(checked, for_update=True)
        if delivery is None or not delivery.is_active:
            raise DeliveryNotFound()
        courier = await self._courier_of(uow, delivery)
        before = courier.status
        await uow.deliveries.remove(checked)
        await journal.delivery_ended(uow, delivery, "unassigned")
        courier.give_back_delivery()
        await self._waiting.courier_freed(uow, courier, before=before, reason="unassigned", order_id=checked)
        return DeliveryOutcome(order_id=checked, courier_id=delivery.courier_id, status="unassigned")

    async def complete(self, order_id: object) -> DeliveryOutcome:
        """Complete the order's delivery in its own transaction (see :meth:`complete_in`)."""
        return await in_transaction(self._uow, lambda uow: self.complete_in(uow, order_id))

    async def complete_in(self, uow: UnitOfWork, order_id: object) -> DeliveryOutcome:
        """Complete the order's active delivery; an ended delivery answers its actual status.

        Raises ``DeliveryNotFound`` when the order never had a delivery.
        """
        checked = validate_order_id(order_id)
        finished = await uow.deliveries.finish(checked, DeliveryStatus.COMPLETED)
        if finished is None:
            existing = await uow.deliveries.get(checked)
            if existing is None:
                raise DeliveryNotFound()
            return DeliveryOutcome(
                order_id=checked, courier_id=existing.courier_id, status=existing.status.value
            )
        await self._free(uow, finished, "completed")
        return DeliveryOutcome(order_id=checked, courier_id=finished.courier_id, status="completed")

    async def release_expired(self) -> int:
        """Expire every active delivery past its deadline and free its courier; return how many."""
        released = 0
        while True:
            expired = await in_transaction(self._uow, self._expire_batch)
            released += len(expired)
            if len(expired) < EXPIRY_BATCH:
                break
        if released:
            self._metrics.deliveries_expired(released)
        return released

    async def _expire_batch(self, uow: UnitOfWork) -> list[Delivery]:
        expired = await uow.deliveries.expire_due(limit=EXPIRY_BATCH)
        for delivery in expired:
            await self._free(uow, delivery, "expired")
        return expired

    async def _free(self, uow: UnitOfWork, delivery: Delivery, change: str) -> None:
        await journal.delivery_ended(uow, delivery, change)
        courier = await self._courier_of(uow, delivery)
        before = courier.status
        courier.finish_delivery()
        await self._waiting.courier_freed(
            uow, courier, before=before, reason=change, order_id=delivery.order_id
        )

    @staticmethod
    async def _courier_of(uow: UnitOfWork, delivery: Delivery) -> Courier:
        courier = await uow.couriers.get(delivery.courier_id, for_update=True)
        if courier is None:  # a busy courier cannot be deleted; this is a broken invariant
            raise CourierNotFound(f"courier {delivery.courier_id} of order {delivery.order_id} is gone")
        return courier

    async def get(self, order_id: object) -> Delivery:
        delivery = await self._deliveries.get(validate_order_id(order_id))
        if delivery is None:
            raise DeliveryNotFound()
        return delivery

    async def decision(self, order_id: object) -> Decision:
        """Why the order's delivery went to its courier. Raises ``DeliveryNotFound``."""
        decision = await self._decisions.get(validate_order_id(order_id))
        if decision is None:
            raise DeliveryNotFound("no assignment decision for this order")
        return decision

    async def history(self, order_id: object, *, limit: int = 100) -> list[HistoryEntry]:
        """The order's delivery changes, oldest first (empty when nothing happened to it)."""
        return await self._history.list(
            Subject.DELIVERY, validate_order_id(order_id), limit=validate_limit(limit)
        )

    async def waiting(self, *, limit: int = 100) -> list[WaitingOrder]:
        """The waiting orders, oldest first (a read: one statement, no transaction)."""
        return await self._queue.list(limit=validate_limit(limit))

    async def list(self, query: ListDeliveries) -> Page[Delivery, DeliveryCursor]:
        """Deliveries newest assignment first; ``next`` is set when more follow."""
        limit = validate_limit(query.limit)
        status = None if query.status is None else validate_delivery_status(query.status)
        courier_id = None if query.courier_id is None else validate_courier_id(query.courier_id, "courier_id")
        if query.after is not None:
            try:
                validate_order_id(query.after.order_id)
            except InvalidInput:
                raise InvalidInput("after", "invalid cursor") from None
        if query.at_risk and status not in (None, DeliveryStatus.ACTIVE):
            raise InvalidInput("at_risk", "only active deliveries can be at risk")
        items = await self._deliveries.list(
            status=status, courier_id=courier_id, at_risk=query.at_risk, after=query.after, limit=limit + 1
        )
        if len(items) > limit:
            last = items[limit - 1]
            return Page(
                items=items[:limit],
                next=DeliveryCursor(assigned_at=last.assigned_at, order_id=last.order_id),
            )
        return Page(items=items)
