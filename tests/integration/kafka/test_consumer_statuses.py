"""The consumer applies each order status, once, in any order, against the real broker and PostgreSQL."""

from __future__ import annotations

import pytest

from courier_consumer.app import ConsumerApp
from tests.integration.kafka.helpers import (
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


async def test_each_status_does_what_the_spec_says(
    database_url: str, topics: Topics, producer: Producer, db: Db
) -> None:
    await db.add_couriers(6)
    orders = {
        status: new_order_id() for status in ("cancelled", "canceled", "deleted", "completed", "delivered")
    }
    live = new_order_id()
    async with running_consumer(consumer_settings(database_url, topics)):
        for order_id in [*orders.values(), live]:
            producer.send(event(order_id, "created"), partition=0)
        for seconds, status in enumerate(("pending", "confirmed", "cooking", "delivering", "updated"), 1):
            producer.send(event(live, status, seconds=seconds), partition=(seconds % 4))
        for status, order_id in orders.items():
            producer.send(event(order_id, status, seconds=60), partition=0)
        producer.flush()

        async def all_applied() -> bool:
            return await db.count("processed_events") == 16

        await wait_until(all_applied, what="16 events applied")
    for status in ("cancelled", "canceled", "deleted"):
        assert await db.delivery(orders[status]) is None, status
        assert await db.known_status(orders[status]) == status
    for status in ("completed", "delivered"):
        assert (await db.delivery(orders[status]) or (0, ""))[1] == "completed", status
    assert (await db.delivery(live) or (0, ""))[1] == "active"
    assert await db.known_status(live) == "updated"  # the newest news of the five
    assert await db.count("couriers", "status = 'busy'") == 1
    assert await db.scalar("SELECT sum(total_deliveries) FROM couriers") == 3


async def test_the_same_event_five_times_has_one_effect(
    database_url: str, topics: Topics, producer: Producer, db: Db
) -> None:
    await db.add_couriers(3)
    order_id = new_order_id()
    async with running_consumer(consumer_settings(database_url, topics)) as app:
        for partition in (0, 1, 2, 3, 0):
            producer.send(event(order_id, "created"), partition=partition)
        producer.send(event(new_order_id(), "pending"), partition=1)  # a marker after the copies
        producer.flush()

        async def settled() -> bool:
            return await db.count("orders") == 2 and await db.count("processed_events") == 2

        await wait_until(settled, what="the copies and the marker")
        await wait_until(lambda: _all_consumed(app), what="every copy consumed")
    assert await db.count("deliveries") == 1
    assert await db.scalar("SELECT sum(total_deliveries) FROM couriers") == 1


async def _all_consumed(app: ConsumerApp) -> bool:
    """Every copy was read and counted (applied once, duplicate four times)."""
    registry = app.registry
    applied = registry.get_sample_value(
        "courier_kafka_messages_total", {"status": "created", "result": "applied"}
    )
    duplicate = registry.get_sample_value(
        "courier_kafka_messages_total", {"status": "created", "result": "duplicate"}
    )
    return applied == 1 and duplicate == 4


async def test_deleted_before_created_across_partitions_never_assigns(
    database_url: str, topics: Topics, producer: Producer, db: Db
) -> None:
    await db.add_couriers(2)
    order_id = new_order_id()
    async with running_consumer(consumer_settings(database_url, topics)):
        producer.send_now(event(order_id, "deleted", seconds=5), partition=2)
        await wait_until(lambda: _status_is(db, order_id, "deleted"), what="deleted applied")
        producer.send_now(event(order_id, "created", seconds=0), partition=1)
        await wait_until(lambda: _processed(db, 2), what="created applied")
    assert await db.delivery(order_id) is None
    assert await db.known_status(order_id) == "deleted"
    assert not await db.is_waiting(order_id)


async def test_pending_before_created_across_partitions_still_assigns(
    database_url: str, topics: Topics, producer: Producer, db: Db
) -> None:
    await db.add_couriers(2)
    order_id = new_order_id()
    async with running_consumer(consumer_settings(database_url, topics)):
        producer.send_now(event(order_id, "pending", seconds=5), partition=3)
        await wait_until(lambda: _status_is(db, order_id, "pending"), what="pending applied")
        producer.send_now(event(order_id, "created", seconds=0), partition=0)
        await wait_until(lambda: _has_delivery(db, order_id), what="assignment")
    assert await db.known_status(order_id) == "pending"  # older news did not override newer


async def test_waiting_order_gets_the_next_freed_courier_and_cancelled_one_never(
    database_url: str, topics: Topics, producer: Producer, db: Db
) -> None:
    await db.add_couriers(1)
    first, second, third = new_order_id(), new_order_id(), new_order_id()
    async with running_consumer(consumer_settings(database_url, topics)):
        producer.send_now(event(first, "created"), partition=0)
        await wait_until(lambda: _has_delivery(db, first), what="first assigned")
        producer.send_now(event(second, "created", 1), partition=1)
        producer.send_now(event(third, "created", 2), partition=2)
        await wait_until(lambda: _waiting(db, 2), what="two orders waiting")
        producer.send_now(event(second, "canceled", 3), partition=3)
        await wait_until(lambda: _waiting(db, 1), what="cancelled order left the queue")
        producer.send_now(event(first, "delivered", 10), partition=0)
        await wait_until(lambda: _has_delivery(db, third), what="third assigned to the freed courier")
    assert await db.delivery(second) is None
    assert await db.count("waiting_orders") == 0
    assert await db.max_active_per_courier() == 1


async def _status_is(db: Db, order_id: str, status: str) -> bool:
    return await db.known_status(order_id) == status


async def _processed(db: Db, count: int) -> bool:
    return await db.count("processed_events") >= count


async def _has_delivery(db: Db, order_id: str) -> bool:
    return await db.delivery(order_id) is not None


async def _waiting(db: Db, count: int) -> bool:
    return await db.count("waiting_orders") == count
