"""The one error tree of courier.

Every error courier raises on purpose derives from :class:`CourierError`::

    CourierError
    ├── InvalidInput                 bad input, with the field it is about
    ├── NotFound
    │   ├── CourierNotFound
    │   └── DeliveryNotFound
    ├── Conflict
    │   ├── CourierExists            phone taken by a courier not deleted
    │   ├── CourierHasActiveDelivery
    │   ├── CourierNotAvailable      a chosen courier is busy, paused or deleted
    │   ├── NoAvailableCouriers
    │   ├── DeliveryExists           the order already has a delivery
    │   └── OrderFinished            the order is cancelled, deleted or completed
    ├── PreconditionFailed           optimistic concurrency: the version changed
    └── DependencyUnavailable        database or order service down (retry later)
        └── Contention               the database broke a deadlock or conflict: retry at once

Each app maps this tree to its transport in exactly one place (HTTP status, CLI exit code, consumer
retry or dead letter). Adapters translate driver errors into it at their boundary (``raise ... from``).
"""

from __future__ import annotations


class CourierError(Exception):
    """Root of every error courier raises on purpose."""

    message: str = "courier error"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or type(self).message
        super().__init__(self.message)


class InvalidInput(CourierError):
    """The input breaks a rule of the domain; ``field`` names the offending field."""

    message = "invalid input"

    def __init__(self, field: str, message: str | None = None) -> None:
        self.field = field
        super().__init__(message or f"invalid {field}")


class NotFound(CourierError):
    """The thing asked for does not exist (or was deleted)."""


class CourierNotFound(NotFound):
    message = "courier not found"


class DeliveryNotFound(NotFound):
    message = "delivery not found"


class OrderNotFound(NotFound):
    """The order service does not know the order."""

    message = "order not found"


class Conflict(CourierError):
    """The request is valid but clashes with the current state."""


class CourierExists(Conflict):
    message = "courier with this parameters already exists"


class CourierHasActiveDelivery(Conflict):
    message = "courier has an active delivery"


class CourierNotAvailable(Conflict):
    message = "courier is not available"


class NoAvailableCouriers(Conflict):
    message = "no available couriers"


class DeliveryExists(Conflict):
    message = "this delivery already exists"


class OrderFinished(Conflict):
    message = "order is already finished"


class PreconditionFailed(CourierError):
    message = "courier was changed by someone else"


class DependencyUnavailable(CourierError):
    """A dependency (database, order service, broker) cannot serve now; the caller may retry."""

    message = "service temporarily unavailable"

    def __init__(self, message: str | None = None, *, dependency: str = "database") -> None:
        self.dependency = dependency
        super().__init__(message)


class Contention(DependencyUnavailable):
    """The database aborted the transaction to break a deadlock or a serialization conflict.

    Nothing was written; running the whole use case again is safe (use cases retry it themselves).
    """

    message = "database contention"
