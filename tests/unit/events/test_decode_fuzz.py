"""Fuzzing the event decoder: whatever a producer puts on the topic, ``decode_event`` either returns a
valid :class:`OrderEvent` or raises :class:`InvalidEvent` (a poison message), never anything else."""

from __future__ import annotations

import json
import unicodedata
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from courier_core.errors import InvalidInput
from courier_core.model import MAX_ORDER_ID_LENGTH, validate_order_id
from courier_core.usecases.events import MAX_STATUS_LENGTH, InvalidEvent, OrderEvent, decode_event

BROKER_TIME = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
FIELDS = ("order_id", "status", "created_at")

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
offsets = st.builds(
    lambda minutes: timezone(timedelta(minutes=minutes)),
    st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59),
)
# Any instant datetime can spell, in any offset: the far ends overflow when moved to UTC.
times = st.datetimes(timezones=offsets | st.just(UTC)).map(datetime.isoformat)
field_values = st.one_of(json_values, times, times.map(lambda t: t.replace("+00:00", "Z")))
event_like = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), field_values, max_size=5)


def check(value: bytes | None, broker_time: datetime | None = None) -> OrderEvent | None:
    """Decode ``value``: an event that holds the module's promises, or ``None`` for poison."""
    try:
        event = decode_event(value, broker_time=broker_time)
    except InvalidEvent as poison:
        reason = (poison.field, poison.message)
    else:
        reason = None
    if reason is not None:
        assert reason[0] in ("value", *FIELDS) and reason[1]
        return None
    assert validate_order_id(event.order_id) == event.order_id
    assert 1 <= len(event.status) <= MAX_STATUS_LENGTH
    assert event.status == event.status.strip().lower()
    assert not any(unicodedata.category(c) in ("Cc", "Cs") for c in event.status)
    assert event.occurred_at.utcoffset() == timedelta(0)
    assert len(event.key) == 32  # the identity can always be computed (no unencodable character)
    return event


@settings(max_examples=300)
@given(st.binary(max_size=300))
@example(b"[" * 100_000)
@example(b'{"order_id":' * 100_000)
@example(b"\xff\xfe\x00\x00")
@example(b'{"order_id": "o", "status": "created", "created_at": "' + b"9" * 5000 + b'"}')
@example(b'{"order_id": "o", "status": "created", "x": ' + b"1" * 5000 + b"}")
def test_arbitrary_bytes_decode_or_are_poison(value: bytes) -> None:
    check(value)
    check(value, BROKER_TIME)


@settings(max_examples=300)
@given(json_values)
def test_arbitrary_json_decodes_or_is_poison(data: object) -> None:
    check(json.dumps(data).encode())


@settings(max_examples=500)
@given(event_like, st.booleans())
@example({"order_id": "o", "status": "created", "created_at": "0001-01-01T00:00:00+01:00"}, False)
@example({"order_id": "o", "status": "created", "created_at": "9999-12-31T23:59:59-01:00"}, False)
@example({"order_id": "o", "status": "\ud800", "created_at": "2026-11-24T10:00:00Z"}, False)
@example({"order_id": "o", "status": "crea\x00ted", "created_at": "2026-11-24T10:00:00Z"}, False)
@example({"order_id": "o\ud800", "status": "created"}, True)
def test_event_shaped_objects_decode_or_are_poison(data: dict[str, object], ascii_only: bool) -> None:
    check(json.dumps(data, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass"), BROKER_TIME)


@pytest.mark.parametrize(
    ("value", "field"),
    [
        (b"[" * 100_000, "value"),
        (b'{"a":' * 100_000, "value"),
        (b'{"order_id":"o","status":"created","created_at":"0001-01-01T00:00:00+01:00"}', "created_at"),
        (b'{"order_id":"o","status":"created","created_at":"9999-12-31T23:59:59-01:00"}', "created_at"),
        (b'{"order_id":"o","status":"\\ud800","created_at":"2026-11-24T10:00:00Z"}', "status"),
        (b'{"order_id":"o","status":"crea\\u0000ted","created_at":"2026-11-24T10:00:00Z"}', "status"),
        (
            json.dumps({"order_id": "o", "status": "İ" * 20, "created_at": "2026-11-24T10:00:00Z"}).encode(),
            "status",
        ),
    ],
    ids=[
        "deep-array",
        "deep-object",
        "before-utc-year-1",
        "after-utc-year-9999",
        "surrogate",
        "nul",
        "long-once-lowered",
    ],
)
def test_what_the_fuzzing_found_is_poison_with_a_reason(value: bytes, field: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        decode_event(value)
    assert caught.value.field == field


def _order_id(text: str) -> bool:
    try:
        validate_order_id(text)
    except InvalidInput:
        return False
    return True


order_ids = st.text(min_size=1, max_size=MAX_ORDER_ID_LENGTH).filter(_order_id)
statuses = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp")), min_size=1, max_size=MAX_STATUS_LENGTH
).filter(lambda status: len(status.lower()) <= MAX_STATUS_LENGTH)
instants = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=offsets | st.just(UTC)
)


@settings(max_examples=300)
@given(order_ids, statuses, instants, st.booleans())
@example(
    "f819526d-6a7c-48eb-b535-43989469d1ca", "Created", datetime(2026, 11, 24, 10, 15, 30, tzinfo=UTC), True
)
@example("'; DROP TABLE couriers; --", "canceled", datetime(2026, 11, 24, tzinfo=UTC), False)
def test_valid_events_round_trip(order_id: str, status: str, at: datetime, ascii_only: bool) -> None:
    raw = json.dumps(
        {"order_id": order_id, "status": status, "created_at": at.isoformat()}, ensure_ascii=ascii_only
    ).encode()
    event = decode_event(raw)
    assert event == OrderEvent(order_id, status.lower(), at.astimezone(UTC))
    # The producer's own form (order-sim: UTC, "Z") decodes to the same event, with the same identity.
    again = json.dumps(
        {"order_id": event.order_id, "status": event.status, "created_at": event.occurred_at.isoformat()}
    )
    assert decode_event(again.replace("+00:00", "Z").encode()).key == event.key
