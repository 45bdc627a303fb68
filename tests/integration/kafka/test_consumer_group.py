"""Consumers sharing a group, and a broker that restarts empty while courier keeps its database."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from courier_adapters.kafka.admin import ensure_topics
from courier_adapters.kafka.embedded import EmbeddedBroker
from courier_consumer.app import ConsumerApp
from tests.integration.kafka.helpers import (
    PARTITIONS,
    Db,
    Producer,
    Topics,
    consumer_settings,
    event,
    new_order_id,
    running_consumer,
    wait_until,
)

pytestmark = pytest.mark.integration
EVENTS = 2000


async def test_two_consumers_own_partitions_and_apply_2000_events_exactly_once(
    database_url: str, topics: Topics, producer: Producer, db: Db
) -> None:
    await db.add_couriers(EVENTS)
    orders = [new_order_id() for _ in range(EVENTS)]
    settings = consumer_settings(database_url, topics, kafka_consumers="2")
    async with running_consumer(settings) as app:
        await wait_until(lambda: _split(app), what="both consumers own partitions")
        owned = [w.assignment for w in app.runtime.workers]
        for order_id in orders:
            producer.send(event(order_id, "created"))
        for order_id in orders[:100]:  # redelivered copies change nothing
            producer.send(event(order_id, "created"))
        producer.flush()
        await wait_until(lambda: _count(db, "deliveries", EVENTS), timeout=120, what="2000 assignments")
        await wait_until(lambda: _all_read(app), timeout=60, what="the copies read")
    assert owned[0] and owned[1] and not owned[0] & owned[1]
    assert owned[0] | owned[1] == set(range(PARTITIONS))
    assert await db.count("deliveries") == EVENTS
    assert await db.count("processed_events") == EVENTS
    assert await db.scalar("SELECT count(DISTINCT order_id) FROM deliveries") == EVENTS
    assert await db.scalar("SELECT sum(total_deliveries) FROM couriers") == EVENTS
    assert await db.max_active_per_courier() == 1


@pytest.mark.skipif(
    bool(os.environ.get("COURIER_TEST_KAFKA_BOOTSTRAP_SERVERS")), reason="restarts the embedded broker"
)
async def test_a_broker_restarted_empty_does_not_make_new_events_look_like_duplicates(
    database_url: str, db: Db
) -> None:
    await db.add_couriers(4)
    first, second = [new_order_id() for _ in range(2)], [new_order_id() for _ in range(2)]
    with EmbeddedBroker.start() as broker:
        topics = _topics(broker)
        await _apply(database_url, topics, first, db)
        port = broker.port
    with EmbeddedBroker.start(port=port) as restarted:  # same address, no messages, offsets from 0
        topics = _topics(restarted)
        await _apply(database_url, topics, second, db)
    for order_id in first + second:
        assert await db.delivery(order_id) is not None
    assert await db.count("processed_events") == 4


def _topics(broker: EmbeddedBroker) -> Topics:
    topics = Topics(broker.bootstrap_servers, "orders", "orders.dlq", "courier")
    ensure_topics(topics.bootstrap_servers, {topics.topic: PARTITIONS, topics.dlq: 1})
    return topics


async def _apply(database_url: str, topics: Topics, orders: list[str], db: Db) -> None:
    producer = Producer(topics.bootstrap_servers, topics.topic)
    try:
        async with running_consumer(consumer_settings(database_url, topics)):
            for order_id in orders:
                producer.send(event(order_id, "created"), partition=0)  # the same offsets both times
            producer.flush()
            await wait_until(lambda: _all_delivered(db, orders), what="the orders assigned")
    finally:
        producer.close()


async def _all_delivered(db: Db, orders: list[str]) -> bool:
    found = await asyncio.gather(*(db.delivery(o) for o in orders))
    return all(found)


async def _split(app: ConsumerApp) -> bool:
    return all(w.assignment for w in app.runtime.workers)


async def _count(db: Db, table: str, expected: int) -> bool:
    return await db.count(table) >= expected


async def _all_read(app: ConsumerApp) -> bool:
    sample = app.registry.get_sample_value
    applied = sample("courier_kafka_messages_total", {"status": "created", "result": "applied"}) or 0
    duplicate = sample("courier_kafka_messages_total", {"status": "created", "result": "duplicate"}) or 0
    return applied == EVENTS and duplicate == 100


async def test_a_consumer_joining_mid_stream_takes_partitions_and_nothing_is_applied_twice(
    database_url: str, topics: Topics, db: Db
) -> None:
    total = 3000
    await db.add_couriers(total)
    orders = [new_order_id() for _ in range(total)]
    feeder = asyncio.create_task(asyncio.to_thread(_produce_steadily, topics, orders, 200.0))
    async with running_consumer(consumer_settings(database_url, topics)) as first:
        await wait_until(lambda: _count(db, "deliveries", 300), what="the first consumer under way")
        async with running_consumer(consumer_settings(database_url, topics)) as second:
            await wait_until(lambda: _split_between(first, second), what="the partitions split")
            await feeder
            await wait_until(lambda: _count(db, "deliveries", total), timeout=120, what="every order")
            applied = [_applied(app) for app in (first, second)]
    assert all(n > 0 for n in applied), applied
    assert sum(applied) == total  # each event applied by exactly one of them
    assert await db.scalar("SELECT count(DISTINCT order_id) FROM deliveries") == total
    assert await db.max_active_per_courier() == 1


def _produce_steadily(topics: Topics, orders: list[str], rate: float) -> None:
    producer = Producer(topics.bootstrap_servers, topics.topic)
    started = time.monotonic()
    try:
        for i, order_id in enumerate(orders):
            time.sleep(max(0.0, started + i / rate - time.monotonic()))
            producer.send(event(order_id, "created"))
        producer.flush()
    finally:
        producer.close()


async def _split_between(first: ConsumerApp, second: ConsumerApp) -> bool:
    owned = [first.runtime.workers[0].assignment, second.runtime.workers[0].assignment]
    return bool(owned[0]) and bool(owned[1]) and not owned[0] & owned[1]


def _applied(app: ConsumerApp) -> int:
    value = app.registry.get_sample_value(
        "courier_kafka_messages_total", {"status": "created", "result": "applied"}
    )
    return int(value or 0)


async def test_a_poll_is_applied_in_one_transaction_of_at_most_max_poll_records_events(
    database_url: str, topics: Topics, producer: Producer, db: Db
) -> None:
    """``COURIER_KAFKA_MAX_POLL_RECORDS`` caps a poll, and a poll is one transaction: the deliveries it
    assigned share that transaction's ``now()``."""
    await db.add_couriers(12)
    orders = [new_order_id() for _ in range(12)]
    for order_id in orders:  # all waiting before the consumer starts: each poll is full
        producer.send(event(order_id, "created"), partition=0)
    producer.flush()
    async with running_consumer(consumer_settings(database_url, topics, kafka_max_poll_records="5")):
        await wait_until(lambda: _assigned(db, orders, len(orders)), what="every order assigned", timeout=60)
    sizes = await db.scalar(
        "SELECT array_agg(n ORDER BY at) FROM"
        " (SELECT assigned_at AS at, count(*) AS n FROM deliveries WHERE order_id = ANY(%s) GROUP BY 1) AS t",
        (orders,),
    )
    assert sum(sizes) == len(orders)
    assert max(sizes) <= 5 and len(sizes) >= 3  # 12 events in polls of at most 5
    assert max(sizes) > 1  # not one transaction per event


async def _assigned(db: Db, orders: list[str], expected: int) -> bool:
    return await db.scalar("SELECT count(*) FROM deliveries WHERE order_id = ANY(%s)", (orders,)) == expected
