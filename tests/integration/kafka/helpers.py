"""Helpers for tests against the real broker and PostgreSQL (shared by the consumer's e2e tests)."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from kafka import KafkaConsumer, KafkaProducer

from courier_adapters.kafka.embedded import EmbeddedBroker
from courier_adapters.postgres.database import PoolSession, PostgresDatabase
from courier_adapters.settings import Settings, load_settings
from courier_consumer.app import ConsumerApp

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
PARTITIONS = 4


@dataclass(frozen=True)
class Topics:
    """A test's topics and consumer group on a broker."""

    bootstrap_servers: str
    topic: str
    dlq: str
    group: str


def new_order_id() -> str:
    return str(uuid.uuid4())


def event(order_id: str, status: str, seconds: float = 0) -> dict[str, str]:
    at = T0 + timedelta(seconds=seconds)
    return {"order_id": order_id, "status": status, "created_at": at.isoformat().replace("+00:00", "Z")}


@dataclass(frozen=True)
class ExternalBroker:
    """A broker this session did not start (``COURIER_TEST_KAFKA_BOOTSTRAP_SERVERS``)."""

    bootstrap_servers: str


@contextmanager
def session_broker() -> Iterator[EmbeddedBroker | ExternalBroker]:
    """The broker of ``COURIER_TEST_KAFKA_BOOTSTRAP_SERVERS`` (e.g. Apache Kafka), else an embedded Tansu."""
    external = os.environ.get("COURIER_TEST_KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield ExternalBroker(external)
        return
    with EmbeddedBroker.start() as running:
        yield running


class Producer:
    """Sends raw or JSON values to a topic, optionally to one partition, and waits for the broker."""

    def __init__(self, bootstrap_servers: str, topic: str) -> None:
        self.topic = topic
        self._producer = KafkaProducer(bootstrap_servers=bootstrap_servers, acks="all", linger_ms=5)

    def send(self, value: dict[str, Any] | bytes, *, partition: int | None = None) -> None:
        raw = value if isinstance(value, bytes) else json.dumps(value).encode()
        self._producer.send(self.topic, value=raw, partition=partition)

    def send_now(self, value: dict[str, Any] | bytes, *, partition: int | None = None) -> None:
        self.send(value, partition=partition)
        self.flush()

    def flush(self) -> None:
        self._producer.flush(timeout=30)

    def close(self) -> None:
        self._producer.close(timeout=5)


def read_topic(bootstrap_servers: str, topic: str, *, expected: int, timeout: float = 30.0) -> list[Any]:
    """Read at least ``expected`` records of ``topic`` from the beginning (no group)."""
    consumer = KafkaConsumer(
        topic, bootstrap_servers=bootstrap_servers, auto_offset_reset="earliest", enable_auto_commit=False
    )
    records: list[Any] = []
    try:
        deadline = time.monotonic() + timeout
        while len(records) < expected and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
    finally:
        consumer.close()
    return records


def read_events(bootstrap_servers: str, topic: str, *, distinct: int, timeout: float = 60.0) -> list[Any]:
    """Read ``topic`` from the beginning until ``distinct`` different events (by their ``event_id``
    header) were seen: duplicates, allowed by at-least-once delivery, do not count."""
    consumer = KafkaConsumer(
        topic, bootstrap_servers=bootstrap_servers, auto_offset_reset="earliest", enable_auto_commit=False
    )
    records: list[Any] = []
    seen: set[bytes] = set()
    try:
        deadline = time.monotonic() + timeout
        while len(seen) < distinct and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
                seen.update(dict(r.headers).get("event_id", b"") for r in batch)
    finally:
        consumer.close()
    return records


async def wait_until(check: Callable[[], Awaitable[bool]], *, timeout: float = 45.0, what: str = "") -> None:
    """Poll ``check`` until it holds; fail after ``timeout`` (generous: this machine is shared)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or check}")


class Db:
    """Plain SQL reads and seeds for assertions (one statement each)."""

    def __init__(self, database: PostgresDatabase) -> None:
        self._session = PoolSession(database.pool)

    async def scalar(self, sql: str, params: Any = None) -> Any:
        row = await self._session.fetch_one(sql, params)
        assert row is not None
        return row[0]

    async def execute(self, sql: str, params: Any = None) -> int:
        return await self._session.execute(sql, params)

    async def add_couriers(self, count: int, *, status: str = "available") -> None:
        await self._session.execute(
            "INSERT INTO couriers (name, phone, status, transport_type) "
            "SELECT 'Ivan', '+7' || lpad((coalesce((SELECT max(id) FROM couriers), 0) + i)::text, 10, '0'), "
            "%(status)s, 'car' FROM generate_series(1, %(count)s) AS i",
            {"count": count, "status": status},
        )

    async def delivery(self, order_id: str) -> tuple[int, str] | None:
        row = await self._session.fetch_one(
            "SELECT courier_id, status FROM deliveries WHERE order_id = %s", (order_id,)
        )
        return None if row is None else (row[0], row[1])

    async def known_status(self, order_id: str) -> str | None:
        row = await self._session.fetch_one("SELECT status FROM orders WHERE order_id = %s", (order_id,))
        return None if row is None else str(row[0])

    async def count(self, table: str, where: str = "true") -> int:
        return int(await self.scalar(f"SELECT count(*) FROM {table} WHERE {where}"))

    async def is_waiting(self, order_id: str) -> bool:
        return bool(await self.scalar("SELECT count(*) FROM waiting_orders WHERE order_id = %s", (order_id,)))

    async def max_active_per_courier(self) -> int:
        return int(
            await self.scalar(
                "SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM deliveries "
                "WHERE status = 'active' GROUP BY courier_id) AS per_courier"
            )
        )


def consumer_settings(database_url: str, topics: Topics, **extra: str) -> Settings:
    environ = {
        "COURIER_DATABASE_URL": database_url,
        "COURIER_KAFKA_BOOTSTRAP_SERVERS": topics.bootstrap_servers,
        "COURIER_KAFKA_TOPIC": topics.topic,
        "COURIER_KAFKA_DLQ_TOPIC": topics.dlq,
        "COURIER_KAFKA_GROUP_ID": topics.group,
        "COURIER_METRICS_PORT": "0",
        "COURIER_SHUTDOWN_TIMEOUT": "10s",
        "COURIER_LOG_LEVEL": "warning",
        **{f"COURIER_{k.upper()}": v for k, v in extra.items()},
    }
    return load_settings(environ, dotenv=None)


@asynccontextmanager
async def running_consumer(settings: Settings, *, ready_timeout: float = 45.0) -> AsyncIterator[ConsumerApp]:
    """Run a consumer app on this event loop until the block ends; wait until it is in its group."""
    assert settings.database_url is not None
    app = ConsumerApp(settings, database_url=settings.database_url)
    stop = asyncio.Event()
    task = asyncio.create_task(app.run(stop))
    try:
        async with asyncio.timeout(ready_timeout):
            while not app.runtime.ready():
                if task.done():
                    task.result()
                    raise AssertionError("the consumer stopped before it was ready")
                await asyncio.sleep(0.1)
        yield app
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)
