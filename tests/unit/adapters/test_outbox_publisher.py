"""The records the relay sends to Kafka (no broker needed)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from courier_adapters.kafka.publisher import encode
from courier_core.model import EventType, OutboxEvent, StoredEvent

AT = datetime(2026, 11, 25, 10, 0, 0, 123456, tzinfo=UTC)


def test_a_record_is_keyed_by_the_event_key_and_carries_its_message_and_headers() -> None:
    event = OutboxEvent(
        event_id="5f0c2b1e-9d7a-4c3e-8b1a-2f6d7e8c9a0b",
        type=EventType.DELIVERY_ASSIGNED,
        key="order-Ω",
        occurred_at=AT,
        data={"order_id": "order-Ω", "courier_id": 7, "deadline": "2026-11-25T10:05:00Z"},
    )
    key, value, headers = encode(StoredEvent(position=42, event=event))
    assert key == "order-Ω".encode()
    assert json.loads(value) == event.message()
    assert json.loads(value)["occurred_at"] == "2026-11-25T10:00:00.123456Z"
    assert "Ω".encode() in value  # UTF-8 kept as is, not escaped
    assert headers == [("type", b"delivery.assigned"), ("event_id", event.event_id.encode())]
