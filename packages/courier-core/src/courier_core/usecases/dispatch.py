"""Use cases of dispatch: assign, unassign, complete, release expired, and the waiting queue.

The one rule every path shares lives here once: a courier that becomes available is given to the
oldest waiting order in the same transaction (:class:`WaitingQueue`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

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
    Assignment,
    Courier,
    DeadlinePolicy,
    Delivery,
    DeliveryCursor,
    DeliveryOutcome,
    DeliveryStatus,
    Page,
    Queued,
    WaitingOrder,
    validate_courier_id,
    validate_delivery_status,
    validate_limit,
    validate_order_id,
)
from courier_core.ports import (
    DeliveryRepository,
    Metrics,
    UnitOfWork,
    UnitOfWorkFactory,
    WaitingOrderRepository,
)
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


@dataclass(frozen=True, slots=True)
class ListDeliveries:
    status: object = None
    courier_id: object = None
    limit: int = 100
    after: DeliveryCursor | None = None


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
            delivery = courier.start_delivery(waiting.order_id, now=await uow.now(), policy=self._policy)
            await uow.deliveries.add(delivery)
            self._metrics.assignment("assigned")
            return delivery


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
    ) -> None:
        self._uow = uow
        self._deliveries = deliveries
        self._queue = queue
        self._waiting = waiting
        self._policy = policy
        self._metrics = metrics

    async def assign(self, command: AssignOrder) -> Assignment | Queued:
        """Assign an order in its own transaction (see :meth:`assign_in`)."""
        return await in_transaction(self._uow, lambda uow: self.assign_in(uow, command))

    async def assign_in(self, uow: UnitOfWork, command: AssignOrder) -> Assignment | Queued:
        """Assign an order inside ``uow``'s transaction, serialised on the order.

        Raises ``OrderFinished``, ``DeliveryExists``, ``NoAvailableCouriers`` (unless ``wait``) or
        ``CourierNotAvailable`` (a chosen courier that is not available); nothing is written then.
        """
        order_id = validate_order_id(command.order_id)
        chosen = None if command.courier_id is None else validate_courier_id(command.courier_id, "courier_id")
        exclude = [validate_courier_id(c, "exclude_courier_ids") for c in command.exclude_courier_ids]
        if command.wait and (chosen is not None or exclude):
            # The queue gives an order the next courier freed, whoever it is.
            raise InvalidInput("wait", "wait cannot be combined with courier_id or exclude_courier_ids")
        await uow.deliveries.lock_order(order_id)
        known = await uow.orders.get(order_id)
        if known is not None and known.is_finished:
            self._metrics.assignment("finished")
            raise OrderFinished()
        if await uow.deliveries.get(order_id) is not None:
            self._metrics.assignment("exists")
            raise DeliveryExists()
        courier = await self._choose(uow, chosen=chosen, exclude=exclude)
        if courier is None and command.wait:
            # Exclusive against couriers being freed (see WaitingQueue.give_courier): look once more
            # under the lock, then queue; a courier freed after this will see the order.
            await uow.waiting.lock_queue(exclusive=True)
            courier = await uow.couriers.pick_available()
            if courier is None:
                waiting = await uow.waiting.add(order_id)
                self._metrics.assignment("waiting")
                return Queued(order_id=order_id, since=waiting.since)
        if courier is None:
            self._metrics.assignment("no_courier")
            raise NoAvailableCouriers()
        delivery = courier.start_delivery(order_id, now=await uow.now(), policy=self._policy)
        await uow.deliveries.add(delivery)
        await uow.couriers.save(courier)
        await uow.waiting.remove(order_id)  # it may have waited: an assigned order waits no more
        self._metrics.assignment("assigned")
        return Assignment(
            courier_id=courier.id,
            order_id=order_id,
            transport_type=courier.transport_type,
            deadline=delivery.deadline,
        )

    async def _choose(self, uow: UnitOfWork, *, chosen: int | None, exclude: Sequence[int]) -> Courier | None:
        if chosen is None:
            courier = await uow.couriers.pick_available(exclude=exclude)
            if courier is None:  # every candidate locked (being edited or freed)? wait for the best
                courier = await uow.couriers.pick_available(exclude=exclude, wait=True)
            return courier
        courier = await uow.couriers.get(chosen, for_update=True)
        if courier is None:
            raise CourierNotFound()
        if not courier.is_available or chosen in exclude:
            raise CourierNotAvailable()
        return courier

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
        await uow.deliveries.remove(checked)
        courier.give_back_delivery()
        await self._waiting.give_courier(uow, courier)
        await uow.couriers.save(courier)
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
        await self._free(uow, finished)
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
            await self._free(uow, delivery)
        return expired

    async def _free(self, uow: UnitOfWork, delivery: Delivery) -> None:
        courier = await self._courier_of(uow, delivery)
        courier.finish_delivery()
        await self._waiting.give_courier(uow, courier)
        await uow.couriers.save(courier)

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
        items = await self._deliveries.list(
            status=status, courier_id=courier_id, after=query.after, limit=limit + 1
        )
        if len(items) > limit:
            last = items[limit - 1]
            return Page(
                items=items[:limit],
                next=DeliveryCursor(assigned_at=last.assigned_at, order_id=last.order_id),
            )
        return Page(items=items)
