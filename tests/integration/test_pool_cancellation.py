"""No pooled connection is lost when the work holding it is cancelled, wherever that happens.

The API cancels a request at any await once its client has gone, its deadline has passed or shutdown
has begun (sometimes twice: gone, then shutdown); the consumer cancels work that overran its timeout.
Here many tasks run real use cases (assign, unassign, reads) on a pool of three connections and are
cancelled at random moments, some of them twice; afterwards every connection must be back in the pool,
PostgreSQL must count exactly the pool's sessions, and the service must answer as before.
"""

from __future__ import annotations

import asyncio
import random
import uuid

import pytest

from courier_adapters.containers import Adapters, UseCases
from courier_adapters.postgres import leases
from courier_adapters.postgres.database import PoolSession, PostgresDatabase
from courier_adapters.settings import load_settings
from courier_core import AssignOrder, CreateCourier
from courier_core.errors import CourierError

POOL_SIZE = 3
WORKERS = 24
ROUNDS = 6


async def _sessions(url: str, name: str) -> int:
    probe = PostgresDatabase(url, min_size=1, max_size=1, application_name="courier-probe")
    await probe.open()
    try:
        row = await PoolSession(probe.pool).fetch_one(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [name]
        )
    finally:
        await probe.close()
    assert row is not None
    return int(row[0])


async def _work(use_cases: UseCases, reads: PoolSession, rng: random.Random, worker: int) -> None:
    deliveries, couriers = use_cases.deliveries(), use_cases.couriers()
    n = 0
    while True:  # until cancelled
        n += 1
        order = f"w{worker}-{n}"
        try:
            choice = rng.random()
            if choice < 0.4:
                await deliveries.assign(AssignOrder(order_id=order))
                await deliveries.unassign(order)
            elif choice < 0.7:
                await couriers.get(rng.randint(1, 10))
            else:
                # a slower statement, so that cancellation also lands while a query runs
                await reads.fetch_one("SELECT pg_sleep(%s)", [rng.choice((0.001, 0.005, 0.02))])
        except CourierError:
            await asyncio.sleep(0)  # a 409 or 503 is an answer too; the pool is what is watched


async def _cancel_at_random(tasks: list[asyncio.Task[None]], rng: random.Random) -> None:
    """Cancel every task once at a random moment; a third of them again a moment later."""
    order = list(tasks)
    rng.shuffle(order)
    for task in order:
        await asyncio.sleep(rng.uniform(0, 0.01))
        task.cancel()
        if rng.random() < 0.33:
            await asyncio.sleep(rng.choice((0, 0, 0.0005, 0.002)))
            task.cancel()


async def _whole(database: PostgresDatabase, timeout: float = 5.0) -> dict[str, int]:
    """The pool's stats once every connection is available again (or after ``timeout``)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        stats = database.stats()
        if stats.get("pool_available", 0) == stats.get("pool_size", -1) or loop.time() > deadline:
            return stats
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_random_cancellation_under_concurrency_loses_no_connection(database_url, seed):
    name = f"courier-cancel-{uuid.uuid4().hex[:8]}"
    settings = load_settings(
        {"COURIER_DATABASE_URL": database_url, "COURIER_DB_POOL_MIN": str(POOL_SIZE)}, dotenv=None
    )
    adapters = Adapters(settings=settings, database_url=database_url)
    database = PostgresDatabase(
        database_url, min_size=POOL_SIZE, max_size=POOL_SIZE, acquire_timeout=2.0, application_name=name
    )
    adapters.database.override(database)
    use_cases = UseCases(adapters=adapters)
    await database.open()
    rng = random.Random(seed)
    try:
        for i in range(10):
            await use_cases.couriers().create(
                CreateCourier(
                    name="Courier " + "abcdefghij"[i],
                    phone=f"+7999000{i:04d}",
                    status="available",
                    transport_type="car",
                )
            )
        reads = PoolSession(database.pool)
        for _ in range(ROUNDS):
            tasks = [asyncio.create_task(_work(use_cases, reads, rng, w)) for w in range(WORKERS)]
            await asyncio.sleep(rng.uniform(0.02, 0.1))
            await _cancel_at_random(tasks, rng)
            async with asyncio.timeout(10):  # a task that cannot finish is a failure, not a hang
                results = await asyncio.gather(*tasks, return_exceptions=True)
            assert all(isinstance(r, asyncio.CancelledError) for r in results), results

        stats = await _whole(database)
        assert stats["pool_available"] == stats["pool_size"] == POOL_SIZE, stats
        assert leases.oldest_checkout(database.pool) == 0.0
        assert await _sessions(database_url, name) == POOL_SIZE
        # Still serving: as many concurrent units of work as the pool holds, each well inside its timeout.
        async with asyncio.timeout(2.0):
            await asyncio.gather(*(use_cases.couriers().get(1) for _ in range(POOL_SIZE * 3)))
    finally:
        await database.close()
