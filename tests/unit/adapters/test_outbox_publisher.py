"""The records the relay sends to Kafka, and how an unreachable broker is reported (no broker needed)."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime

import pytest

from courier_adapters.kafka.publisher import check_reachable, encode
from courier_core.errors import DependencyUnavailable
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


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_an_unreachable_broker_is_a_broker_dependency_failure_naming_it() -> None:
    servers = f"127.0.0.1:{_closed_port()}"
    with pytest.raises(DependencyUnavailable) as raised:
        check_reachable(servers, timeout=1)
    assert raised.value.dependency == "broker"
    assert raised.value.message == f"Kafka at {servers} is unreachable: Connection refused"


def test_one_reachable_bootstrap_server_is_enough() -> None:
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        check_reachable(f"127.0.0.1:{_closed_port()},127.0.0.1:{port}", timeout=1)
