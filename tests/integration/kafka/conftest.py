"""Fixtures for the consumer against a real Kafka-protocol broker (Tansu) and a real PostgreSQL."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator

import pytest

with warnings.catch_warnings():  # kafka-python 3 reads its schemas with a deprecated importlib call
    warnings.simplefilter("ignore", DeprecationWarning)
    import kafka  # noqa: F401

from courier_adapters.kafka.admin import ensure_topics
from courier_adapters.kafka.embedded import EmbeddedBroker
from courier_adapters.postgres.database import PostgresDatabase
from tests.integration.kafka.helpers import PARTITIONS, Db, ExternalBroker, Producer, Topics, session_broker

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker | ExternalBroker]:
    with session_broker() as running:
        yield running


@pytest.fixture
def topics(broker: EmbeddedBroker | ExternalBroker) -> Topics:
    """Fresh topics (4 partitions) and a fresh consumer group for this test."""
    suffix = uuid.uuid4().hex[:8]
    made = Topics(broker.bootstrap_servers, f"orders-{suffix}", f"orders-{suffix}.dlq", f"courier-{suffix}")
    ensure_topics(made.bootstrap_servers, {made.topic: PARTITIONS, made.dlq: 1})
    return made


@pytest.fixture
def producer(topics: Topics) -> Iterator[Producer]:
    made = Producer(topics.bootstrap_servers, topics.topic)
    yield made
    made.close()


@pytest.fixture
def db(database: PostgresDatabase) -> Db:
    return Db(database)
