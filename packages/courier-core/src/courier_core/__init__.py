"""courier-core: the pure domain of courier (entities, rules, ports and use cases).

No I/O and no framework: import it from any Python service, and test against
:mod:`courier_core.testing` (in-memory implementations of every port).
"""

from courier_core import errors
from courier_core.model import (
    Assignment,
    Courier,
    CourierStatus,
    DeadlinePolicy,
    Delivery,
    DeliveryOutcome,
    DeliveryStatus,
    KnownOrder,
    OrderInfo,
    Page,
    Queued,
    TransportType,
)
from courier_core.usecases import (
    AssignOrder,
    CourierService,
    CreateCourier,
    DeliveryService,
    ListCouriers,
    ListDeliveries,
    UpdateCourier,
    WaitingQueue,
)

__all__ = [
    "AssignOrder",
    "Assignment",
    "Courier",
    "CourierService",
    "CourierStatus",
    "CreateCourier",
    "DeadlinePolicy",
    "Delivery",
    "DeliveryOutcome",
    "DeliveryService",
    "DeliveryStatus",
    "KnownOrder",
    "ListCouriers",
    "ListDeliveries",
    "OrderInfo",
    "Page",
    "Queued",
    "TransportType",
    "UpdateCourier",
    "WaitingQueue",
    "errors",
]
