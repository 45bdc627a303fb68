"""Periodic jobs of the consumer process: pruning old idempotency and order-status rows."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from courier_adapters.postgres.database import PoolSession, PostgresDatabase
from courier_core.ports import UnitOfWorkFactory

log = logging.getLogger("courier.consumer.jobs")
PRUNE_BATCH = 5000

# Orders still waiting or with an active delivery keep their known status whatever its age: it guards them.
_PRUNE_ORDERS = """
DELETE FROM orders WHERE order_id IN (
    SELECT o.order_id FROM orders o
    WHERE o.updated_at < now() - make_interval(secs => %(seconds)s)
      AND NOT EXISTS (SELECT 1 FROM waiting_orders w WHERE w.order_id = o.order_id)
      AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.order_id = o.order_id AND d.status = 'active')
    LIMIT %(limit)s
)
"""


class Pruner:
    """Removes processed-event keys and known order statuses older than their retention (0: keep)."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        database: PostgresDatabase,
        processed_retention: float,
        order_retention: float,
    ) -> None:
        self._uow = uow
        self._session = PoolSession(database.pool)
        self._processed_retention = processed_retention
        self._order_retention = order_retention

    async def prune(self) -> tuple[int, int]:
        """Prune once; return (processed events, order statuses) removed."""
        events = orders = 0
        if self._processed_retention > 0:
            async with self._uow() as uow:
                events = await uow.processed.prune(older_than=self._processed_retention)
                await uow.commit()
        if self._order_retention > 0:
            while True:
                removed = await self._session.execute(
                    _PRUNE_ORDERS, {"seconds": self._order_retention, "limit": PRUNE_BATCH}
                )
                orders += removed
                if removed < PRUNE_BATCH:
                    break
        if events or orders:
            log.info("pruned old rows", extra={"processed_events": events, "order_statuses": orders})
        return events, orders


async def every(
    interval: float, job: Callable[[], Awaitable[object]], *, name: str, first: float | None = None
) -> None:
    """Run ``job`` every ``interval`` seconds (the first time after ``first``) until cancelled.

    A failed run is logged, not fatal: the next one may succeed.
    """
    delay = interval if first is None else first
    while True:
        await asyncio.sleep(delay)
        delay = interval
        try:
            await job()
        except Exception:
            log.exception("periodic job %s failed", name)
