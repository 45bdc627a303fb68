"""Fault tests: real servers stopped, killed or cut while courier works (loopback only, bounded)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from courier_adapters.kafka.embedded import free_port
from courier_adapters.postgres import embedded, migrate
from courier_adapters.postgres.embedded import EmbeddedPostgres

pytestmark = pytest.mark.e2e


def consumer_environment(database_url: str, bootstrap_servers: str, **settings: str) -> dict[str, str]:
    """The environment of a ``courier-consumer`` on topic ``orders`` (``settings``: COURIER_* extras)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURIER_")}
    env.update(
        COURIER_DATABASE_URL=database_url,
        COURIER_KAFKA_BOOTSTRAP_SERVERS=bootstrap_servers,
        COURIER_KAFKA_TOPIC="orders",
        COURIER_KAFKA_DLQ_TOPIC="orders.dlq",
        COURIER_KAFKA_GROUP_ID="faults",
        COURIER_METRICS_PORT=str(free_port()),
        COURIER_SHUTDOWN_TIMEOUT="10s",
    )
    env.update(settings)
    return env


def seed_couriers(database_url: str, count: int) -> None:
    """``count`` available couriers, written directly (fast)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO couriers (name, phone, status, transport_type) SELECT 'Ivan',"
            " '+7' || lpad(g::text, 10, '0'), 'available', 'car' FROM generate_series(1, %s) g",
            (count,),
        )


class StoppablePostgres:
    """An embedded PostgreSQL of the test's own, which the test can stop and start again.

    Its unix socket lives in its data directory, so the URL stays the same across restarts.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.server: EmbeddedPostgres | None = embedded.start(data_dir)
        self.url = self.server.url()
        migrate.upgrade(self.url)

    def stop(self) -> None:
        assert self.server is not None
        self.server.stop()
        self.server = None

    def start(self) -> None:
        self.server = embedded.start(self.data_dir)
        assert self.server.url() == self.url


@pytest.fixture
def stoppable_postgres(embedded_dir: Path) -> Iterator[StoppablePostgres]:
    postgres = StoppablePostgres(embedded_dir)
    yield postgres
    if postgres.server is not None:
        postgres.server.stop()
