"""Verification with the order service (the real simulator over gRPC on loopback) before assigning."""

from __future__ import annotations

import pytest

from courier_consumer.app import ConsumerApp
from courier_order_sim.faults import FaultMode
from courier_order_sim.server import Simulator
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


async def test_created_events_are_checked_with_the_order_service(
    database_url: str, topics: Topics, producer: Producer, db: Db
) -> None:
    await db.add_couriers(5)
    live, cancelled, late, never = (new_order_id() for _ in range(4))
    async with Simulator() as sim:
        await sim.create_order(order_id=live)
        await sim.create_order(order_id=cancelled, status="canceled")
        settings = consumer_settings(
            database_url,
            topics,
            order_service_addr=sim.address,
            unknown_order_retry="4s",
            reconcile_interval="0",
        )
        async with running_consumer(settings) as app:
            for order_id in (live, cancelled, late, never):
                producer.send(event(order_id, "created"), partition=0)
            producer.flush()
            await wait_until(lambda: _has_delivery(db, live), what="the live order assigned")
            await wait_until(lambda: _known(db, cancelled), what="the cancelled order recorded")
            await sim.create_order(order_id=late)  # the order service learns of it a moment later
            await wait_until(lambda: _has_delivery(db, late), what="the late order assigned")
            await wait_until(lambda: _ignored(app), what="the never-known order ignored")
            assert app.deferred is not None
            assert len(app.deferred) == 0
    assert await db.delivery(cancelled) is None
    assert await db.known_status(cancelled) == "canceled"
    assert await db.delivery(never) is None
    assert await db.known_status(never) is None  # never applied, so never recorded


async def test_an_unavailable_order_service_is_skipped_and_counted(
    database_url: str, topics: Topics, producer: Producer, db: Db
) -> None:
    await db.add_couriers(1)
    order_id = new_order_id()
    async with Simulator() as sim:
        sim.faults.inject(FaultMode.UNAVAILABLE)
        settings = consumer_settings(
            database_url,
            topics,
            order_service_addr=sim.address,
            reconcile_interval="0",
            order_service_budget="1s",
        )
        async with running_consumer(settings) as app:
            producer.send_now(event(order_id, "created"), partition=0)
            await wait_until(lambda: _has_delivery(db, order_id), what="assigned on the event alone")
            skipped = app.registry.get_sample_value("courier_order_verification_skipped_total")
    assert skipped == 1


async def _has_delivery(db: Db, order_id: str) -> bool:
    return await db.delivery(order_id) is not None


async def _known(db: Db, order_id: str) -> bool:
    return await db.known_status(order_id) is not None


async def _ignored(app: ConsumerApp) -> bool:
    value = app.registry.get_sample_value(
        "courier_kafka_messages_total", {"status": "created", "result": "ignored"}
    )
    return value == 2  # the cancelled order at once, the never-known one after the retry budget
