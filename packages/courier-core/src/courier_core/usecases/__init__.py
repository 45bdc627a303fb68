"""courier's use cases: every app (HTTP, consumer, CLI) calls these, never a copy of their rules."""

from courier_core.usecases.couriers import (
    CourierService,
    CreateCourier,
    ListCouriers,
    UpdateCourier,
    new_courier,
)
from courier_core.usecases.dispatch import (
    AssignOrder,
    DeliveryService,
    HandOver,
    ListDeliveries,
    WaitingQueue,
)
from courier_core.usecases.relay import OutboxRelay

__all__ = [
    "AssignOrder",
    "CourierService",
    "CreateCourier",
    "DeliveryService",
    "HandOver",
    "ListCouriers",
    "ListDeliveries",
    "OutboxRelay",
    "UpdateCourier",
    "WaitingQueue",
    "new_courier",
]
