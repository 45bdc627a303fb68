"""Fuzzing the request decoding: whatever a client sends as a body, path id, query or header, the
decoders return a value of their type or raise :class:`ApiError` with a 4xx status, never anything else."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

import msgspec
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from courier_core.model import MAX_ID, DeliveryCursor
from courier_http import bodies
from courier_http.api import decode_cursor, encode_cursor, if_match, path_id, query_args, query_int
from courier_http.auth import bearer
from courier_http.errors import MESSAGES, ApiError, render
from courier_http.exchange import Call

T = TypeVar("T")
BODIES = bodies.schemas()
FIELDS = sorted({name for kind in BODIES for name in kind.__struct_fields__})

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
body_like = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), json_values, max_size=6)


def refused(error: ApiError) -> None:
    """A refusal is the spec's envelope: a 4xx, a known code, and a body that renders."""
    assert 400 <= error.status < 500
    assert error.code in MESSAGES and error.message
    assert error.field is None or isinstance(error.field, str)
    assert msgspec.json.decode(render(error))["error"]["code"] == error.code


def outcome(decode: Callable[[], T]) -> T | None:
    """``decode()``'s value, or ``None`` when it raised :class:`ApiError` (checked); anything else fails."""
    try:
        return decode()
    except ApiError as error:
        caught = error
    refused(caught)
    return None


@pytest.mark.parametrize("kind", BODIES, ids=lambda kind: kind.__name__)
@settings(max_examples=150)
@given(raw=st.binary(max_size=200))
@example(raw=b"[" * 100_000)
@example(raw=b'{"order_id":' + b"[" * 100_000)
@example(raw=b'{"order_id": "\\ud800"}')
@example(raw=b'{"order_id": "o\xff"}')
@example(raw=b'{"id": ' + b"9" * 5000 + b"}")
@example(raw=b"\x00")
def test_arbitrary_bytes_decode_or_are_refused(kind: type[Any], raw: bytes) -> None:
    decoded = outcome(lambda: bodies.BodyDecoder(kind).decode(raw))
    assert decoded is None or isinstance(decoded, kind)


@pytest.mark.parametrize("kind", BODIES, ids=lambda kind: kind.__name__)
@settings(max_examples=150)
@given(data=body_like | json_values)
def test_arbitrary_json_decodes_or_is_refused(kind: type[Any], data: object) -> None:
    raw = msgspec.json.encode(data)
    decoded = outcome(lambda: bodies.BodyDecoder(kind).decode(raw))
    assert decoded is None or isinstance(decoded, kind)


@settings(max_examples=300)
@given(st.text(max_size=300))
@example("unknown field `\x00`")
@example("missing required field ``")
@example("Expected `int`, got `str` - at `$.id`")
def test_any_message_of_the_json_library_becomes_an_error_answer(text: str) -> None:
    refused(bodies.validation_error(text))


texts = st.text(max_size=30) | st.sampled_from(
    ["0", "1", str(MAX_ID), str(MAX_ID + 1), "١٢٣", "٣", "+1", " 1"]
)


@settings(max_examples=300)
@given(texts)
def test_path_ids_and_integer_query_values_are_in_range_or_refused(text: str) -> None:
    value = outcome(lambda: path_id(text))
    assert value is None or (1 <= value <= MAX_ID and str(value) == text)
    limit = outcome(lambda: query_int({"limit": text}, "limit", 100, minimum=1, maximum=1000))
    assert limit is None or 1 <= limit <= 1000


offsets = st.builds(lambda minutes: timezone(timedelta(minutes=minutes)), st.integers(-1439, 1439))


def encode_raw(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@settings(max_examples=300)
@given(st.text(max_size=80) | st.binary(max_size=60).map(encode_raw))
@example(encode_raw(b'["0001-01-01T00:00:00+01:00", "x"]'))
@example(encode_raw(b'["2026-11-24T10:00:00", "x"]'))
@example(encode_raw(b'["2026-11-24T10:00:00+00:00", "\\ud800"]'))
def test_cursors_decode_or_are_refused(text: str) -> None:
    cursor = outcome(lambda: decode_cursor(text))
    assert cursor is None or cursor.assigned_at.tzinfo is not None


@settings(max_examples=200)
@given(st.datetimes(timezones=offsets | st.just(UTC)), st.text(min_size=1, max_size=255))
@example(datetime(2026, 11, 24, 10, 15, 30, 123456, tzinfo=UTC), "'; DROP TABLE couriers; --")
def test_cursors_round_trip(at: datetime, order_id: str) -> None:
    cursor = DeliveryCursor(assigned_at=at, order_id=order_id)
    assert decode_cursor(encode_cursor(cursor)) == cursor


@settings(max_examples=300)
@given(st.binary(max_size=40))
@example(b'W/"12"')
@example(b'"' + b"9" * 40 + b'"')
def test_if_match_is_a_version_or_cannot_match(header: bytes) -> None:
    version = if_match(header)
    assert version is None or version >= -1


@settings(max_examples=300)
@given(
    st.binary(max_size=200), st.lists(st.tuples(st.binary(max_size=20), st.binary(max_size=40)), max_size=4)
)
@example(b"a=%00&b=%ff&%zz=1&&=", [(b"authorization", b"Bearer \xff\x00")])
def test_queries_and_headers_decode_to_text(query: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    call = Call({"type": "http", "query_string": query, "headers": headers, "path_params": {}}, b"")
    pairs = call.query()
    assert all(isinstance(name, str) and isinstance(value, str) for name, value in pairs)
    allowed = frozenset(name for name, _ in pairs[:1])
    args = outcome(lambda: query_args(call, allowed))
    assert args is None or set(args) <= allowed
    token = bearer({"headers": headers})
    assert token is None or (token and token == token.strip())


def _valid_bodies() -> dict[type[Any], st.SearchStrategy[Any]]:
    ints = st.integers(min_value=-(2**63), max_value=2**63 - 1)
    text = st.text(min_size=1, max_size=40)  # "" is invalid under /api/v1 (test_errors: empty strings)

    def maybe(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.none() | values

    return {
        bodies.CreateCourierBody: st.builds(bodies.CreateCourierBody, text, text, text, maybe(text)),
        bodies.UpdateCourierBody: st.builds(
            bodies.UpdateCourierBody, ints, maybe(text), maybe(text), maybe(text), maybe(text)
        ),
        bodies.OrderBody: st.builds(bodies.OrderBody, text),
        bodies.AssignBody: st.builds(
            bodies.AssignBody,
            text,
            maybe(ints),
            maybe(st.lists(ints, max_size=5)),
            maybe(st.booleans()),
            maybe(st.booleans()),
        ),
        bodies.HandoverBody: st.builds(bodies.HandoverBody, ints),
    }


@pytest.mark.parametrize("kind", BODIES, ids=lambda kind: kind.__name__)
@settings(max_examples=100)
@given(data=st.data())
def test_well_formed_bodies_round_trip(kind: type[Any], data: st.DataObject) -> None:
    body = data.draw(_valid_bodies()[kind])
    assert bodies.BodyDecoder(kind).decode(msgspec.json.encode(body)) == body


def _as_floats(value: Any) -> Any:
    """``value`` with every integer spelled as a float (2 → 2.0), as JSON Schema allows."""
    if isinstance(value, bool) or not isinstance(value, int | list | dict):
        return value
    if isinstance(value, int):
        return float(value) if abs(value) <= 2**53 else value
    if isinstance(value, list):
        return [_as_floats(v) for v in value]
    return {k: _as_floats(v) for k, v in value.items()}


@pytest.mark.parametrize("kind", BODIES, ids=lambda kind: kind.__name__)
@settings(max_examples=100)
@given(data=st.data())
def test_whole_floats_are_the_integers_they_spell(kind: type[Any], data: st.DataObject) -> None:
    """JSON Schema (and so the OpenAPI document) counts 2.0 as the integer 2: so does the decoder."""
    body = data.draw(_valid_bodies()[kind])
    raw = msgspec.json.encode(_as_floats(msgspec.to_builtins(body)))
    decoded = bodies.BodyDecoder(kind).decode(raw)
    assert decoded == body
    assert all(type(getattr(decoded, f)) is type(getattr(body, f)) for f in kind.__struct_fields__)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"id": 7.5, "name": "Ivan"}',
        b'{"id": 1e400, "name": "Ivan"}',
        b'{"id": 1.0, "name": ' + b"[" * 100_000,
        b'{"id": 1.0, oops',
        b'{"id": 1.0, "name": "\xff"}',
        b'{"id": 1.0, "name": 2.0}',
    ],
)
def test_other_numbers_where_an_integer_goes_are_refused(raw: bytes) -> None:
    outcome(lambda: bodies.BodyDecoder(bodies.UpdateCourierBody).decode(raw))
    with pytest.raises(ApiError):
        bodies.BodyDecoder(bodies.UpdateCourierBody).decode(raw)
