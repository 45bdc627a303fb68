"""Decoding order events: what is valid, and what is poison (with the reason)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from courier_core.usecases.events import InvalidEvent, OrderEvent, decode_event, status_label

BROKER_TIME = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def raw(**fields: object) -> bytes:
    return json.dumps(fields).encode()


def test_decodes_the_spec_example() -> None:
    event = decode_event(raw(order_id="f819526d", status="created", created_at="2026-11-24T10:15:30Z"))
    assert event == OrderEvent("f819526d", "created", datetime(2026, 11, 24, 10, 15, 30, tzinfo=UTC))


def test_offsets_are_normalised_to_utc_and_status_lowercased() -> None:
    event = decode_event(raw(order_id="o", status=" Canceled ", created_at="2026-11-24T13:15:30+03:00"))
    assert event.status == "canceled"
    assert event.occurred_at == datetime(2026, 11, 24, 10, 15, 30, tzinfo=UTC)
    assert event.occurred_at.tzinfo == UTC


def test_missing_created_at_takes_the_broker_timestamp() -> None:
    event = decode_event(raw(order_id="o", status="pending"), broker_time=BROKER_TIME)
    assert event.occurred_at == BROKER_TIME


@pytest.mark.parametrize(
    ("value", "field", "reason"),
    [
        (b"{not json", "value", "not valid JSON"),
        (b"\xff\xfe", "value", "not valid JSON"),
        (b"[1, 2]", "value", "not a JSON object"),
        (b"null", "value", "not a JSON object"),
        (raw(status="created", created_at="2026-11-24T10:15:30Z"), "order_id", "missing"),
        (raw(order_id="o", created_at="2026-11-24T10:15:30Z"), "status", "missing"),
        (raw(order_id=42, status="created"), "order_id", "string"),
        (raw(order_id="   ", status="created"), "order_id", "string"),
        (raw(order_id="x" * 256, status="created"), "order_id", "1-255"),
        (raw(order_id="complete", status="created"), "order_id", "reserved"),
        (raw(order_id="o", status=7), "status", "string"),
        (raw(order_id="o", status="s" * 33), "status", "1-32"),
        (raw(order_id="o", status="created", created_at="yesterday"), "created_at", "RFC 3339"),
        (raw(order_id="o", status="created", created_at=1700000000), "created_at", "RFC 3339"),
        (raw(order_id="o", status="created", created_at="2026-11-24T10:15:30"), "created_at", "zone"),
        (raw(order_id="o", status="created"), "created_at", "missing"),
    ],
)
def test_poison_values_say_what_is_wrong(value: bytes, field: str, reason: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        decode_event(value)
    assert caught.value.field == field
    assert reason in caught.value.message


def test_none_value_is_poison() -> None:
    with pytest.raises(InvalidEvent, match="not a JSON object"):
        decode_event(None)


def test_key_depends_on_the_value_only() -> None:
    at = datetime(2026, 11, 24, 10, 15, 30, tzinfo=UTC)
    same_instant = at.astimezone(timezone(timedelta(hours=3)))
    assert OrderEvent("o", "created", at).key == OrderEvent("o", "created", same_instant).key
    assert OrderEvent("o", "created", at).key != OrderEvent("o", "pending", at).key
    assert OrderEvent("o", "created", at).key != OrderEvent("o2", "created", at).key
    assert OrderEvent("o", "created", at).key != OrderEvent("o", "created", at + timedelta(seconds=1)).key
    assert len(OrderEvent("o", "created", at).key) == 32


def test_status_label_bounds_cardinality() -> None:
    assert status_label("created") == "created"
    assert status_label("cancelled") == "cancelled"
    assert status_label("something-new") == "other"
