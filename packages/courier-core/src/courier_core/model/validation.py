"""Input rules: every value that enters courier is checked here once (the apps add no rule of their own)."""

from __future__ import annotations

import re
import unicodedata

from courier_core.errors import InvalidInput
from courier_core.model.values import (
    MAX_ID,
    MAX_NAME_LENGTH,
    MAX_ORDER_ID_LENGTH,
    CourierStatus,
    DeliveryStatus,
    TransportType,
)

_PHONE = re.compile(r"\+[0-9]{11}")
_NAME_SEPARATORS = frozenset(" -'\u2019")


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
