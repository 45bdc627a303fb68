"""Handing a delivery over from one courier to another, all or nothing."""

from __future__ import annotations

from dataclasses import dataclass, replace

from courier_core.errors import (
    CourierNotAvailable,
    CourierNotFound,
    DeliveryNotFound,
    InvalidInput,
)
from courier_core.model import (
    Courier,
    DeadlinePolicy,
    Delivery,
    Handover,
    validate_courier_id,
)
from courier_core.ports import (
    UnitOfWork,
    UnitOfWorkFactory,
)
from courier_core.usecases import journal
from courier_core.usecases.transactions import in_transaction
from courier_core.usecases.waiting import WaitingQueue


@dataclass(frozen=True, slots=True)
class HandOver:
    """Move ``courier_id``'s active delivery to ``to_courier_id`` (which must be available)."""

    courier_id: object
    to_courier_id: object


class Handovers:
    """A courier's active delivery moved to another courier."""

    def __init__(self, *, uow: UnitOfWorkFactory, waiting: WaitingQueue, policy: DeadlinePolicy) -> None:
        self._uow = uow
        self._waiting = waiting
        self._policy = policy

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
        delivery = await _active_delivery(uow, source_id)
        source, target = await _lock_pair(uow, source_id, target_id)
        if not target.is_available:
            raise CourierNotAvailable()
        target.start_delivery(
            delivery.order_id, now=delivery.assigned_at, policy=self._policy, reason="handed_over"
        )
        source.give_back_delivery(delivery.order_id, reason="handed_over")
        await uow.deliveries.reassign(delivery.order_id, target_id)
        await uow.couriers.store(target)
        moved = replace(delivery, courier_id=target_id)
        await journal.delivery_handed_over(uow, moved, source_id)
        await journal.courier_changed(uow, target)
        await self._waiting.courier_freed(uow, source)
        return Handover(
            order_id=delivery.order_id,
            from_courier_id=source_id,
            to_courier_id=target_id,
            deadline=delivery.deadline,
        )


async def _active_delivery(uow: UnitOfWork, courier_id: int) -> Delivery:
    """The courier's active delivery, its order locked (as assign and unassign: the order first)."""
    current = await uow.deliveries.active_of(courier_id)
    if current is None:
        if await uow.couriers.get(courier_id) is None:
            raise CourierNotFound()
        raise DeliveryNotFound()
    delivery = (await uow.deliveries.lock_order(current.order_id, for_update=True)).delivery
    if delivery is None or not delivery.is_active or delivery.courier_id != courier_id:
        raise DeliveryNotFound()  # it ended or moved while we looked
    return delivery


async def _lock_pair(uow: UnitOfWork, source_id: int, target_id: int) -> tuple[Courier, Courier]:
    """Both couriers, locked in id order (one lock order for every handover)."""
    couriers: dict[int, Courier] = {}
    for courier_id in sorted((source_id, target_id)):
        courier = await uow.couriers.get(courier_id, for_update=True)
        if courier is None:
            raise CourierNotFound(f"courier {courier_id} not found")
        couriers[courier_id] = courier
    return couriers[source_id], couriers[target_id]
