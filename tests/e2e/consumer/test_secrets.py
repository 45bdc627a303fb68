"""``courier-consumer`` with a password in its database URL: not in any line it writes.

It applies an event, dead-letters poison (bad JSON, a NUL in a status, JSON nested 100,000 deep) and
stops on SIGTERM, logging at debug; then its whole output is searched for the password.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Callable

import pytest

from courier_adapters.postgres.database import PostgresDatabase
from tests.e2e.consumer.conftest import ConsumerProcess
from tests.integration.kafka.helpers import Db, Producer, Topics, event, new_order_id, wait_until
from tests.support.postgres import role_with_password

pytestmark = pytest.mark.e2e


async def test_the_database_password_is_in_no_line_the_consumer_writes(
    start_consumer: Callable[..., ConsumerProcess],
    e2e_topics: Topics,
    database: PostgresDatabase,
    database_url: str,
) -> None:
    db = Db(database)
    await db.add_couriers(1)
    order_id = new_order_id()
    poison = [
        b"{oops",
        json.dumps({"order_id": new_order_id(), "status": "crea\u0000ted"}).encode(),
        b"[" * 100_000,
    ]
    with role_with_password(database_url) as (url, password):
        consumer = start_consumer(database_url=url, log_level="debug")
        consumer.wait_ready()
        producer = Producer(e2e_topics.bootstrap_servers, e2e_topics.topic)
        try:
            for value in poison:
                producer.send_now(value)
            producer.send_now(event(order_id, "created"))
        finally:
            producer.close()
        await wait_until(lambda: _has_delivery(db, order_id), what="assignment")
        await wait_until(lambda: _dead_lettered(consumer, len(poison)), what="dead letters")
        consumer.signal(signal.SIGTERM)
        assert consumer.process.wait(30) == 0, consumer.output()
        written = consumer.log.read_text(errors="replace")
    assert "order event applied" in written and "dead-lettered" in written
    assert password not in written


async def _has_delivery(db: Db, order_id: str) -> bool:
    return await db.delivery(order_id) is not None


async def _dead_lettered(consumer: ConsumerProcess, count: int) -> bool:
    for line in consumer.metrics().splitlines():
        if line.startswith('courier_kafka_messages_total{result="dead_lettered",status="invalid"}'):
            return float(line.split()[-1]) == count
    return False
