"""Entities and their rules (``shared/spec/domain.md``): plain dataclasses that carry behaviour. A
:class:`Courier` starts, finishes and gives back deliveries, refuses what the rules forbid, and records
each change it makes (:class:`StatusChange`, :class:`Edit`) for the journal to turn into history and events.
Time always comes in as an argument (the database's clock, through the ``Clock`` port): nothing here reads
the wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from courier_core.errors import CourierHasActiveDelivery, InvalidInput
from courier_core.model.values import (
    FINISHED_ORDER_STATUSES,
    MAX_ORDER_STATUS_LENGTH,
    CourierStatus,
    DeliveryStatus,
    TransportType,
)

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


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A courier's status moved from ``before`` to ``after`` because of ``reason`` (and ``order_id``)."""

    before: CourierStatus
    after: CourierStatus
    reason: str
    order_id: str | None = None


@dataclass(frozen=True, slots=True)
class Edit:
    """An operator changed these fields of a courier."""

    fields: tuple[str, ...]


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
    #: What this object changed since it was loaded, oldest first (never stored; a copy starts empty).
    recorded: list[StatusChange | Edit] = field(default_factory=list, init=False, compare=False, repr=False)

    @property
    def is_available(self) -> bool:
        return self.status is CourierStatus.AVAILABLE

    def take_recorded(self) -> list[StatusChange | Edit]:
        """What was recorded, oldest first; the record starts again empty."""
        recorded, self.recorded = self.recorded, []
        return recorded

    def change(self, changes: CourierChanges) -> bool:
        """Apply an operator's partial update; return whether the courier became available."""
        if changes.status is not None and self.status is CourierStatus.BUSY:
            raise CourierHasActiveDelivery()
        before = self.status
        edited = changes.differences(self)
        if changes.name is not None:
            self.name = changes.name
        if changes.phone is not None:
            self.phone = changes.phone
        if changes.status is not None:
            self.status = changes.status
        if changes.transport_type is not None:
            self.transport_type = changes.transport_type
        if edited:
            self.recorded.append(Edit(tuple(edited)))
        self._moved(before, "operator")
        return self.status is CourierStatus.AVAILABLE and before is not CourierStatus.AVAILABLE

    def ensure_deletable(self) -> None:
        if self.status is CourierStatus.BUSY:
            raise CourierHasActiveDelivery()

    def start_delivery(
        self, order_id: str, *, now: datetime, policy: DeadlinePolicy, reason: str = "assigned"
    ) -> Delivery:
        """Take ``order_id`` (assigned, or ``reason``): the courier becomes busy and its delivery count
        grows by one."""
        if not self.is_available:
            raise ValueError(f"courier {self.id} is {self.status}, not available")
        self.status = CourierStatus.BUSY
        self.total_deliveries += 1
        self._moved(CourierStatus.AVAILABLE, reason, order_id)
        return Delivery(
            order_id=order_id,
            courier_id=self.id,
            status=DeliveryStatus.ACTIVE,
            assigned_at=now,
            deadline=policy.deadline(self.transport_type, now),
        )

    def finish_delivery(self, order_id: str | None = None, *, reason: str = "completed") -> None:
        """The active delivery of ``order_id`` ended (``completed`` or ``expired``): the courier is
        available again."""
        before, self.status = self.status, CourierStatus.AVAILABLE
        self._moved(before, reason, order_id)

    def give_back_delivery(self, order_id: str | None = None, *, reason: str = "unassigned") -> None:
        """The active delivery of ``order_id`` was unassigned (or handed over, ``reason``): it never
        happened for this courier, so the count goes back down."""
        before, self.status = self.status, CourierStatus.AVAILABLE
        self.total_deliveries = max(0, self.total_deliveries - 1)
        self._moved(before, reason, order_id)

    def _moved(self, before: CourierStatus, reason: str, order_id: str | None = None) -> None:
        if self.status is not before:
            self.recorded.append(StatusChange(before, self.status, reason, order_id))


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
