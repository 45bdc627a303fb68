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
    ListDeliveries,
    WaitingQueue,
)

__all__ = [
    "AssignOrder",
    "CourierService",
    "CreateCourier",
    "DeliveryService",
    "ListCouriers",
    "ListDeliveries",
    "UpdateCourier",
    "WaitingQueue",
    "new_courier",
]
