"""``courier outbox relay`` as real processes, killed with SIGKILL: at least once, per-key order, one
active relay at a time, a standby that takes over (real PostgreSQL, real broker)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from courier_adapters.kafka.admin import ensure_topics
from courier_adapters.kafka.embedded import EmbeddedBroker
from courier_adapters.postgres.database import PostgresDatabase
from tests.integration.kafka.helpers import Db, ExternalBroker, read_events, wait_until

pytestmark = pytest.mark.e2e
KEYS = 8


def courier_command() -> list[str]:
    found = shutil.which("courier", path=str(Path(sys.executable).parent))
    assert found, "the courier console script is not installed (uv sync)"
    return [found]


class RelayProcess:
    """``courier outbox relay``; its stderr goes to ``log``."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [*courier_command(), "outbox", "relay"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def says(self, text: str) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"the relay exited ({self.process.returncode}):\n{self.output()[-3000:]}")
        return text in self.output()

    def kill(self) -> None:
        self.process.kill()  # SIGKILL: no clean stop, no unlock; the server notices the closed socket
        self.process.wait(10)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(30)


@pytest.fixture
def events_topic(e2e_broker: EmbeddedBroker | ExternalBroker) -> str:
    topic = f"courier-events-{uuid.uuid4().hex[:8]}"
    ensure_topics(e2e_broker.bootstrap_servers, {topic: 4})
    return topic


@pytest.fixture
def start_relay(
    database_url: str, e2e_broker: EmbeddedBroker | ExternalBroker, events_topic: str, tmp_path: Path
) -> Iterator[Callable[[], RelayProcess]]:
    started: list[RelayProcess] = []

    def start() -> RelayProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("COURIER_")}
        env.update(
            COURIER_DATABASE_URL=database_url,
            COURIER_KAFKA_BOOTSTRAP_SERVERS=e2e_broker.bootstrap_servers,
            COURIER_EVENTS_TOPIC=events_topic,
            COURIER_OUTBOX_BATCH="50",
            COURIER_OUTBOX_POLL_INTERVAL="50ms",
            COURIER_OUTBOX_STANDBY_INTERVAL="100ms",
            COURIER_DATA_DIR=str(tmp_path / "data"),
        )
        process = RelayProcess(env, tmp_path / f"relay-{len(started)}.log")
        started.append(process)
        return process

    yield start
    for process in started:
        if process.process.poll() is None:
            process.kill()


async def seed_events(db: Db, count: int, *, start: int = 0) -> None:
    """``count`` outbox events over ``KEYS`` keys; ``seq`` numbers them in commit order."""
    await db.execute(
        "INSERT INTO outbox (event_id, type, key, occurred_at, payload)"
        " SELECT gen_random_uuid(), 'courier.updated', 'k' || (i %% %(keys)s::int), now(),"
        " jsonb_build_object('seq', i) FROM generate_series(%(first)s::int, %(last)s::int) AS i ORDER BY i",
        {"keys": KEYS, "first": start, "last": start + count - 1},
    )


async def pending(db: Db) -> int:
    return await db.count("outbox", "sent_at IS NULL")


def check_published(records: list[Any], expected: int) -> int:
    """Every event at least once, copies identical, per key the first copies in commit order;
    returns how many duplicates there were."""
    copies: dict[str, bytes] = {}
    first: dict[str, list[int]] = defaultdict(list)
    by_partition: dict[int, list[Any]] = defaultdict(list)
    for record in records:
        by_partition[record.partition].append(record)
    duplicates = 0
    for partition in sorted(by_partition):
        for record in sorted(by_partition[partition], key=lambda r: r.offset):
            value = json.loads(record.value)
            event_id = value["event_id"]
            if event_id in copies:
                assert copies[event_id] == record.value  # a duplicate is the same event, same id
                duplicates += 1
                continue
            copies[event_id] = record.value
            assert record.key.decode() == f"k{value['seq'] % KEYS}"
            first[record.key.decode()].append(value["seq"])
    assert sorted(seq for seqs in first.values() for seq in seqs) == list(range(expected))
    for key, seqs in first.items():
        assert seqs == sorted(seqs), f"{key}: out of commit order"
    return duplicates


async def test_a_relay_killed_mid_stream_loses_nothing_once_restarted(
    database: PostgresDatabase,
    e2e_broker: EmbeddedBroker | ExternalBroker,
    events_topic: str,
    start_relay: Callable[[], RelayProcess],
) -> None:
    db = Db(database)
    total = 10_000
    await seed_events(db, total)
    first = start_relay()

    async def some_sent() -> bool:
        first.says("")  # fails fast if it exited
        return total - await pending(db) >= 1000

    await wait_until(some_sent, what="1,000 events sent")
    first.kill()
    left = await pending(db)
    assert 0 < left < total  # killed mid-stream (a batch may have been published, not marked)

    second = start_relay()
    await wait_until(all_sent_by(second, db), timeout=120, what="every event sent after the restart")
    assert second.stop() == 0
    assert "outbox relay stopped" in second.output()
    records = read_events(e2e_broker.bootstrap_servers, events_topic, distinct=total)
    duplicates = check_published(records, total)
    assert duplicates <= 50  # at most the batch in flight when it was killed


async def test_two_relays_one_publishes_the_standby_takes_over_when_it_is_killed(
    database: PostgresDatabase,
    e2e_broker: EmbeddedBroker | ExternalBroker,
    events_topic: str,
    start_relay: Callable[[], RelayProcess],
) -> None:
    db = Db(database)
    await seed_events(db, 2000)
    active = start_relay()
    await wait_until(lambda: _async(active.says("outbox relay active")), what="the first relay active")
    standby = start_relay()
    await wait_until(lambda: _async(standby.says("standing by")), what="the second relay standing by")

    async def all_sent() -> bool:
        active.says("")
        standby.says("")
        return await pending(db) == 0

    await wait_until(all_sent, what="the first 2,000 events sent")
    assert "outbox relay active" not in standby.output()
    assert "published" not in standby.output()

    await seed_events(db, 4000, start=2000)
    active.kill()  # while it publishes them
    await wait_until(lambda: _async(standby.says("outbox relay active")), what="the standby active")
    await wait_until(all_sent_by(standby, db), what="the next 4,000 events sent")
    await seed_events(db, 500, start=6000)
    await wait_until(all_sent_by(standby, db), what="the last 500 events sent")
    assert standby.stop() == 0

    records = read_events(e2e_broker.bootstrap_servers, events_topic, distinct=6500)
    check_published(records, 6500)


def all_sent_by(relay: RelayProcess, db: Db) -> Callable[[], Any]:
    async def check() -> bool:
        relay.says("")
        return await pending(db) == 0

    return check


async def _async(value: bool) -> bool:
    return value
