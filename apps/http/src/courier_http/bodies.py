"""Request bodies: strict msgspec schemas (unknown fields refused) and their decoding errors.

Types here are what a well-formed request sends; the rules of values (a name's letters, a phone's
digits, an id's range) stay in core's validators, and the OpenAPI document states them too (each field's
``Meta``: documentation only, never enforced here). A decoding error becomes the code of the field it is
about (``api.md``: "Which code for which mistake").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, Generic, TypeVar

import msgspec

from courier_core.model import MAX_ID, MAX_ORDER_ID_LENGTH
from courier_http.errors import FIELD_RULES, ApiError, invalid_field, missing_field

T = TypeVar("T")

_UNKNOWN = re.compile(r"unknown field `([^`]*)`")
_MISSING = re.compile(r"missing required field `([^`]*)`")
_AT_FIELD = re.compile(r"at `\$\.([A-Za-z_]+)")
_WHOLE_FLOAT = re.compile(r"Expected `int( \| null)?`, got `float`")


# What core's validators accept, as JSON Schema (model/validation.py: validate_courier_id, ...).
ID_SCHEMA: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
_ORDER_ID_CHAR = r"[^\u0000-\u001f\u007f-\u009f]"  # no control characters
_ORDER_ID_VISIBLE = r"[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
ORDER_ID_SCHEMA: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_ORDER_ID_LENGTH,
    "pattern": f"^{_ORDER_ID_CHAR}*{_ORDER_ID_VISIBLE}{_ORDER_ID_CHAR}*$",  # not blank
}
NAME_FORMAT = "courier-name"  # not expressible as a portable pattern: "a letter" of any script
PATH_PARAMETERS: dict[str, dict[str, Any]] = {"id": ID_SCHEMA, "order_id": ORDER_ID_SCHEMA}
CLIENT_STATUSES = ["available", "paused"]  # "busy" is the service's to set
TRANSPORT_TYPES = ["on_foot", "scooter", "car"]


def _documented(schema: dict[str, Any]) -> msgspec.Meta:
    return msgspec.Meta(extra_json_schema={k: v for k, v in schema.items() if k != "type"})


Id = Annotated[int, _documented(ID_SCHEMA)]
OrderId = Annotated[str, _documented(ORDER_ID_SCHEMA)]
Name = Annotated[
    str,
    msgspec.Meta(
        description=FIELD_RULES["name"],
        extra_json_schema={"format": NAME_FORMAT},
    ),
]
Phone = Annotated[str, msgspec.Meta(extra_json_schema={"pattern": r"^\+[0-9]{11}$"})]
ClientStatus = Annotated[str, msgspec.Meta(extra_json_schema={"enum": CLIENT_STATUSES})]
Transport = Annotated[str, msgspec.Meta(extra_json_schema={"enum": TRANSPORT_TYPES})]


class CreateCourierBody(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /courier``."""

    name: Name
    phone: Phone
    status: ClientStatus
    transport_type: Transport | None = None


class UpdateCourierBody(msgspec.Struct, forbid_unknown_fields=True):
    """``PUT /courier``: ``id`` and at least one field to change (``null`` = not given)."""

    id: Id
    name: Name | None = None
    phone: Phone | None = None
    status: ClientStatus | None = None
    transport_type: Transport | None = None


# The document's schema of PUT /courier's body: at least one field that is not null.
UpdateCourierRequest = Annotated[
    UpdateCourierBody,
    msgspec.Meta(
        extra_json_schema={
            "anyOf": [
                {"required": [name], "properties": {name: {"not": {"type": "null"}}}}
                for name in ("name", "phone", "status", "transport_type")
            ]
        }
    ),
]


class OrderBody(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /delivery/unassign`` and ``/delivery/complete``."""

    order_id: OrderId


class AssignBody(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /delivery/assign``; the options beyond ``order_id`` come from ``dispatch-plus.md``."""

    order_id: OrderId
    courier_id: Id | None = None
    exclude_courier_ids: list[Id] | None = None
    wait: bool | None = None
    dry_run: bool | None = None  # true: answer who would be picked and why, change nothing


class HandoverBody(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /api/v1/courier/{id}/handover``: the courier to take over the active delivery."""

    to_courier_id: Id


# The document's schema of POST /delivery/assign's body: the queue gives an order whoever is freed next,
# so "wait": true goes with no chosen and no excluded courier, and not with a dry run.
AssignRequest = Annotated[
    AssignBody,
    msgspec.Meta(
        extra_json_schema={
            "if": {"required": ["wait"], "properties": {"wait": {"const": True}}},
            "then": {
                "properties": {
                    "courier_id": {"type": "null"},
                    "exclude_courier_ids": {"anyOf": [{"type": "null"}, {"type": "array", "maxItems": 0}]},
                    "dry_run": {"enum": [None, False]},  # a dry run queues nothing
                }
            },
        }
    ),
]


def _is_text(kind: Any) -> bool:
    kind = getattr(kind, "type", kind)  # Metadata(type=...) around it
    if isinstance(kind, msgspec.inspect.UnionType):
        return any(_is_text(k) for k in kind.types)
    return isinstance(kind, msgspec.inspect.StrType)


# The seed's courier objects spell it so; a client sending its own objects back is understood.
_SEED_ALIASES = {"transport-type": "transport_type"}
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


class BodyDecoder(Generic[T]):
    """A reusable strict decoder of one body type that raises :class:`ApiError`.

    Strict (``/api/v1``): unknown fields refused, ``""`` in a text field invalid (that field's code).
    With ``seed`` (the fields the seed's request struct had; the unversioned paths), a body decodes as
    Go's ``encoding/json`` would: keys matched ASCII-case-insensitively (the last duplicate wins),
    unknown keys ignored, ``""`` meaning "not given"; but a body carrying any field the seed never had
    is decoded strictly, so a misspelt new field never changes what the request does. The lenient way
    is taken only when the strict decoding fails or a text field is ``""``.
    """

    __slots__ = ("_decode", "_kind", "_near_strict", "_required", "_seed", "_strict_only", "_texts", "decode")

    def __init__(self, kind: type[T], *, seed: frozenset[str] | None = None) -> None:
        self._kind = kind
        self._decode = msgspec.json.Decoder(kind).decode
        info = msgspec.inspect.type_info(kind)
        assert isinstance(info, msgspec.inspect.StructType)
        texts = tuple(f.name for f in info.fields if _is_text(f.type))
        # Strict: core's validate_order_id refuses a blank order id itself (invalid_order_id), so the
        # hot assign/unassign/complete bodies skip the look; the seed's way must see it ("" = not given).
        self._texts = texts if seed is not None else tuple(t for t in texts if t != "order_id")
        self._required = frozenset(f.name for f in info.fields if f.required)
        self._seed = seed
        self._strict_only = frozenset(f.name for f in info.fields) - (seed or frozenset())
        self._near_strict = tuple(_squashed(name) for name in self._strict_only)
        # No text field to look at (assign, unassign, complete under /api/v1): nothing added to msgspec.
        self.decode: Callable[[bytes], T] = self._checked if self._texts else self._plain

    def _plain(self, body: bytes) -> T:
        """``decode``: the body as ``T``; any other input raises :class:`ApiError` (400), never
        anything else."""
        try:
            return self._decode(body)
        except msgspec.ValidationError as exc:
            return self._refused(body, exc)[0]
        except (msgspec.DecodeError, UnicodeDecodeError):  # msgspec raises the latter for bad UTF-8
            raise ApiError.of("invalid_json") from None

    def _checked(self, body: bytes) -> T:
        """``decode`` of a body with text fields: ``""`` in one of them is looked at."""
        return self.decode_seed(body)[0]

    def decode_seed(self, body: bytes) -> tuple[T, bool]:
        """The body and whether a ``""`` was dropped from it as "not given" (the seed's way only)."""
        try:
            value = self._decode(body)
        except msgspec.ValidationError as exc:
            return self._refused(body, exc)
        except (msgspec.DecodeError, UnicodeDecodeError):
            raise ApiError.of("invalid_json") from None
        if b'""' in body and self._has_empty(value):  # an empty JSON string is spelt "" in the bytes
            return self._empty(value)
        return value, False

    def _has_empty(self, value: T) -> bool:
        return any(getattr(value, name) == "" for name in self._texts)

    def _refused(self, body: bytes, exc: msgspec.ValidationError) -> tuple[T, bool]:
        """The strict decoding failed: the seed's way, whole floats, or the error of the field."""
        if self._seed is not None:
            return self._seed_decode(body, exc)
        if _WHOLE_FLOAT.match(str(exc)):
            return self._no_empty_text(self._whole_floats(body)), False
        # msgspec validates as it parses: a field it refuses may come before a syntax error.
        _well_formed(body)
        raise validation_error(str(exc)) from None

    def _empty(self, value: T) -> tuple[T, bool]:
        if self._seed is not None:
            return self._not_given(value), True
        return self._no_empty_text(value), False

    def _no_empty_text(self, value: T) -> T:
        """Strict: ``""`` is a wrong value of its field (POST and PUT alike)."""
        for name in self._texts:
            if getattr(value, name) == "":
                raise invalid_field(name)
        return value

    def _not_given(self, value: T) -> T:
        """Seed: ``""`` is "not given" (a required field is then missing)."""
        empty = {name: None for name in self._texts if getattr(value, name) == ""}
        for name in empty:
            if name in self._required:
                raise missing_field(name)
        return msgspec.structs.replace(value, **empty)  # type: ignore[type-var]

    def _seed_decode(self, body: bytes, strict: msgspec.ValidationError) -> tuple[T, bool]:
        """Decode as the seed did: see the class's docstring."""
        assert self._seed is not None
        try:
            raw = msgspec.json.decode(body)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
            raise ApiError.of("invalid_json") from None
        if not isinstance(raw, dict):
            raise validation_error(str(strict))
        fields: dict[str, Any] = {}
        for key, value in raw.items():
            name = key.translate(_ASCII_LOWER)
            if name in self._strict_only:  # a field of ours, not the seed's: no leniency at all
                if _WHOLE_FLOAT.match(str(strict)):
                    return self._no_empty_text(self._whole_floats(body)), False
                raise validation_error(str(strict))
            name = _SEED_ALIASES.get(name, name)
            if name in self._seed:
                fields[name] = value  # the last duplicate wins, as in Go
            elif self._looks_strict(name):  # dryRun, dry-run, courierId, exclude_courier_id...
                raise validation_error(str(strict))
        emptied = False
        for name in self._texts:
            if fields.get(name) == "":
                del fields[name]
                emptied = True
        try:
            return msgspec.convert({n: _as_integer(v) for n, v in fields.items()}, self._kind), emptied
        except msgspec.ValidationError as exc:
            raise validation_error(str(exc)) from None

    def _looks_strict(self, name: str) -> bool:
        """Whether an unknown key is one of our fields misspelt: ignoring it would change what the
        request does (a dry run made real, a chosen courier ignored), so the body is decoded strictly."""
        squashed = _squashed(name)
        return any(_near(squashed, field) for field in self._near_strict)

    def _whole_floats(self, body: bytes) -> T:
        """Decode again reading ``2.0`` as ``2`` (JSON Schema's integers), in fields and their lists."""
        try:
            fields = msgspec.json.decode(body)
            if isinstance(fields, dict):
                fields = {name: _as_integer(value) for name, value in fields.items()}
            return msgspec.convert(fields, self._kind)
        except msgspec.ValidationError as exc:
            raise validation_error(str(exc)) from None
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):  # the rest was never read
            raise ApiError.of("invalid_json") from None


def _squashed(name: str) -> str:
    """``dry_run``, ``dryRun``, ``Dry-Run`` -> ``dryrun``."""
    return name.translate(_ASCII_LOWER).replace("_", "").replace("-", "")


def _near(key: str, field: str) -> bool:
    """``key`` equals ``field`` or is one or two edits from it (one for names under six letters)."""
    allowed = 2 if len(field) >= 6 else 1
    if abs(len(key) - len(field)) > allowed:
        return False
    previous = list(range(len(field) + 1))
    for i, a in enumerate(key, 1):
        current = [i]
        for j, b in enumerate(field, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a != b)))
        previous = current
    return previous[-1] <= allowed


def _well_formed(body: bytes) -> None:
    """Raise ``invalid_json`` when ``body`` is not JSON at all (checked only on the error path)."""
    try:
        msgspec.json.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        raise ApiError.of("invalid_json") from None


def _as_integer(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [int(v) if isinstance(v, float) and v.is_integer() else v for v in value]
    return value


def validation_error(text: str) -> ApiError:
    """Translate msgspec's message into the spec's code for the field it names."""
    unknown = _UNKNOWN.search(text)
    if unknown:
        name = unknown.group(1)
        return ApiError.of("invalid_request", message=f"unknown field {name!r}", field=name)
    missing = _MISSING.search(text)
    if missing:
        return missing_field(missing.group(1))
    at_field = _AT_FIELD.search(text)
    if at_field:  # the field's code and rule; never msgspec's own words ("Expected `int`, got ...")
        return invalid_field(at_field.group(1))
    return ApiError.of("invalid_request", message="the body must be a JSON object")


# The fields of the seed's request structs (the unversioned paths decode these leniently).
SEED_COURIER = frozenset({"name", "phone", "status", "transport_type"})
SEED_UPDATE = SEED_COURIER | {"id"}
SEED_ORDER = frozenset({"order_id"})


def schemas() -> tuple[type[Any], ...]:
    return (CreateCourierBody, UpdateCourierBody, OrderBody, AssignBody, HandoverBody)
