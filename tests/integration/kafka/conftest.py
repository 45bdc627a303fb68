"""Fixtures for the consumer against a real Kafka-protocol broker (Tansu) and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest

with warnings.catch_warnings():  # kafka-python 3 reads its schemas with a deprecated importlib call
    warnings.simplefilter("ignore", DeprecationWarning)
    import kafka  # noqa: F401

from courier_adapters.kafka.admin import ensure_topics
from courier_adapters.kafka.embedded import EmbeddedBroker
from courier_adapters.postgres.database import PostgresDatabase
from courier_adapters.settings import Settings, load_settings
from courier_consumer.app import ConsumerApp
from tests.integration.kafka.helpers import Db, Producer

PARTITIONS = 4
pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker.start() as running:
        yield running


@dataclass(frozen=True)
class Topics:
    bootstrap_servers: str
    topic: str
    dlq: str
    group: str


@pytest.fixture
def topics(broker: EmbeddedBroker) -> Topics:
    """Fresh topics (4 partitions) and a fresh consumer group for this test."""
    suffix = uuid.uuid4().hex[:8]
    made = Topics(broker.bootstrap_servers, f"orders-{suffix}", f"orders-{suffix}.dlq", f"courier-{suffix}")
    ensure_topics(made.bootstrap_servers, {made.topic: PARTITIONS, made.dlq: 1})
    return made


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


@pytest.fixture
def producer(topics: Topics) -> Iterator[Producer]:
    made = Producer(topics.bootstrap_servers, topics.topic)
    yield made
    made.close()


@pytest.fixture
def db(database: PostgresDatabase) -> Db:
    return Db(database)
