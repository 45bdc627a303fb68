"""Publishing the simulator's status changes to Kafka, as the real order service does (``events.md``).

Each change is one JSON value ``{"order_id", "status", "created_at"}`` with no key on the topic
(``order.status.changed`` by default); ``created_at`` is the time of the change (RFC 3339, UTC).
kafka-python blocks, so each send runs in a worker thread and waits for the broker's acknowledgement:
events leave in the order they happened.
"""

from __future__ import annotations

import asyncio
import json
import warnings
from datetime import UTC
from typing import TYPE_CHECKING

from courier_order_sim.orders import SimOrder

if TYPE_CHECKING:
    from kafka import KafkaProducer

DEFAULT_TOPIC = "order.status.changed"
SEND_TIMEOUT = 10.0


def event_value(order: SimOrder) -> bytes:
    at = order.updated_at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return json.dumps({"order_id": order.id, "status": order.status, "created_at": at}).encode()


class KafkaPublisher:
    """Sends every status change to ``topic`` on the brokers at ``bootstrap_servers``."""

    def __init__(self, producer: KafkaProducer, topic: str = DEFAULT_TOPIC) -> None:
        self._producer = producer
        self.topic = topic
        # One send at a time keeps the events of one order in the order they happened.
        self._lock = asyncio.Lock()

    @classmethod
    async def connect(cls, bootstrap_servers: str, topic: str = DEFAULT_TOPIC) -> KafkaPublisher:
        with warnings.catch_warnings():  # kafka-python 3 loads its schemas with a deprecated importlib call
            warnings.simplefilter("ignore", DeprecationWarning)
            from kafka import KafkaProducer

        producer = await asyncio.to_thread(
            KafkaProducer, bootstrap_servers=bootstrap_servers.split(","), acks="all", linger_ms=0
        )
        return cls(producer, topic)

    async def publish(self, order: SimOrder) -> None:
        value = event_value(order)
        async with self._lock:
            await asyncio.to_thread(self._send, value)

    def _send(self, value: bytes) -> None:
        self._producer.send(self.topic, value=value).get(timeout=SEND_TIMEOUT)

    async def close(self) -> None:
        await asyncio.to_thread(self._producer.close, timeout=SEND_TIMEOUT)
