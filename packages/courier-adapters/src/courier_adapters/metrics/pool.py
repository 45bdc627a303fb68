"""This process's connection pool as gauges, sampled every second by :class:`PoolWatcher`.

Every process that has a pool (each API worker, the consumer) runs a watcher. In prometheus-client's
multiprocess mode the counts add up over the live processes and the oldest checkout is the largest,
so one scrape describes every worker's pool.

``courier_db_pool_oldest_checkout_seconds`` is how long the longest-held connection has been out of
the pool: a unit of work takes milliseconds, and no statement may run past the statement timeout,
so a value far above that is a connection that is not coming back (alert ``CourierDbConnectionHeld``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Literal

from prometheus_client import CollectorRegistry, Gauge

from courier_adapters.postgres import leases
from courier_adapters.postgres.database import PostgresDatabase

log = logging.getLogger("courier.db.pool")
SAMPLE_EVERY = 1.0


class PoolMetrics:
    """The five gauges of one process's pool."""

    def __init__(self, registry: CollectorRegistry) -> None:
        def gauge(name: str, doc: str, mode: Literal["livesum", "livemax"] = "livesum") -> Gauge:
            return Gauge(name, doc, registry=registry, multiprocess_mode=mode)

        self._size = gauge("courier_db_pool_size", "Connections the pool holds (in use and idle)")
        self._in_use = gauge("courier_db_pool_in_use", "Pooled connections checked out now")
        self._idle = gauge("courier_db_pool_idle", "Pooled connections ready to be taken")
        self._waiting = gauge("courier_db_pool_waiting", "Requests waiting for a pooled connection")
        self._oldest = gauge(
            "courier_db_pool_oldest_checkout_seconds",
            "How long the longest-held pooled connection has been checked out (0 when none is)",
            mode="livemax",
        )

    def sample(self, database: PostgresDatabase) -> None:
        stats = database.stats()
        size, idle = stats.get("pool_size", 0), stats.get("pool_available", 0)
        self._size.set(size)
        self._idle.set(idle)
        self._in_use.set(max(0, size - idle))
        self._waiting.set(stats.get("requests_waiting", 0))
        self._oldest.set(leases.oldest_checkout(database.pool))


class PoolWatcher:
    """Samples ``database``'s pool into ``metrics`` every ``interval`` seconds, in a task."""

    def __init__(self, database: PostgresDatabase, metrics: PoolMetrics, *, interval: float = SAMPLE_EVERY):
        self._database = database
        self._metrics = metrics
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="courier-pool-gauges")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run(self) -> None:
        """Sample now and every ``interval`` seconds until cancelled."""
        while True:
            try:
                self._metrics.sample(self._database)
            except Exception:  # a gauge is never worth stopping for
                log.debug("sampling the pool failed", exc_info=True)
            await asyncio.sleep(self._interval)
