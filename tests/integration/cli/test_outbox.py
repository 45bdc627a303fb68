"""``courier outbox status|drain`` against a real PostgreSQL and the real broker (Tansu)."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from courier_adapters.kafka.embedded import EmbeddedBroker
from tests.integration.cli.conftest import Cli, single_line_error
from tests.integration.kafka.helpers import ExternalBroker, read_topic, session_broker


@pytest.fixture(scope="module")
def broker() -> Iterator[EmbeddedBroker | ExternalBroker]:
    with session_broker() as running:
        yield running


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens there once the socket is closed


def _scalar(url: str, sql: str) -> object:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql).fetchone()
        assert row is not None
        return row[0]


def _two_couriers(cli: Cli) -> None:
    cli.create("Ivan", "+79990001122")
    cli.create("Anna", "+79990001123")


def test_status_shows_what_waits_and_the_cli_is_the_actor(cli: Cli, database_url: str) -> None:
    _two_couriers(cli)
    status = cli.json("outbox", "status")
    assert status["pending"] == 2
    assert status["unstamped"] == 2  # no courier process runs here to give them positions
    assert status["last_position"] == 0
    assert status["oldest_pending_age_seconds"] >= 0
    assert status["relay_active"] is False
    assert status["topic"] == "courier.events"
    assert _scalar(database_url, "SELECT array_agg(DISTINCT actor) FROM history") == ["cli"]


def test_drain_publishes_what_is_pending_and_says_how_many(
    cli: Cli, database_url: str, broker: EmbeddedBroker | ExternalBroker
) -> None:
    _two_couriers(cli)
    topic = f"courier-events-{uuid.uuid4().hex[:8]}"
    env = {"COURIER_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers, "COURIER_EVENTS_TOPIC": topic}
    result = cli("outbox", "drain", "--json", env=env)
    assert result.exit_code == 0, result.stderr
    assert '"published": 2' in result.stdout
    assert '"still_pending": 0' in result.stdout
    records = read_topic(broker.bootstrap_servers, topic, expected=2)
    assert sorted(r.key for r in records) == [b"1", b"2"]
    again = cli("outbox", "drain", "--json", env=env)
    assert '"published": 0' in again.stdout
    status = cli.json("outbox", "status")  # the drain stamped them on its way (no stamper ran)
    assert (status["unstamped"], status["last_position"], status["pending"]) == (0, 2, 0)


def test_drain_with_no_broker_reachable_fails_clearly_and_marks_nothing_sent(
    cli: Cli, database_url: str
) -> None:
    _two_couriers(cli)
    result = cli("outbox", "drain", "--bootstrap-servers", f"127.0.0.1:{_closed_port()}")
    assert result.exit_code == 3
    line = single_line_error(result)
    assert line.startswith("error: Kafka at 127.0.0.1:"), line
    assert _scalar(database_url, "SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 2


def test_drain_needs_a_broker_and_refuses_while_another_relay_is_active(
    cli: Cli, database_url: str, broker: EmbeddedBroker | ExternalBroker
) -> None:
    _two_couriers(cli)
    assert cli("outbox", "drain").exit_code == 2  # no broker configured: a usage error
    with psycopg.connect(database_url, autocommit=True) as other_relay:
        other_relay.execute("SELECT pg_advisory_lock(4, 0)")
        assert cli.json("outbox", "status")["relay_active"] is True
        result = cli("outbox", "drain", "--bootstrap-servers", broker.bootstrap_servers)
        assert result.exit_code == 1
        assert "another relay is active" in single_line_error(result)
    assert _scalar(database_url, "SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 2
