"""Ending deliveries: unassign (it never happened), complete, expire past the deadline."""

from __future__ import annotations

from courier_core.errors import (
    CourierNotFound,
    DeliveryNotFound,
)
from courier_core.model import (
    Courier,
    Delivery,
    DeliveryOutcome,
    DeliveryStatus,
    validate_order_id,
)
from courier_core.ports import (
    Metrics,
    UnitOfWork,
    UnitOfWorkFactory,
)
from courier_core.usecases import journal
from courier_core.usecases.transactions import in_transaction
from courier_core.usecases.waiting import WaitingQueue

EXPIRY_BATCH = 500


class Finishing:
    """The end of a delivery: unassigned, completed or expired; its courier is freed."""

    def __init__(self, *, uow: UnitOfWorkFactory, waiting: WaitingQueue, metrics: Metrics) -> None:
        self._uow = uow
        self._waiting = waiting
        self._metrics = metrics

    async def unassign(self, order_id: object) -> DeliveryOutcome:
        """Undo the order's active delivery in its own transaction (see :meth:`unassign_in`)."""
        return await in_transaction(self._uow, lambda uow: self.unassign_in(uow, order_id))

    async def unassign_in(self, uow: UnitOfWork, order_id: object) -> DeliveryOutcome:
        """Undo the order's active delivery: it never happened, the courier is available again.

        Raises ``DeliveryNotFound`` when the order has no active delivery.
        """
        checked = validate_order_id(order_id)
        delivery = (await uow.deliveries.lock_order(checked, for_update=True)).delivery
        if delivery is None or not delivery.is_active:
            raise DeliveryNotFound()
        courier = await self._courier_of(uow, delivery)
        await uow.deliveries.remove(checked)
        await journal.delivery_ended(uow, delivery, "unassigned")
        courier.give_back_delivery(checked)
        await self._waiting.courier_freed(uow, courier)
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
        courier.finish_delivery(delivery.order_id, reason=change)
        await self._waiting.courier_freed(uow, courier)

    @staticmethod
    async def _courier_of(uow: UnitOfWork, delivery: Delivery) -> Courier:
        courier = await uow.couriers.get(delivery.courier_id, for_update=True)
        if courier is None:  # a busy courier cannot be deleted; this is a broken invariant
            raise CourierNotFound(f"courier {delivery.courier_id} of order {delivery.order_id} is gone")
        return courier
