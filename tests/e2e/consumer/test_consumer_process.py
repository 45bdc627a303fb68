"""``courier-consumer`` as a process: graceful stop, and ``kill -9`` mid-stream loses and doubles nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from courier_adapters.postgres.database import PostgresDatabase
from tests.e2e.consumer.conftest import ConsumerProcess, consumer_command
from tests.integration.kafka.helpers import PARTITIONS, Db, Producer, Topics, event, new_order_id, wait_until

pytestmark = pytest.mark.e2e
ORDERS = 1500


async def test_sigterm_finishes_commits_and_exits_zero(
    start_consumer: Callable[..., ConsumerProcess], e2e_topics: Topics, database: PostgresDatabase
) -> None:
    db = Db(database)
    await db.add_couriers(1)
    order_id = new_order_id()
    consumer = start_consumer()
    consumer.wait_ready()
    producer = Producer(e2e_topics.bootstrap_servers, e2e_topics.topic)
    try:
        producer.send_now(event(order_id, "created"))
    finally:
        producer.close()
    await wait_until(lambda: _has_delivery(db, order_id), what="assignment")
    assert 'courier_kafka_messages_total{result="applied",status="created"} 1.0' in consumer.metrics()
    started = time.monotonic()
    consumer.signal(signal.SIGTERM)
    try:
        code = consumer.process.wait(15)
    except subprocess.TimeoutExpired:
        pytest.fail(f"courier-consumer did not stop on SIGTERM:\n{consumer.output()}")
    assert code == 0, consumer.output()
    assert time.monotonic() - started < 15
    lines = [json.loads(line) for line in consumer.output().splitlines() if line.startswith("{")]
    assert any(line["message"] == "stopped" for line in lines)
    applied = [line for line in lines if line["message"] == "order event applied"]
    assert applied[0]["order_id"] == order_id
    assert {"partition", "offset"} <= applied[0].keys()
    assert committed_offsets(e2e_topics) == 1  # the offset was committed before it left


def committed_offsets(topics: Topics) -> int:
    """The sum of the group's committed offsets over the topic's partitions."""
    consumer = KafkaConsumer(
        bootstrap_servers=topics.bootstrap_servers, group_id=topics.group, enable_auto_commit=False
    )
    try:
        found = [consumer.committed(TopicPartition(topics.topic, p)) for p in range(PARTITIONS)]
    finally:
        consumer.close()
    return sum(offset or 0 for offset in found)


async def test_kill_9_mid_stream_then_restart_applies_every_order_once(
    start_consumer: Callable[..., ConsumerProcess], e2e_topics: Topics, database: PostgresDatabase
) -> None:
    db = Db(database)
    await db.add_couriers(ORDERS)
    orders = [new_order_id() for _ in range(ORDERS)]
    first = start_consumer(log_level="warning")
    first.wait_ready()
    producer = Producer(e2e_topics.bootstrap_servers, e2e_topics.topic)
    try:
        for order_id in orders:
            producer.send(event(order_id, "created"))
        producer.flush()
    finally:
        producer.close()
    await wait_until(lambda: _deliveries_at_least(db, 100), what="the first consumer under way")
    first.signal(signal.SIGKILL)
    first.process.wait(10)
    assert await db.count("deliveries") < ORDERS, "the stream ended before the kill: nothing tested"
    second = start_consumer(log_level="warning")
    second.wait_ready(60)
    await wait_until(lambda: _deliveries_at_least(db, ORDERS), timeout=90, what="every order assigned")
    assert await db.count("deliveries") == ORDERS
    assert await db.scalar("SELECT count(DISTINCT order_id) FROM deliveries") == ORDERS
    assert await db.count("processed_events") == ORDERS
    assert await db.scalar("SELECT sum(total_deliveries) FROM couriers") == ORDERS
    assert await db.max_active_per_courier() == 1


async def _has_delivery(db: Db, order_id: str) -> bool:
    return await db.delivery(order_id) is not None


async def _deliveries_at_least(db: Db, count: int) -> bool:
    return await db.count("deliveries") >= count


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "COURIER_KAFKA_BOOTSTRAP_SERVERS is required"),
        (
            {"COURIER_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", "COURIER_KAFKA_CONSUMERS": "0"},
            "COURIER_KAFKA_CONSUMERS",
        ),
    ],
)
def test_wrong_configuration_fails_fast_with_exit_code_2(
    environ: dict[str, str], message: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURIER_")}
    env.update(environ, COURIER_DATA_DIR=str(tmp_path))
    done = subprocess.run(
        consumer_command(), env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False
    )
    assert done.returncode == 2
    assert message in done.stderr
