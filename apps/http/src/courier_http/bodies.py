"""Request bodies: strict msgspec schemas (unknown fields refused) and their decoding errors.

Types here are what a well-formed request sends; the rules of values (a name's letters, a phone's
digits, an id's range) stay in core's validators. A decoding error becomes the code of the field it is
about (``api.md``: "Which code for which mistake").
"""

from __future__ import annotations

import re
from typing import Any, Generic, TypeVar

import msgspec

from courier_http.errors import ApiError, invalid_field

T = TypeVar("T")

_UNKNOWN = re.compile(r"unknown field `([^`]*)`")
_MISSING = re.compile(r"missing required field `([^`]*)`")
_AT_FIELD = re.compile(r"at `\$\.([A-Za-z_]+)")


class CreateCourierBody(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /courier``."""

    name: str
    phone: str
    status: str
    transport_type: str | None = None


class UpdateCourierBody(msgspec.Struct, forbid_unknown_fields=True):
    """``PUT /courier``: ``id`` and at least one field to change (``null`` = not given)."""

    id: int
    name: str | None = None
    phone: str | None = None
    status: str | None = None
    transport_type: str | None = None


class OrderBody(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /delivery/unassign`` and ``/delivery/complete``."""

    order_id: str


class AssignBody(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /delivery/assign``; the options beyond ``order_id`` come from ``dispatch-plus.md``."""

    order_id: str
    courier_id: int | None = None
    exclude_courier_ids: list[int] | None = None
    wait: bool | None = None
    dry_run: bool | None = None  # true: answer who would be picked and why, change nothing


class HandoverBody(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /api/v1/courier/{id}/handover``: the courier to take over the active delivery."""

    to_courier_id: int


class BodyDecoder(Generic[T]):
    """A reusable strict decoder of one body type that raises :class:`ApiError`."""

    __slots__ = ("_decode",)

    def __init__(self, kind: type[T]) -> None:
        self._decode = msgspec.json.Decoder(kind).decode

    def decode(self, body: bytes) -> T:
        """The body as ``T``; any other input raises :class:`ApiError` (400), never anything else."""
        try:
            return self._decode(body)
        except msgspec.ValidationError as exc:
            raise validation_error(str(exc)) from None
        except (msgspec.DecodeError, UnicodeDecodeError):  # msgspec raises the latter for bad UTF-8
            raise ApiError.of("invalid_json") from None


def validation_error(text: str) -> ApiError:
    """Translate msgspec's message into the spec's code for the field it names."""
    unknown = _UNKNOWN.search(text)
    if unknown:
        name = unknown.group(1)
        return ApiError.of("invalid_request", message=f"unknown field {name!r}", field=name)
    missing = _MISSING.search(text)
    if missing:
        return invalid_field(missing.group(1), f"missing field {missing.group(1)!r}")
    at_field = _AT_FIELD.search(text)
    if at_field:
        return invalid_field(at_field.group(1), f"invalid {at_field.group(1)}: {text}")
    return ApiError.of("invalid_request", message="the body must be a JSON object")


def schemas() -> tuple[type[Any], ...]:
    return (CreateCourierBody, UpdateCourierBody, OrderBody, AssignBody, HandoverBody)
