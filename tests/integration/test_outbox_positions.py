"""The outbox's order without a lock shared by every writer: ids drawn under the key's lock, positions
stamped after commit by one leader, readers (relay, live stream) by position only."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta

import psycopg
import pytest

from courier_adapters.postgres.database import PoolSession, PostgresDatabase, TransactionSession
from courier_adapters.postgres.journal import Journal, PostgresOutboxRepository
from courier_adapters.postgres.stamper import TRY_LOCK_SQL, PositionStamper, StamperOptions, stamp_until
from courier_core import AssignOrder, CreateCourier, DeadlinePolicy, UpdateCourier
from courier_core.model import EventType, StoredEvent
from courier_core.usecases import OutboxRelay
from courier_core.usecases.handover import HandOver
from tests.integration.test_dispatch_pg import services

pytestmark = pytest.mark.integration

INSERT = (
    "INSERT INTO outbox (event_id, type, key, occurred_at, payload)"
    " VALUES (%s, 'courier.created', %s, now(), '{}') RETURNING id"
)


def insert(conn: psycopg.Connection, key: str) -> int:
    row = conn.execute(INSERT, (str(uuid.uuid4()), key)).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def connect(database_url: str) -> Iterator:
    opened: list[psycopg.Connection] = []

    def open_one(autocommit: bool = False) -> psycopg.Connection:
        conn = psycopg.connect(database_url, autocommit=autocommit)
        opened.append(conn)
        return conn

    yield open_one
    for conn in opened:
        conn.close()


@pytest.fixture
async def outbox(database: PostgresDatabase) -> PostgresOutboxRepository:
    return PostgresOutboxRepository(PoolSession(database.pool))


def keys(events: Sequence[StoredEvent]) -> list[str]:
    return [e.event.key for e in events]


class Recorder:
    def __init__(self) -> None:
        self.sent: list[StoredEvent] = []

    async def publish(self, events: Sequence[StoredEvent]) -> None:
        self.sent.extend(events)

    async def aclose(self) -> None:
        """Nothing to close."""


async def test_a_lower_id_committed_late_is_read_after_the_higher_with_no_gap_or_duplicate(
    connect, outbox: PostgresOutboxRepository
) -> None:
    slow, fast = connect(), connect()
    slow_id = insert(slow, "slow")  # drawn first, not committed yet
    fast_id = insert(fast, "fast")
    fast.commit()
    assert slow_id < fast_id
    assert await outbox.stamp(limit=100) == 1  # only what is visible
    relay = OutboxRelay(outbox=outbox, publisher=(recorder := Recorder()))
    assert await relay.relay_once() == 1
    seen = await outbox.after(0, limit=10)  # a stream client, which then disconnects
    assert keys(seen) == ["fast"]
    resumed_at = seen[-1].position  # its Last-Event-ID
    assert await outbox.after(resumed_at, limit=10) == []  # it resumes before the slow one commits
    slow.commit()
    assert await outbox.stamp(limit=100) == 1
    assert keys(await outbox.after(resumed_at, limit=10)) == ["slow"]  # the resumed client gets it
    assert keys(await outbox.after(0, limit=10)) == ["fast", "slow"]  # a new one: each once
    assert await relay.relay_once() == 1
    assert keys(recorder.sent) == ["fast", "slow"]
    assert await outbox.pending(limit=10) == []


async def test_a_rolled_back_transaction_leaves_no_hole_that_stalls_readers(
    connect, outbox: PostgresOutboxRepository
) -> None:
    lost, kept = connect(), connect()
    insert(lost, "lost")
    lost.rollback()
    insert(kept, "kept")
    kept.commit()
    await outbox.stamp(limit=100)
    assert keys(await outbox.pending(limit=10)) == ["kept"]
    assert keys(await outbox.after(0, limit=10)) == ["kept"]


async def test_one_batch_is_stamped_in_id_order(connect, outbox: PostgresOutboxRepository) -> None:
    writer = connect(autocommit=True)
    writer.execute(
        "INSERT INTO outbox (event_id, type, key, occurred_at, payload)"
        " SELECT gen_random_uuid(), 'courier.created', (n % 7)::text, now(), '{}'"
        " FROM generate_series(1, 2500) n"
    )
    assert await outbox.stamp(limit=1000) == 1000  # small steps
    assert await outbox.stamp(limit=5000) == 1500
    rows = writer.execute("SELECT id FROM outbox ORDER BY position").fetchall()
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)
    assert writer.execute("SELECT count(*) FROM outbox WHERE position IS NULL").fetchone() == (0,)


async def test_a_killed_stamper_leader_loses_nothing_and_a_standby_takes_over(
    connect, database_url: str, outbox: PostgresOutboxRepository
) -> None:
    writer = connect(autocommit=True)
    options = StamperOptions(interval=0.01, standby_interval=0.05)
    first, second = (
        PositionStamper(database_url, options=options),
        PositionStamper(database_url, options=options),
    )
    first.start()
    await wait_for(lambda: first.leading)
    second.start()
    try:
        for n in range(5):
            insert(writer, f"before-{n}")
        await wait_for(lambda: first.stamped == 5)
        assert not second.leading  # one leader at a time
        writer.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
            " AND application_name = 'courier-stamper' AND backend_type = 'client backend'"
            " AND pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted)"
        )
        for n in range(5):
            insert(writer, f"after-{n}")
        await wait_for(lambda: second.leading or first.leading)
        await wait_for(lambda: first.stamped + second.stamped == 10)
    finally:
        await first.stop()
        await second.stop()
    stored = await outbox.after(0, limit=100)
    assert keys(stored) == [f"before-{n}" for n in range(5)] + [f"after-{n}" for n in range(5)]
    rows = writer.execute("SELECT id FROM outbox ORDER BY position").fetchall()
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)


async def test_the_relay_killed_after_stamping_loses_nothing(
    connect, database_url: str, outbox: PostgresOutboxRepository
) -> None:
    writer = connect(autocommit=True)
    for n in range(4):
        insert(writer, f"k{n}")
    await outbox.stamp(limit=100)
    # A relay on its own session publishes two, then its session dies before marking them sent.
    conn = await psycopg.AsyncConnection.connect(database_url, autocommit=True)
    first = await PostgresOutboxRepository(TransactionSession(conn)).pending(limit=2)
    await conn.close()
    assert keys(first) == ["k0", "k1"]
    recorder = Recorder()
    assert await OutboxRelay(outbox=outbox, publisher=recorder).drain() == 4
    assert keys(recorder.sent) == ["k0", "k1", "k2", "k3"]


async def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # a stamper's counters: nothing to await but time
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


# Each event type with the lock its change holds while the journal draws the event's id: every other
# writer of the same key takes that lock too, so one key's ids rise in its commit order. Completion and
# expiry are one conditional UPDATE of the delivery's row (no order lock, no extra round trip): every
# other change of an order that has a delivery writes that row as well (unassign deletes it, a handover
# updates it), and before the delivery commits there is no row to complete.
KEY_LOCKS = {
    EventType.DELIVERY_ASSIGNED: "order",
    EventType.DELIVERY_UNASSIGNED: "order",
    EventType.DELIVERY_HANDED_OVER: "order",
    EventType.ORDER_WAITING: "order",
    EventType.DELIVERY_COMPLETED: "delivery row",
    EventType.DELIVERY_EXPIRED: "delivery row",
    EventType.COURIER_CREATED: "new courier row",  # nobody else sees the courier before it commits
    EventType.COURIER_UPDATED: "courier row",
    EventType.COURIER_STATUS_CHANGED: "courier row",
    EventType.COURIER_DELETED: "courier row",
}


def held(check: psycopg.Connection, lock: str, key: str) -> bool:
    """Whether another transaction holds ``lock`` for ``key`` now (seen from ``check``)."""
    try:
        if lock == "order":
            row = check.execute("SELECT pg_try_advisory_xact_lock(1, hashtext(%s))", (key,)).fetchone()
            return row is not None and not row[0]
        if lock == "new courier row":
            return check.execute("SELECT 1 FROM couriers WHERE id = %s", (int(key),)).fetchone() is None
        table, column = ("deliveries", "order_id") if lock == "delivery row" else ("couriers", "id")
        check.execute(f"SELECT 1 FROM {table} WHERE {column} = %s FOR UPDATE NOWAIT", (key,))
        return False
    except psycopg.errors.LockNotAvailable:
        return True
    finally:
        check.rollback()


async def test_every_event_is_written_while_its_keys_lock_is_held(
    connect, database: PostgresDatabase, monkeypatch
) -> None:
    assert set(KEY_LOCKS) == set(EventType)
    check = connect()
    seen: dict[EventType, bool] = {}
    statement = Journal.statement

    def checked(journal: Journal) -> str:  # the moment the journal goes out with COMMIT
        for event in journal.events:
            seen[event.type] = seen.get(event.type, True) and held(check, KEY_LOCKS[event.type], event.key)
        return statement(journal)

    monkeypatch.setattr(Journal, "statement", checked)
    couriers, deliveries = services(database)
    _, quick = services(database, DeadlinePolicy(car=timedelta(milliseconds=100)))
    one = await couriers.create(
        CreateCourier(name="A", phone="+70000000001", status="available", transport_type="car")
    )
    two = await couriers.create(
        CreateCourier(name="B", phone="+70000000002", status="available", transport_type="car")
    )
    await couriers.update(UpdateCourier(id=one.id, name="Anna"))
    await deliveries.assign(AssignOrder(order_id="o1"))
    await deliveries.hand_over(HandOver(courier_id=one.id, to_courier_id=two.id))
    await deliveries.unassign("o1")
    await deliveries.assign(AssignOrder(order_id="o2"))
    await deliveries.complete("o2")
    await quick.assign(AssignOrder(order_id="o3"))
    await quick.assign(AssignOrder(order_id="o4"))
    await deliveries.assign(AssignOrder(order_id="o5", wait=True))  # both busy: it waits
    await asyncio.sleep(0.2)
    assert await deliveries.release_expired() == 2  # one courier takes the waiting order on its way
    await deliveries.complete("o5")
    await couriers.delete(two.id)
    assert seen == dict.fromkeys(EventType, True)


async def test_a_drain_that_stamps_lets_the_stampers_lock_go_after(connect, database_url: str) -> None:
    """``courier outbox drain`` stamps what waits when no stamper leads, then lets the lead go: the
    live stream's stampers are not held off for the whole drain."""
    writer = connect(autocommit=True)
    first = insert(writer, "a")
    insert(writer, "b")
    conn = await psycopg.AsyncConnection.connect(database_url, autocommit=True)
    try:
        await stamp_until(conn, first)  # at least up to "a": everything visible is stamped
        assert writer.execute("SELECT count(*) FROM outbox WHERE position IS NULL").fetchone() == (0,)
        other = connect(autocommit=True)
        assert other.execute(TRY_LOCK_SQL).fetchone() == (True,)  # the lead is free again
    finally:
        await conn.close()
