"""Entities and value objects of courier, with their rules (``shared/spec/domain.md``).

Plain dataclasses that carry behaviour: a :class:`Courier` starts, finishes and gives back deliveries,
and refuses what the rules forbid. Time always comes in as an argument (the database's clock, through the
``Clock`` port): nothing here reads the wall clock.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

from courier_core.errors import CourierHasActiveDelivery, InvalidInput

MAX_ID = 2**63 - 1
MAX_NAME_LENGTH = 100
MAX_ORDER_ID_LENGTH = 255
MAX_ORDER_STATUS_LENGTH = 32
_PHONE = re.compile(r"\+[0-9]{11}")
_NAME_SEPARATORS = frozenset(" -'\u2019")


class CourierStatus(enum.StrEnum):
    AVAILABLE = "available"
    BUSY = "busy"
    PAUSED = "paused"


class TransportType(enum.StrEnum):
    ON_FOOT = "on_foot"
    SCOOTER = "scooter"
    CAR = "car"


class DeliveryStatus(enum.StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    EXPIRED = "expired"


FINISHED_ORDER_STATUSES = frozenset({"cancelled", "canceled", "deleted", "completed", "delivered"})
CANCELLED_ORDER_STATUSES = frozenset({"cancelled", "canceled", "deleted"})
COMPLETED_ORDER_STATUSES = frozenset({"completed", "delivered"})


# --- validation -------------------------------------------------------------------------------


def validate_name(value: object) -> str:
    """A name: 1-100 letters (any script) with single spaces, hyphens or apostrophes between."""
    if not isinstance(value, str):
        raise InvalidInput("name", "invalid courier's name")
    name = unicodedata.normalize("NFC", value).strip()
    if not 1 <= len(name) <= MAX_NAME_LENGTH:
        raise InvalidInput("name", "invalid courier's name")
    previous_was_letter = False
    for char in name:
        if char.isalpha() or (previous_was_letter and unicodedata.category(char).startswith("M")):
            previous_was_letter = True  # a letter, or a mark on one (Devanagari vowel signs, say)
        elif char in _NAME_SEPARATORS and previous_was_letter:
            previous_was_letter = False
        else:
            raise InvalidInput("name", "invalid courier's name")
    if not previous_was_letter:
        raise InvalidInput("name", "invalid courier's name")
    return name


def validate_phone(value: object) -> str:
    """A phone: ``+`` followed by exactly 11 ASCII digits."""
    if not isinstance(value, str) or not _PHONE.fullmatch(value):
        raise InvalidInput("phone", "invalid courier's phone")
    return value


def validate_client_status(value: object) -> CourierStatus:
    """A status a client may set: ``available`` or ``paused`` (``busy`` is the service's)."""
    if value == CourierStatus.AVAILABLE:
        return CourierStatus.AVAILABLE
    if value == CourierStatus.PAUSED:
        return CourierStatus.PAUSED
    raise InvalidInput("status", "invalid courier's status")


def validate_status_filter(value: object) -> CourierStatus:
    """A status to filter a list by: any of the three."""
    try:
        return CourierStatus(str(value))
    except ValueError:
        raise InvalidInput("status", "invalid courier's status") from None


def validate_transport_type(value: object) -> TransportType:
    try:
        return TransportType(str(value))
    except ValueError:
        raise InvalidInput("transport_type", "invalid transport type") from None


def validate_delivery_status(value: object) -> DeliveryStatus:
    try:
        return DeliveryStatus(str(value))
    except ValueError:
        raise InvalidInput("status", "invalid delivery status") from None


def validate_courier_id(value: object, field_name: str = "id") -> int:
    """A courier id: an integer from 1 to 2^63-1 (``bool`` is not an integer here)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise InvalidInput(field_name, "invalid courier's id")
    return value


def validate_order_id(value: object) -> str:
    """An order id: 1-255 characters, not blank, no control characters."""
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > MAX_ORDER_ID_LENGTH
        or any(unicodedata.category(c) in ("Cc", "Cs") for c in value)
    ):
        raise InvalidInput("order_id", "invalid order id")
    return value


# The HTTP API's fixed paths under /delivery/ (GET /delivery/{order_id} could never read these): no
# order is assigned under them, whichever way it arrives (HTTP, the order stream, the CLI).
RESERVED_ORDER_IDS = frozenset({"assign", "unassign", "complete"})


def validate_new_order_id(value: object) -> str:
    """An order id to assign: :func:`validate_order_id`, and not one of :data:`RESERVED_ORDER_IDS`."""
    checked = validate_order_id(value)
    if checked in RESERVED_ORDER_IDS:
        raise InvalidInput("order_id", f"invalid order id: {checked!r} is reserved")
    return checked


def validate_limit(value: int, *, maximum: int = 1000) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise InvalidInput("limit", f"limit must be an integer from 1 to {maximum}")
    return value


# --- deadlines -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeadlinePolicy:
    """How long each transport has to deliver (the spec's deadline factory; values configurable)."""

    on_foot: timedelta = timedelta(minutes=30)
    scooter: timedelta = timedelta(minutes=15)
    car: timedelta = timedelta(minutes=5)

    def __post_init__(self) -> None:
        for transport in TransportType:
            if self.duration_for(transport) <= timedelta(0):
                raise ValueError(f"the deadline for {transport} must be positive")

    def duration_for(self, transport: TransportType) -> timedelta:
        duration: timedelta = getattr(self, transport.value)
        return duration

    def deadline(self, transport: TransportType, assigned_at: datetime) -> datetime:
        return assigned_at + self.duration_for(transport)


# --- entities ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewCourier:
    """A courier about to be created: validated input, no id yet."""

    name: str
    phone: str
    status: CourierStatus
    transport_type: TransportType


@dataclass(frozen=True, slots=True)
class CourierChanges:
    """A partial update: ``None`` means "leave as it is"."""

    name: str | None = None
    phone: str | None = None
    status: CourierStatus | None = None
    transport_type: TransportType | None = None

    def is_empty(self) -> bool:
        return all(v is None for v in (self.name, self.phone, self.status, self.transport_type))

    def differences(self, courier: Courier) -> list[str]:
        """The fields this update would change on ``courier`` (given, and not already so)."""
        return [
            name
            for name in ("name", "phone", "status", "transport_type")
            if getattr(self, name) is not None and getattr(self, name) != getattr(courier, name)
        ]


@dataclass(slots=True)
class Courier:
    """A courier. ``total_deliveries`` counts every delivery ever assigned minus those unassigned."""

    id: int
    name: str
    phone: str
    status: CourierStatus
    transport_type: TransportType
    created_at: datetime
    updated_at: datetime
    total_deliveries: int = 0
    version: int = 1

    @property
    def is_available(self) -> bool:
        return self.status is CourierStatus.AVAILABLE

    def change(self, changes: CourierChanges) -> bool:
        """Apply an operator's partial update; return whether the courier became available."""
        if changes.status is not None and self.status is CourierStatus.BUSY:
            raise CourierHasActiveDelivery()
        became_available = (
            changes.status is CourierStatus.AVAILABLE and self.status is not CourierStatus.AVAILABLE
        )
        if changes.name is not None:
            self.name = changes.name
        if changes.phone is not None:
            self.phone = changes.phone
        if changes.status is not None:
            self.status = changes.status
        if changes.transport_type is not None:
            self.transport_type = changes.transport_type
        return became_available

    def ensure_deletable(self) -> None:
        if self.status is CourierStatus.BUSY:
            raise CourierHasActiveDelivery()

    def start_delivery(self, order_id: str, *, now: datetime, policy: DeadlinePolicy) -> Delivery:
        """Take ``order_id``: the courier becomes busy and its delivery count grows by one."""
        if not self.is_available:
            raise ValueError(f"courier {self.id} is {self.status}, not available")
        self.status = CourierStatus.BUSY
        self.total_deliveries += 1
        return Delivery(
            order_id=order_id,
            courier_id=self.id,
            status=DeliveryStatus.ACTIVE,
            assigned_at=now,
            deadline=policy.deadline(self.transport_type, now),
        )

    def finish_delivery(self) -> None:
        """The active delivery ended (completed or expired): the courier is available again."""
        self.status = CourierStatus.AVAILABLE

    def give_back_delivery(self) -> None:
        """The active delivery was unassigned: it never happened, so the count goes back down."""
        self.status = CourierStatus.AVAILABLE
        self.total_deliveries = max(0, self.total_deliveries - 1)


@dataclass(slots=True)
class Delivery:
    order_id: str
    courier_id: int
    status: DeliveryStatus
    assigned_at: datetime
    deadline: datetime
    finished_at: datetime | None = None

    @property
    def is_active(self) -> bool:
        return self.status is DeliveryStatus.ACTIVE


@dataclass(frozen=True, slots=True)
class KnownOrder:
    """The last status courier learned of an order, and the time of that news."""

    order_id: str
    status: str
    status_at: datetime

    def __post_init__(self) -> None:
        if not self.status or len(self.status) > MAX_ORDER_STATUS_LENGTH:
            raise InvalidInput("status", f"an order status has 1-{MAX_ORDER_STATUS_LENGTH} characters")

    @property
    def is_finished(self) -> bool:
        return is_finished_status(self.status)

    def replaces(self, known: KnownOrder) -> bool:
        """Whether this news may replace ``known``: newer, and never un-finishing a finished order.

        At the same time a finished status wins.
        """
        if known.is_finished:
            return False
        return self.status_at > known.status_at or (self.status_at == known.status_at and self.is_finished)


def is_finished_status(status: str) -> bool:
    return status.lower() in FINISHED_ORDER_STATUSES


@dataclass(frozen=True, slots=True)
class WaitingOrder:
    order_id: str
    since: datetime


@dataclass(frozen=True, slots=True)
class OrderInfo:
    """An order as the order service reports it."""

    order_id: str
    status: str
    created_at: datetime
    updated_at: datetime | None = None


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
    """An outbox event with its position: commit order, the ``id`` of a live stream."""

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
