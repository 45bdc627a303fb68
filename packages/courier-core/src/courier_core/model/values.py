"""The model's kinds and bounds: statuses, transports, the limits every rule shares."""

from __future__ import annotations

import enum

MAX_ID = 2**63 - 1
MAX_NAME_LENGTH = 100
MAX_ORDER_ID_LENGTH = 255
MAX_ORDER_STATUS_LENGTH = 32


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
