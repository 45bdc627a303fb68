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
    Decision,
    Delivery,
    Edit,
    EventType,
    HistoryEntry,
    OutboxEvent,
    StatusChange,
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


async def courier_changed(uow: UnitOfWork, courier: Courier, *, saved: Courier | None = None) -> None:
    """Turn what ``courier`` recorded (:meth:`Courier.take_recorded`) into events and history, in order.

    The one place a courier's bookkeeping is written; its repository writes, this follows. An operator's
    edit is ``courier.updated`` with the fields that changed (and ``saved``'s version, when it was saved
    with one). Each status change is ``courier.status_changed`` and a history entry; but a courier that
    ends where it started (busy, freed, and given the oldest waiting order at once) publishes nothing,
    since it was busy throughout: its history still records each step.
    """
    recorded = courier.take_recorded()
    moves = [change for change in recorded if isinstance(change, StatusChange)]
    round_trip = len(moves) > 1 and moves[0].before is moves[-1].after
    for change in recorded:
        if isinstance(change, Edit):
            fields = {**courier_fields(saved or courier), "changed": list(change.fields)}
            await _emit(uow, EventType.COURIER_UPDATED, str(courier.id), fields)
            continue
        details: dict[str, object] = {"reason": change.reason}
        if change.order_id is not None:
            details["order_id"] = change.order_id
        before, after = change.before.value, change.after.value
        if not round_trip:
            data = {"courier_id": courier.id, "from": before, "to": after, **details}
            await _emit(uow, EventType.COURIER_STATUS_CHANGED, str(courier.id), data)
        await _remember(uow, Subject.COURIER, str(courier.id), "status", before, after, details)


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
