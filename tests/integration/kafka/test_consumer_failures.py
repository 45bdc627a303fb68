"""Poison values, failing records and metrics, against the real broker and PostgreSQL."""

from __future__ import annotations

import json

import httpx
import pytest

from courier_consumer.app import ConsumerApp
from tests.integration.kafka.helpers import (
    Db,
    Producer,
    Topics,
    consumer_settings,
    event,
    new_order_id,
    read_topic,
    running_consumer,
    wait_until,
)

pytestmark = pytest.mark.integration

POISON = {
    b"{not json": "not valid JSON",
    json.dumps({"status": "created", "created_at": "2026-11-24T10:00:00Z"}).encode(): "order_id is missing",
    json.dumps({"order_id": "o-1", "created_at": "2026-11-24T10:00:00Z"}).encode(): "status is missing",
    json.dumps({"order_id": "o-2", "status": "created", "created_at": "noon"}).encode(): "RFC 3339",
    json.dumps({"order_id": 17, "status": "created"}).encode(): "order_id must be a string",
    json.dumps({"order_id": "x" * 256, "status": "created"}).encode(): "1-255 characters",
}


async def test_poison_goes_to_the_dlq_with_headers_and_later_messages_still_apply(
    database_url: str, topics: Topics, producer: Producer, db: Db
) -> None:
    await db.add_couriers(2)
    before, after = new_order_id(), new_order_id()
    async with running_consumer(consumer_settings(database_url, topics)) as app:
        producer.send(event(before, "created"), partition=0)
        for value in POISON:
            producer.send(value, partition=0)
        producer.send_now(event(after, "created"), partition=0)
        await wait_until(lambda: _has_delivery(db, after), what="the message after the poison applied")
        letters = read_topic(topics.bootstrap_servers, topics.dlq, expected=len(POISON))
        counted = app.registry.get_sample_value(
            "courier_kafka_messages_total", {"status": "invalid", "result": "dead_lettered"}
        )
    assert await db.delivery(before) is not None
    assert len(letters) == len(POISON)
    assert counted == len(POISON)
    for letter in letters:
        headers = {k: v.decode() for k, v in letter.headers}
        assert POISON[letter.value] in headers["x-error"]
        assert headers["x-original-topic"] == topics.topic
        assert headers["x-original-partition"] == "0"
        assert 1 <= int(headers["x-original-offset"]) <= len(POISON)
    assert await db.count("processed_events") == 2


async def test_a_record_that_keeps_failing_is_dead_lettered_after_n_attempts(
    database_url: str, topics: Topics, producer: Producer, db: Db
) -> None:
    await db.add_couriers(3)
    cursed, before, after = "cursed-" + new_order_id(), new_order_id(), new_order_id()
    await _fail_inserts_of(db, cursed)
    settings = consumer_settings(database_url, topics, kafka_max_attempts="3")
    async with running_consumer(settings) as app:
        for order_id in (before, cursed, after):
            producer.send(event(order_id, "created"), partition=1)
        producer.flush()
        await wait_until(lambda: _has_delivery(db, after), what="the record after the cursed one applied")
        letters = read_topic(topics.bootstrap_servers, topics.dlq, expected=1)
        retried = app.registry.get_sample_value(
            "courier_kafka_messages_total", {"status": "created", "result": "retried"}
        )
    assert await db.delivery(before) is not None
    assert await db.delivery(cursed) is None
    assert [json.loads(letter.value)["order_id"] for letter in letters] == [cursed]
    headers = dict(letters[0].headers)
    assert headers["x-error"].startswith(b"failed 3 times")
    assert headers["x-original-offset"] == b"1"
    assert retried == 2


async def test_metrics_and_readiness_are_served(
    database_url: str, topics: Topics, producer: Producer, db: Db
) -> None:
    await db.add_couriers(1)
    order_id = new_order_id()
    async with running_consumer(consumer_settings(database_url, topics, kafka_consumers="2")) as app:
        producer.send_now(event(order_id, "created"), partition=2)
        await wait_until(lambda: _has_delivery(db, order_id), what="assignment")
        base = f"http://127.0.0.1:{app.runtime.metrics_port}"
        async with httpx.AsyncClient(base_url=base) as client:
            ready = await client.get("/readyz")
            metrics = (await client.get("/metrics")).text
            missing = await client.get("/nope")
    assert ready.status_code == 200
    assert missing.status_code == 404
    assert 'courier_kafka_messages_total{result="applied",status="created"} 1.0' in metrics
    assert 'courier_assignments_total{result="assigned"} 1.0' in metrics
    assert f'courier_kafka_consumer_lag{{partition="2",topic="{topics.topic}"}} 0.0' in metrics


async def _fail_inserts_of(db: Db, order_id: str) -> None:
    """A trigger that makes every insert of this order's known status fail: an unexpected error."""
    await db.execute(
        f"""
        CREATE FUNCTION fail_cursed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.order_id = '{order_id}' THEN RAISE EXCEPTION 'cursed order'; END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER fail_cursed BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION fail_cursed();
        """
    )


async def _has_delivery(db: Db, order_id: str) -> bool:
    return await db.delivery(order_id) is not None


async def test_a_database_outage_is_retried_without_commit_or_dead_letter(
    database_url: str, topics: Topics, producer: Producer, db: Db
) -> None:
    await db.add_couriers(2)
    order_id = new_order_id()
    await _stall_inserts_of_orders(db)
    settings = consumer_settings(database_url, topics, db_statement_timeout="300ms", kafka_max_attempts="2")
    async with running_consumer(settings) as app:
        producer.send_now(event(order_id, "created"), partition=3)
        await wait_until(lambda: _retried_at_least(app, 3), what="three retries")
        assert await db.delivery(order_id) is None
        await db.execute("DROP TRIGGER stall_orders ON orders")  # the database recovers
        await wait_until(lambda: _has_delivery(db, order_id), what="assignment after the outage")
    letters = read_topic(topics.bootstrap_servers, topics.dlq, expected=1, timeout=3)
    assert letters == []  # a dependency outage is never the message's fault


async def _stall_inserts_of_orders(db: Db) -> None:
    """Every write of a known status outlasts the statement timeout: the database looks down."""
    await db.execute(
        """
        CREATE FUNCTION stall_orders() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_sleep(5); RETURN NEW; END $$;
        CREATE TRIGGER stall_orders BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION stall_orders();
        """
    )


async def _retried_at_least(app: ConsumerApp, count: int) -> bool:
    value = app.registry.get_sample_value(
        "courier_kafka_messages_total", {"status": "created", "result": "retried"}
    )
    return (value or 0) >= count
