"""Events out: the outbox's events on Kafka (``courier.events``), keyed so each key stays in order.

Each event is one record: key ``event.key`` (the order id for ``delivery.*`` and ``order.waiting``, the
courier id for ``courier.*``), value the JSON of :meth:`OutboxEvent.message`, headers ``type`` and
``event_id``. The producer waits for every in-sync replica (``acks=all``) and keeps one request in
flight per connection, so a retried request can never overtake the one after it: per partition (so per
key), records land in the order they were sent, which is commit order.

kafka-python blocks: :meth:`KafkaEventPublisher.publish` runs it in a worker thread. A publish that
fails (broker unreachable, a record not acknowledged in time) raises ``DependencyUnavailable`` with
``dependency="broker"`` and throws the producer away (records still queued in it are dropped with it);
the next publish connects again and the relay sends the same events again, with the same ``event_id``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
from collections.abc import Sequence
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from courier_core.errors import DependencyUnavailable
from courier_core.model import StoredEvent

log = logging.getLogger("courier.kafka.publisher")
DEFAULT_TIMEOUT = 15.0
TYPE_HEADER = "type"
EVENT_ID_HEADER = "event_id"


def encode(stored: StoredEvent) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """The record of an event: key, value, headers."""
    event = stored.event
    value = json.dumps(event.message(), ensure_ascii=False, separators=(",", ":")).encode()
    headers = [(TYPE_HEADER, event.type.value.encode()), (EVENT_ID_HEADER, event.event_id.encode())]
    return event.key.encode(), value, headers


class KafkaEventPublisher:
    """Core's ``EventPublisher`` on Kafka: one producer, connected on first use."""

    def __init__(self, bootstrap_servers: str, *, topic: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self._timeout = timeout
        self._producer: Any = None
        self._lock = threading.Lock()  # one publish at a time: the order of sends is the order of events

    async def publish(self, events: Sequence[StoredEvent]) -> None:
        if events:
            await asyncio.to_thread(self.publish_now, list(events))

    def publish_now(self, events: Sequence[StoredEvent]) -> None:
        """Send ``events`` in order and wait until the broker acknowledged every one (blocking)."""
        with self._lock:
            try:
                producer = self._connected()
                futures = []
                for stored in events:
                    key, value, headers = encode(stored)
                    futures.append(producer.send(self.topic, key=key, value=value, headers=headers))
                producer.flush(timeout=self._timeout)
                for future in futures:
                    future.get(timeout=self._timeout)
            except KafkaError as exc:
                self._discard()
                raise DependencyUnavailable(
                    f"Kafka at {self.bootstrap_servers} did not take the events: {_reason(exc)}",
                    dependency="broker",
                ) from exc

    def _connected(self) -> Any:
        if self._producer is None:
            millis = int(self._timeout * 1000)
            self._producer = KafkaProducer(
                bootstrap_servers=self.bootstrap_servers.split(","),
                acks="all",
                max_in_flight_requests_per_connection=1,  # a retry never overtakes: per-partition order
                retries=5,
                retry_backoff_ms=200,
                linger_ms=2,  # a batch of the relay leaves in a few requests, not one per event
                batch_size=256 * 1024,
                request_timeout_ms=millis,
                delivery_timeout_ms=millis + 5000,  # at least request timeout + linger
                max_block_ms=millis,
                bootstrap_timeout_ms=millis,
            )
        return self._producer

    def _discard(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.close(timeout=0)
            except Exception:  # it failed already; nothing more to learn
                log.debug("closing a failed producer failed", exc_info=True)

    def close(self, timeout: float = 5.0) -> None:
        with self._lock:
            producer, self._producer = self._producer, None
            if producer is not None:
                producer.close(timeout=timeout)

    async def aclose(self, timeout: float = 5.0) -> None:
        await asyncio.to_thread(self.close, timeout)


def _reason(exc: KafkaError) -> str:
    text, name = str(exc).strip(), type(exc).__name__
    return text if text.startswith(name) else f"{name}: {text}" if text else name


def check_reachable(bootstrap_servers: str, *, timeout: float = 5.0) -> None:
    """Fail fast, with the reason, when no bootstrap server accepts a TCP connection.

    (A kafka-python client that cannot bootstrap retries until its timeout, logs every refusal as an
    error and leaves its sockets to the garbage collector: a plain connection says it sooner.)
    """
    servers = [s.strip() for s in bootstrap_servers.split(",") if s.strip()]
    reasons = []
    for server in servers:
        host, _, port = server.rpartition(":")
        try:
            socket.create_connection((host.strip("[]") or "localhost", int(port)), timeout=timeout).close()
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or "no answer"
            reasons.append(reason if len(servers) == 1 else f"{server}: {reason}")
            continue
        return
    raise DependencyUnavailable(
        f"Kafka at {bootstrap_servers} is unreachable: {'; '.join(reasons)}", dependency="broker"
    )
