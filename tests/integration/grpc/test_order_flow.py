"""The whole order flow with real parts: simulator (gRPC + Kafka events), consumer, PostgreSQL.

- events the simulator publishes are what the consumer understands (an order created there is assigned);
- an order whose events were lost is caught by the reconciliation the consumer schedules, once, and a
  finished one never is.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from courier_adapters.kafka.admin import ensure_topics
from courier_adapters.postgres.database import PostgresDatabase
from courier_order_sim.publisher import KafkaPublisher
from courier_order_sim.server import Simulator
from tests.integration.kafka.helpers import (
    PARTITIONS,
    Db,
    Topics,
    consumer_settings,
    running_consumer,
    wait_until,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def topics(broker: Any) -> Topics:
    suffix = uuid.uuid4().hex[:8]
    made = Topics(broker.bootstrap_servers, f"orders-{suffix}", f"orders-{suffix}.dlq", f"courier-{suffix}")
    ensure_topics(made.bootstrap_servers, {made.topic: PARTITIONS, made.dlq: 1})
    return made


async def test_orders_published_by_the_simulator_are_assigned_by_the_consumer(
    database_url: str, database: PostgresDatabase, topics: Topics
) -> None:
    db = Db(database)
    await db.add_couriers(2)
    publisher = await KafkaPublisher.connect(topics.bootstrap_servers, topics.topic)
    async with Simulator(seed=5, publisher=publisher) as sim:
        settings = consumer_settings(
            database_url, topics, order_service_addr=sim.address, reconcile_interval="0"
        )
        async with running_consumer(settings):
            live = await sim.create_order()
            dropped = await sim.create_order()
            await sim.set_status(dropped.id, "canceled")
            await wait_until(lambda: _has_delivery(db, live.id), what="the published order assigned")
            await wait_until(lambda: _status_is(db, dropped.id, "canceled"), what="the cancel applied")
    assert await db.delivery(dropped.id) is None


async def test_the_consumer_reconciles_orders_whose_events_were_lost(
    database_url: str, database: PostgresDatabase, topics: Topics
) -> None:
    db = Db(database)
    await db.add_couriers(3)
    async with Simulator(seed=6) as sim:  # no publisher: every event of these orders is lost
        missed = await sim.create_order()
        await sim.set_status(missed.id, "pending")
        await sim.set_status(missed.id, "cooking")
        finished = await sim.create_order(status="completed")
        settings = consumer_settings(
            database_url, topics, order_service_addr=sim.address, reconcile_interval="1s"
        )
        async with running_consumer(settings):
            await wait_until(lambda: _has_delivery(db, missed.id), what="the missed order reconciled")
            await wait_until(lambda: _status_is(db, finished.id, "completed"), what="the finished order seen")
            calls = sim.calls["GetOrders"]
            await wait_until(lambda: _more_calls(sim, calls + 2), what="two more reconciliation passes")
    assert await db.delivery(finished.id) is None
    assert await db.count("deliveries") == 1  # assigned once across the passes


async def _has_delivery(db: Db, order_id: str) -> bool:
    return await db.delivery(order_id) is not None


async def _status_is(db: Db, order_id: str, status: str) -> bool:
    return await db.known_status(order_id) == status


async def _more_calls(sim: Simulator, at_least: int) -> bool:
    return sim.calls["GetOrders"] >= at_least
