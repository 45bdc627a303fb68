"""What every change leaves behind, inside its own transaction: an outbox event and a history entry.

The use cases call these functions with the unit of work that makes the change, so the event, the
history and the change commit (or vanish) together. Who acted comes from :mod:`courier_core.actor`.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from courier_core.actor import current_actor
from courier_core.model import (
    Courier,
    CourierStatus,
    Decision,
    Delivery,
    EventType,
    HistoryEntry,
    OutboxEvent,
    Subject,
    WaitingOrder,
)
from courier_core.ports import UnitOfWork
from courier_core.views import timestamp


def _iso(value: datetime | None) -> str | None:
    return None if value is None else timestamp(value)


def courier_fields(courier: Courier) -> dict[str, object]:
    return {
        "courier_id": courier.id,
        "name": courier.name,
        "phone": courier.phone,
        "status": courier.status.value,
        "transport_type": courier.transport_type.value,
        "total_deliveries": courier.total_deliveries,
        "version": courier.version,
    }


def delivery_fields(delivery: Delivery) -> dict[str, object]:
    return {
        "order_id": delivery.order_id,
        "courier_id": delivery.courier_id,
        "status": delivery.status.value,
        "assigned_at": _iso(delivery.assigned_at),
        "deadline": _iso(delivery.deadline),
        "finished_at": _iso(delivery.finished_at),
    }


async def _emit(uow: UnitOfWork, type_: EventType, key: str, data: dict[str, object]) -> datetime:
    now = await uow.now()
    await uow.outbox.add(
        OutboxEvent(event_id=str(uuid.uuid4()), type=type_, key=key, occurred_at=now, data=data)
    )
    return now


async def _remember(
    uow: UnitOfWork,
    subject: Subject,
    subject_id: str,
    change: str,
    from_state: str | None,
    to_state: str | None,
    details: dict[str, object] | None = None,
) -> None:
    await uow.history.add(
        HistoryEntry(
            subject=subject,
            subject_id=subject_id,
            change=change,
            from_state=from_state,
            to_state=to_state,
            actor=current_actor(),
            at=await uow.now(),
            details=details or {},
        )
    )


async def courier_created(uow: UnitOfWork, courier: Courier) -> None:
    await _emit(uow, EventType.COURIER_CREATED, str(courier.id), courier_fields(courier))
    await _remember(uow, Subject.COURIER, str(courier.id), "created", None, courier.status.value)


async def courier_updated(uow: UnitOfWork, courier: Courier, changed: list[str]) -> None:
    """An operator's edit: ``courier.updated`` with the fields that changed."""
    await _emit(
        uow, EventType.COURIER_UPDATED, str(courier.id), {**courier_fields(courier), "changed": changed}
    )


async def courier_status_changed(
    uow: UnitOfWork,
    courier_id: int,
    before: CourierStatus,
    after: CourierStatus,
    *,
    reason: str,
    order_id: str | None = None,
) -> None:
    """``courier.status_changed`` and its history entry, when the status did change."""
    if after is before:
        return
    details: dict[str, object] = {"reason": reason}
    if order_id is not None:
        details["order_id"] = order_id
    await _emit(
        uow,
        EventType.COURIER_STATUS_CHANGED,
        str(courier_id),
        {"courier_id": courier_id, "from": before.value, "to": after.value, **details},
    )
    await _remember(uow, Subject.COURIER, str(courier_id), "status", before.value, after.value, details)


async def courier_passed_on(
    uow: UnitOfWork, courier_id: int, *, reason: str, order_id: str, next_order_id: str
) -> None:
    """A busy courier freed (``reason``, from ``order_id``) and given the oldest waiting order
    (``next_order_id``) in one transaction. Its status is busy before and after, so no
    ``courier.status_changed`` is published; its history records both steps."""
    freed: dict[str, object] = {"reason": reason, "order_id": order_id}
    taken: dict[str, object] = {"reason": "assigned", "order_id": next_order_id}
    busy, available = CourierStatus.BUSY.value, CourierStatus.AVAILABLE.value
    await _remember(uow, Subject.COURIER, str(courier_id), "status", busy, available, freed)
    await _remember(uow, Subject.COURIER, str(courier_id), "status", available, busy, taken)


async def courier_deleted(uow: UnitOfWork, courier: Courier) -> None:
    await _emit(uow, EventType.COURIER_DELETED, str(courier.id), {"courier_id": courier.id})
    await _remember(uow, Subject.COURIER, str(courier.id), "deleted", courier.status.value, None)


async def delivery_assigned(uow: UnitOfWork, delivery: Delivery, decision: Decision) -> None:
    await uow.decisions.save(decision)
    await _emit(
        uow,
        EventType.DELIVERY_ASSIGNED,
        delivery.order_id,
        {**delivery_fields(delivery), "strategy": decision.strategy.value},
    )
    await _remember(
        uow,
        Subject.DELIVERY,
        delivery.order_id,
        "assigned",
        None,
        delivery.status.value,
        {"courier_id": delivery.courier_id, "strategy": decision.strategy.value},
    )


_ENDED = {
    "unassigned": EventType.DELIVERY_UNASSIGNED,
    "completed": EventType.DELIVERY_COMPLETED,
    "expired": EventType.DELIVERY_EXPIRED,
}


async def delivery_ended(uow: UnitOfWork, delivery: Delivery, change: str) -> None:
    """``unassigned`` (the delivery is gone), ``completed`` or ``expired``."""
    data = delivery_fields(delivery)
    if change == "unassigned":
        data["status"] = "unassigned"
    await _emit(uow, _ENDED[change], delivery.order_id, data)
    await _remember(
        uow,
        Subject.DELIVERY,
        delivery.order_id,
        change,
        "active",
        str(data["status"]),
        {"courier_id": delivery.courier_id},
    )


async def delivery_handed_over(uow: UnitOfWork, delivery: Delivery, from_courier_id: int) -> None:
    await _emit(
        uow,
        EventType.DELIVERY_HANDED_OVER,
        delivery.order_id,
        {**delivery_fields(delivery), "from_courier_id": from_courier_id},
    )
    await _remember(
        uow,
        Subject.DELIVERY,
        delivery.order_id,
        "handed_over",
        "active",
        "active",
        {"from_courier_id": from_courier_id, "courier_id": delivery.courier_id},
    )


async def order_left_queue(uow: UnitOfWork, order_id: str, change: str) -> None:
    """A waiting order that will never be assigned (``cancelled``): its history says so (no event is
    published: the order service announced it)."""
    await _remember(uow, Subject.DELIVERY, order_id, change, "waiting", change)


async def order_waiting(uow: UnitOfWork, waiting: WaitingOrder) -> None:
    await _emit(
        uow,
        EventType.ORDER_WAITING,
        waiting.order_id,
        {"order_id": waiting.order_id, "since": timestamp(waiting.since)},
    )
    await _remember(uow, Subject.DELIVERY, waiting.order_id, "waiting", None, "waiting")
