"""What use cases answer and what goes out: results, pages, outbox events, history, decisions."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Generic, TypeVar

from courier_core.model.entities import Courier, Delivery, KnownOrder
from courier_core.model.values import TransportType

# --- results -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Assignment:
    courier_id: int
    order_id: str
    transport_type: TransportType
    deadline: datetime


@dataclass(frozen=True, slots=True)
class Queued:
    """The order waits for a courier (``wait=True`` or an event); it will get the next one freed."""

    order_id: str
    since: datetime


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """The answer of unassign/complete: the delivery's order, its courier and its status now."""

    order_id: str
    courier_id: int
    status: str


@dataclass(frozen=True, slots=True)
class DeliveryCursor:
    """Keyset position in the newest-first delivery list."""

    assigned_at: datetime
    order_id: str


T = TypeVar("T")
C = TypeVar("C")


@dataclass(frozen=True, slots=True)
class Page(Generic[T, C]):
    """One page of a keyset-paged list; ``next`` is where the following page starts, if any."""

    items: list[T] = field(default_factory=list)
    next: C | None = None


# --- what goes out: events, history, decisions ----------------------------------------------------

AT_RISK_SHARE = 0.8  # a delivery is at risk once this share of its window has passed
CANDIDATES_CAP = 100  # a decision counts candidates and ties up to this many (the count stays cheap)


class EventType(enum.StrEnum):
    """The events courier publishes (``courier.events``), one per change."""

    DELIVERY_ASSIGNED = "delivery.assigned"
    DELIVERY_UNASSIGNED = "delivery.unassigned"
    DELIVERY_COMPLETED = "delivery.completed"
    DELIVERY_EXPIRED = "delivery.expired"
    DELIVERY_HANDED_OVER = "delivery.handed_over"
    COURIER_CREATED = "courier.created"
    COURIER_UPDATED = "courier.updated"
    COURIER_STATUS_CHANGED = "courier.status_changed"
    COURIER_DELETED = "courier.deleted"
    ORDER_WAITING = "order.waiting"


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """One change, as published: keyed by ``order_id`` (deliveries, orders) or courier id (couriers)
    so that each key's events stay in order. ``data`` holds the type's own fields (JSON values)."""

    event_id: str
    type: EventType
    key: str
    occurred_at: datetime
    data: dict[str, object]

    def message(self) -> dict[str, object]:
        """The published value: ``event_id``, ``type``, ``occurred_at``, then the type's fields."""
        return {
            "event_id": self.event_id,
            "type": self.type.value,
            "occurred_at": self.occurred_at.astimezone(UTC).isoformat().removesuffix("+00:00") + "Z",
            **self.data,
        }


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An outbox event with its position: stamped after commit, in each key's commit order; the
    ``id`` of a live stream."""

    position: int
    event: OutboxEvent


class Subject(enum.StrEnum):
    COURIER = "courier"
    DELIVERY = "delivery"


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """A change kept for ever: what (``change``, ``from_state`` → ``to_state``), who, when."""

    subject: Subject
    subject_id: str
    change: str
    from_state: str | None
    to_state: str | None
    actor: str
    at: datetime
    details: dict[str, object] = field(default_factory=dict)


class Strategy(enum.StrEnum):
    LEAST_LOADED = "least_loaded"  # the available courier with the fewest deliveries
    REQUESTED = "requested"  # the courier the request named
    WAITING_QUEUE = "waiting_queue"  # a courier freed was given to the oldest waiting order


@dataclass(frozen=True, slots=True)
class Decision:
    """Why an order went to its courier.

    ``candidates``: available couriers that could be picked (not excluded), counted up to
    :data:`CANDIDATES_CAP` (``candidates_capped`` then); ``tied``: those of them with the chosen one's
    delivery count; the tie-break among them is the lowest id.
    """

    order_id: str
    courier_id: int
    strategy: Strategy
    candidates: int
    candidates_capped: bool
    courier_deliveries: int
    tie_break: str
    tied: int
    excluded: tuple[int, ...]
    decided_at: datetime


@dataclass(frozen=True, slots=True)
class LockedOrder:
    """What a transaction finds once it holds an order's lock: the status courier knows of the order
    and its delivery (each ``None`` when there is none)."""

    known: KnownOrder | None
    delivery: Delivery | None


@dataclass(frozen=True, slots=True)
class Picked:
    """The courier a pick locked, and how many it was chosen among (see :class:`Decision`)."""

    courier: Courier
    candidates: int
    tied: int


@dataclass(frozen=True, slots=True)
class DryRun:
    """What an assignment would do: the courier it would pick and why; nothing was changed."""

    order_id: str
    courier_id: int
    transport_type: TransportType
    deadline: datetime
    decision: Decision


@dataclass(frozen=True, slots=True)
class Handover:
    """A delivery moved from one courier to another (deadline kept)."""

    order_id: str
    from_courier_id: int
    to_courier_id: int
    deadline: datetime
