"""The one place where errors become HTTP answers: core's error tree → status, code, message.

Every error answer has the body ``{"error": {"code", "message"[, "field"][, "detail"]}}``
(``shared/spec/api.md``, ``docs/api.md``): ``detail`` carries the rule the field breaks, in words.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from courier_core import errors as core
from courier_core.model import MAX_ID, MAX_NAME_LENGTH, MAX_ORDER_ID_LENGTH, CourierStatus, TransportType

# The seed's messages, kept verbatim (api.md, "Errors").
MESSAGES: dict[str, str] = {
    "invalid_json": "invalid JSON",
    "invalid_id": "invalid courier's id",
    "invalid_name": "invalid courier's name",
    "invalid_phone": "invalid courier's phone",
    "invalid_status": "invalid courier's status",
    "invalid_transport_type": "invalid transport type",
    "invalid_order_id": "invalid order id",
    "invalid_request": "invalid request",
    "courier_not_found": "courier not found",
    "courier_exists": "courier with this parameters already exists",
    "courier_has_active_delivery": "courier has an active delivery",
    "no_available_couriers": "no available couriers",
    "delivery_exists": "this delivery already exists",
    "delivery_not_found": "delivery not found",
    "not_found": "route not found",
    "method_not_allowed": "method not allowed",
    "courier_not_available": "courier is not available",
    "precondition_failed": "courier was changed by someone else",
    "idempotency_key_reused": "idempotency key reused with another request",
    # Not in api.md's table: the first request with this key has not been answered yet (with Retry-After).
    "idempotency_key_in_progress": "a request with this idempotency key is still being answered",
    "order_finished": "order is already finished",
    "unauthorized": "authentication required",
    "forbidden": "not allowed",
    "payload_too_large": "request body too large",
    "rate_limited": "rate limit exceeded",
    "unavailable": "service temporarily unavailable",
    "internal": "internal error",
}

# Fields whose mistakes have their own code; any other field's mistake is ``invalid_request``.
FIELD_CODES: dict[str, str] = {
    "id": "invalid_id",
    "name": "invalid_name",
    "phone": "invalid_phone",
    "status": "invalid_status",
    "transport_type": "invalid_transport_type",
    "order_id": "invalid_order_id",
}

# What each field's code is about, for the messages of a missing field ("missing courier's phone").
FIELD_LABELS: dict[str, str] = {
    "id": "courier's id",
    "name": "courier's name",
    "phone": "courier's phone",
    "status": "courier's status",
    "transport_type": "transport type",
    "order_id": "order id",
}

# The rule of each field, in words: an error about the field carries it as ``detail``.
_ID_RULE = f"an integer from 1 to {MAX_ID}"
FIELD_RULES: dict[str, str] = {
    "id": _ID_RULE,
    "name": f"1-{MAX_NAME_LENGTH} letters of any script with single spaces, hyphens or apostrophes between "
    "(surrounding spaces are trimmed)",
    "phone": "'+' and 11 digits, e.g. +79990001122",
    "status": "one of "
    + ", ".join(s for s in CourierStatus if s is not CourierStatus.BUSY)
    + " (busy is set by the service)",
    "transport_type": "one of " + ", ".join(TransportType),
    "order_id": f"1-{MAX_ORDER_ID_LENGTH} characters, not blank, no control characters",
    "courier_id": _ID_RULE,
    "to_courier_id": _ID_RULE,
    "exclude_courier_ids": f"a list of integers from 1 to {MAX_ID}",
    "wait": "true or false",
    "dry_run": "true or false",
}

# Most specific class first: the first ``isinstance`` match wins.
_CORE: tuple[tuple[type[core.CourierError], int, str], ...] = (
    (core.CourierNotFound, 404, "courier_not_found"),
    (core.DeliveryNotFound, 404, "delivery_not_found"),
    (core.OrderNotFound, 404, "not_found"),
    (core.CourierExists, 409, "courier_exists"),
    (core.CourierHasActiveDelivery, 409, "courier_has_active_delivery"),
    (core.CourierNotAvailable, 409, "courier_not_available"),
    (core.NoAvailableCouriers, 409, "no_available_couriers"),
    (core.DeliveryExists, 409, "delivery_exists"),
    (core.OrderFinished, 409, "order_finished"),
    (core.PreconditionFailed, 412, "precondition_failed"),
    (core.DependencyUnavailable, 503, "unavailable"),
)
RETRY_AFTER_SECONDS = 1


@dataclass(eq=False)
class ApiError(Exception):
    """An error answer: HTTP status, code, message, the field it is about, extra headers."""

    status: int
    code: str
    message: str
    field: str | None = None
    headers: tuple[tuple[bytes, bytes], ...] = ()
    detail: str | None = None

    @classmethod
    def of(
        cls,
        code: str,
        status: int = 400,
        *,
        message: str | None = None,
        field: str | None = None,
        detail: str | None = None,
    ) -> ApiError:
        return cls(status, code, message or MESSAGES[code], field, detail=detail)


class _Envelope(msgspec.Struct, omit_defaults=True):
    code: str
    message: str
    field: str | None = None
    detail: str | None = None


class _ErrorBody(msgspec.Struct):
    error: _Envelope


_encode = msgspec.json.Encoder().encode


def render(error: ApiError) -> bytes:
    return _encode(_ErrorBody(_Envelope(error.code, error.message, error.field, error.detail)))


def invalid_field(field: str, detail: str | None = None) -> ApiError:
    """A wrong value of ``field``: its own code (and the seed's message) when it has one, else
    ``invalid_request`` naming it; ``detail`` is the field's rule (or ``detail`` when it has none)."""
    rule = FIELD_RULES.get(field, detail)
    code = FIELD_CODES.get(field)
    if code is not None:
        return ApiError.of(code, field=field, detail=rule)
    return ApiError.of("invalid_request", message=detail or f"invalid {field}", field=field, detail=rule)


def missing_field(field: str) -> ApiError:
    """A required ``field`` not given: its code (unchanged) with a message that says it is missing."""
    code = FIELD_CODES.get(field, "invalid_request")
    label = FIELD_LABELS.get(field, field)
    return ApiError.of(code, message=f"missing {label}", field=field, detail=FIELD_RULES.get(field))


def from_core(exc: core.CourierError) -> ApiError:
    """Map core's error tree to its HTTP answer."""
    if isinstance(exc, core.InvalidInput):
        if exc.field == "request":
            return ApiError.of("invalid_request", message=exc.message)
        if exc.field in FIELD_CODES:
            return invalid_field(exc.field)
        # A rule across fields ("wait cannot be combined with dry_run"): core's words say it all.
        return ApiError.of("invalid_request", message=exc.message, field=exc.field)
    for kind, status, code in _CORE:
        if isinstance(exc, kind):
            if status == 503:
                return unavailable()
            return ApiError.of(code, status)
    return internal()


def unavailable() -> ApiError:
    retry = str(RETRY_AFTER_SECONDS).encode()
    return ApiError(503, "unavailable", MESSAGES["unavailable"], headers=((b"retry-after", retry),))


def internal() -> ApiError:
    return ApiError.of("internal", 500)
