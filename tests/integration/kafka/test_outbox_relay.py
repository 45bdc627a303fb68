"""Events out, against the real broker (Tansu) and PostgreSQL: one event per change, keyed, in commit
order; the relay's leadership; the consumer process runs a relay."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from courier_adapters.containers import Adapters, UseCases
from courier_adapters.kafka.admin import ensure_topics
from courier_adapters.kafka.embedded import EmbeddedBroker
from courier_adapters.kafka.publisher import KafkaEventPublisher, check_reachable
from courier_adapters.kafka.relay import RelayOptions, RelayRunner, drain
from courier_adapters.postgres.database import PostgresDatabase
from courier_adapters.postgres.stamper import PositionStamper, StamperOptions
from courier_core.actor import acting_as
from courier_core.errors import DependencyUnavailable
from courier_core.model import Assignment, EventType
from courier_core.usecases import AssignOrder, CreateCourier, HandOver
from tests.integration.kafka.helpers import (
    Db,
    ExternalBroker,
    Producer,
    Topics,
    consumer_settings,
    event,
    new_order_id,
    read_events,
    read_topic,
    running_consumer,
    wait_until,
)

pytestmark = pytest.mark.integration
Broker = EmbeddedBroker | ExternalBroker


@pytest.fixture
def events_topic(broker: Broker) -> str:
    topic = f"courier-events-{uuid.uuid4().hex[:8]}"
    ensure_topics(broker.bootstrap_servers, {topic: 4})
    return topic


async def outbox_rows(db: Db) -> list[tuple[int, str, str, str]]:
    """``(position, event_id, type, key)`` of every outbox row, in the order readers see them (the
    rows not stamped yet last, by id)."""
    rows = await db.scalar(
        "SELECT coalesce(json_agg(json_build_array(position, event_id, type, key)"
        " ORDER BY position NULLS LAST, id), '[]') FROM outbox"
    )
    return [(r[0], r[1], r[2], r[3]) for r in rows]


@asynccontextmanager
async def stamping(database_url: str) -> AsyncIterator[PositionStamper]:
    """The outbox's stamper, as every courier process runs one."""
    stamper = PositionStamper(database_url, options=StamperOptions(interval=0.01, standby_interval=0.1))
    stamper.start()
    try:
        yield stamper
    finally:
        await stamper.stop()


def decoded(records: list[Any]) -> list[dict[str, Any]]:
    """Each record's key, headers and value; per partition in offset order (so per key in order)."""
    by_partition: dict[int, list[Any]] = defaultdict(list)
    for record in records:
        by_partition[record.partition].append(record)
    out = []
    for partition in sorted(by_partition):
        for record in sorted(by_partition[partition], key=lambda r: r.offset):
            out.append(
                {
                    "key": record.key.decode(),
                    "headers": {k: v.decode() for k, v in record.headers},
                    "value": json.loads(record.value),
                }
            )
    return out


def per_key(events: list[tuple[str, str]]) -> dict[str, list[str]]:
    """``(key, event_id)`` pairs grouped by key, in order."""
    grouped: dict[str, list[str]] = defaultdict(list)
    for key, event_id in events:
        grouped[key].append(event_id)
    return dict(grouped)


async def test_every_change_is_one_event_with_its_type_and_key_in_commit_order_per_key(
    containers: tuple[Adapters, UseCases], database_url: str, database: PostgresDatabase, broker: Broker,
    events_topic: str,
) -> None:  # fmt: skip
    _, use_cases = containers
    couriers, deliveries = use_cases.couriers(), use_cases.deliveries()
    db = Db(database)
    expected: list[tuple[str, str]] = []  # (type, key) of every change, in the order they commit

    def courier(courier_id: int) -> str:
        return str(courier_id)

    async def assign(order_id: str) -> int:
        result = await deliveries.assign(AssignOrder(order_id=order_id))
        assert isinstance(result, Assignment)
        expected.extend(
            [("delivery.assigned", order_id), ("courier.status_changed", courier(result.courier_id))]
        )
        return result.courier_id

    with acting_as("test"):
        a = await couriers.create(
            CreateCourier(name="Ivan", phone="+79990001122", status="available", transport_type="car")
        )
        b = await couriers.create(
            CreateCourier(name="Anna", phone="+79990001123", status="available", transport_type="car")
        )
        expected += [("courier.created", courier(a.id)), ("courier.created", courier(b.id))]
        o1, o2, o3, o4, o5, o6 = (new_order_id() for _ in range(6))
        first = await assign(o1)
        await deliveries.unassign(o1)
        expected += [("delivery.unassigned", o1), ("courier.status_changed", courier(first))]
        holder = await assign(o2)
        other = b.id if holder == a.id else a.id
        await deliveries.hand_over(HandOver(courier_id=holder, to_courier_id=other))
        expected += [
            ("delivery.handed_over", o2),
            ("courier.status_changed", courier(other)),
            ("courier.status_changed", courier(holder)),
        ]
        await deliveries.complete(o2)
        expected += [("delivery.completed", o2), ("courier.status_changed", courier(other))]
        expiring = await assign(o3)
        await db.execute(
            "UPDATE deliveries SET deadline = now() - interval '1 second' WHERE order_id = %s", (o3,)
        )
        assert await deliveries.release_expired() == 1
        expected += [("delivery.expired", o3), ("courier.status_changed", courier(expiring))]
        await assign(o4)
        await assign(o5)
        queued = await deliveries.assign(AssignOrder(order_id=o6, wait=True))
        assert not isinstance(queued, Assignment)
        expected.append(("order.waiting", o6))
        await deliveries.complete(o4)  # its courier goes straight to the waiting order
        expected += [("delivery.completed", o4), ("delivery.assigned", o6)]

    rows = await outbox_rows(db)
    assert [(type_, key) for _, _, type_, key in rows] == expected
    assert {t.value for t in EventType} - {type_ for type_, _ in expected} == {
        "courier.updated", "courier.deleted",
    }  # fmt: skip
    history = await db.scalar("SELECT array_agg(DISTINCT actor) FROM history")
    assert history == ["test"]

    publisher = KafkaEventPublisher(broker.bootstrap_servers, topic=events_topic)
    try:
        sent = await drain(database_url, publisher, options=RelayOptions(batch=7))
    finally:
        publisher.close()
    assert sent == len(rows)
    assert await db.count("outbox", "sent_at IS NULL") == 0

    records = decoded(read_events(broker.bootstrap_servers, events_topic, distinct=len(rows)))
    assert len(records) == len(rows)  # exactly once: no record missing, none twice
    by_id = {event_id: (type_, key) for _, event_id, type_, key in rows}
    for record in records:
        event_id = record["value"]["event_id"]
        assert by_id[event_id] == (record["value"]["type"], record["key"])
        assert record["headers"] == {"type": record["value"]["type"], "event_id": event_id}
    published = per_key([(r["key"], r["value"]["event_id"]) for r in records])
    assert published == per_key([(key, event_id) for _, event_id, _, key in rows])
    assigned = next(r["value"] for r in records if r["value"]["type"] == "delivery.assigned")
    assert {"order_id", "courier_id", "deadline", "occurred_at", "strategy"} <= assigned.keys()


async def test_concurrent_transactions_get_outbox_positions_in_commit_order(
    containers: tuple[Adapters, UseCases], database: PostgresDatabase, database_url: str
) -> None:
    """A reader following ``after(position)`` while many assigns commit never skips an event that
    appears later with a lower position; a transaction rolled back leaves no event and no history."""
    adapters, use_cases = containers
    db = Db(database)
    await db.add_couriers(60)
    outbox = adapters.outbox_reader()
    deliveries = use_cases.deliveries()
    seen: list[int] = []
    done = asyncio.Event()

    async def follow() -> None:
        while True:
            finished = done.is_set()
            batch = await outbox.after(seen[-1] if seen else 0, limit=1000)
            seen.extend(stored.position for stored in batch)
            if finished and not batch:
                return
            await asyncio.sleep(0)

    orders = [new_order_id() for _ in range(60)]
    async with stamping(database_url):
        reader = asyncio.create_task(follow())
        results = await asyncio.gather(*(deliveries.assign(AssignOrder(order_id=o)) for o in orders))

        async def stamped() -> bool:
            return await db.count("outbox", "position IS NULL") == 0

        await wait_until(stamped, what="every event stamped")
        done.set()
        await reader
    assert all(isinstance(r, Assignment) for r in results)
    everything = [row[0] for row in await outbox_rows(db)]
    assert len(everything) == 120  # delivery.assigned and courier.status_changed per assign
    assert seen == everything  # nothing appeared behind the reader

    before = await db.count("history")

    async def change_then_roll_back() -> None:
        async with adapters.uow()() as uow:
            await deliveries.unassign_in(uow, orders[0])  # recorded its events and history...
            raise RuntimeError("changed our mind")  # ...and rolls back before COMMIT

    with pytest.raises(RuntimeError, match="changed our mind"):
        await change_then_roll_back()
    assert [row[0] for row in await outbox_rows(db)] == everything
    assert await db.count("history") == before
    assert (await db.delivery(orders[0]) or (0, ""))[1] == "active"


async def seed_events(db: Db, count: int, *, keys: int = 6, start: int = 0) -> None:
    """``count`` outbox events (a relay test needs volume, not use cases): ``seq`` numbers them."""
    await db.execute(
        "INSERT INTO outbox (event_id, type, key, occurred_at, payload)"
        " SELECT gen_random_uuid(), 'courier.updated', 'k' || (i %% %(keys)s::int), now(),"
        " jsonb_build_object('seq', i) FROM generate_series(%(first)s::int, %(last)s::int) AS i ORDER BY i",
        {"keys": keys, "first": start, "last": start + count - 1},
    )


def first_copies_in_order(records: list[dict[str, Any]]) -> dict[str, list[int]]:
    """Per key, the ``seq`` of each event's first copy, in the order they were published."""
    seen: set[str] = set()
    order: dict[str, list[int]] = defaultdict(list)
    for record in records:
        value = record["value"]
        if value["event_id"] not in seen:
            seen.add(value["event_id"])
            order[record["key"]].append(value["seq"])
    return dict(order)


class Observer:
    def __init__(self) -> None:
        self.changes: list[bool] = []

    def active(self, active: bool) -> None:
        self.changes.append(active)

    def published(self, count: int) -> None:
        """Counted by the runner itself."""


@asynccontextmanager
async def relay(
    database_url: str, servers: str, topic: str, **options: float
) -> AsyncIterator[tuple[RelayRunner, Observer]]:
    publisher = KafkaEventPublisher(servers, topic=topic)
    observer = Observer()
    options = {"batch": 50, "poll_interval": 0.05, "standby_interval": 0.1, **options}
    runner = RelayRunner(
        database_url, publisher, options=RelayOptions(**options), observer=observer, topic=topic
    )
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        async with stamping(database_url):  # the relay's process runs a stamper too
            yield runner, observer
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)
        publisher.close()


async def test_one_relay_publishes_the_other_stands_by_and_takes_over_when_the_session_dies(
    database_url: str, database: PostgresDatabase, broker: Broker, events_topic: str
) -> None:
    db = Db(database)
    await seed_events(db, 400)
    servers = broker.bootstrap_servers
    async with relay(database_url, servers, events_topic) as (first, first_seen):
        await wait_until(lambda: _true(first.is_active), what="the first relay active")
        async with relay(database_url, servers, events_topic) as (second, second_seen):
            await wait_until(lambda: _true(second.standing_by), what="the second relay standing by")

            async def all_sent() -> bool:
                return await db.count("outbox", "sent_at IS NULL") == 0

            await wait_until(all_sent, what="the first 400 events sent")
            assert (first.published, second.published) == (400, 0)
            assert second_seen.changes == []

            # The active relay's session dies: its lock goes with it; the standby takes over.
            killed = await db.scalar(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory'"
                " AND classid = 4 AND objid = 0 AND objsubid = 2 AND granted"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
            assert killed == 1
            await seed_events(db, 400, start=400)
            await wait_until(lambda: _true(second.is_active), what="the standby active")
            await wait_until(all_sent, what="the next 400 events sent")
            # The first relay noticed (its next statement failed) and came back as a candidate.
            await wait_until(lambda: _true(first.standing_by), what="the first relay standing by")
            assert first_seen.changes == [True, False]
            assert second_seen.changes == [True]
            assert first.published == 400 and second.published >= 400

    records = decoded(read_events(servers, events_topic, distinct=800))
    assert {r["value"]["seq"] for r in records} == set(range(800))  # nothing missing
    for key, seqs in first_copies_in_order(records).items():
        assert seqs == sorted(seqs), key  # per key, commit order across the takeover


async def test_the_active_relay_prunes_sent_events_past_their_retention_and_never_pending_ones(
    database_url: str, database: PostgresDatabase, broker: Broker, events_topic: str
) -> None:
    db = Db(database)
    await seed_events(db, 10)
    await db.execute("UPDATE outbox SET sent_at = now() - interval '2 days' WHERE id <= 4")
    await db.execute("UPDATE outbox SET sent_at = now() - interval '1 hour' WHERE id = 5")
    await db.execute("UPDATE outbox SET created_at = now() - interval '3 days' WHERE id > 5")
    servers = broker.bootstrap_servers
    async with relay(database_url, servers, events_topic, retention=86400.0, prune_interval=0.1) as (
        runner,
        _,
    ):

        async def pruned() -> bool:
            return await db.count("outbox") == 6

        await wait_until(pruned, what="the four old sent events pruned")
        # The pending ones, however old, were published, not pruned.
        assert runner.published == 5, (runner.published, runner.is_active, runner.standing_by)
    remaining = await db.scalar("SELECT array_agg(id ORDER BY id) FROM outbox")
    assert remaining == [5, 6, 7, 8, 9, 10]
    assert await db.count("outbox", "sent_at IS NULL") == 0


async def _true(value: bool) -> bool:
    return value


async def test_the_consumer_process_runs_the_relay_and_records_its_changes_as_the_consumer(
    database_url: str, topics: Topics, producer: Producer, db: Db, events_topic: str
) -> None:
    await db.add_couriers(1)
    order_id = new_order_id()
    settings = consumer_settings(database_url, topics, events_topic=events_topic)
    async with running_consumer(settings) as app:
        producer.send_now(event(order_id, "created"))

        async def published() -> bool:
            return await db.count("outbox") == 2 and await db.count("outbox", "sent_at IS NULL") == 0

        await wait_until(published, what="the assignment's two events published")
        assert app.registry.get_sample_value("courier_outbox_relay_active") == 1
        assert app.registry.get_sample_value("courier_outbox_published_total") == 2
        assert app.registry.get_sample_value("courier_outbox_pending") is not None
    actors = await db.scalar("SELECT array_agg(DISTINCT actor) FROM history")
    assert actors == ["consumer"]
    records = decoded(read_topic(topics.bootstrap_servers, events_topic, expected=2))
    assigned = [r for r in records if r["value"]["type"] == "delivery.assigned"]
    assert [r["key"] for r in assigned] == [order_id]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_an_unreachable_broker_is_a_broker_dependency_failure_naming_it() -> None:
    servers = f"127.0.0.1:{_closed_port()}"
    with pytest.raises(DependencyUnavailable) as raised:
        check_reachable(servers, timeout=1)
    assert raised.value.dependency == "broker"
    assert raised.value.message == f"Kafka at {servers} is unreachable: Connection refused"


def test_one_reachable_bootstrap_server_is_enough() -> None:
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        check_reachable(f"127.0.0.1:{_closed_port()},127.0.0.1:{port}", timeout=1)
