"""Orders the order service does not know yet: asked about again with backoff, never blocking a partition.

A ``created`` event whose order is unknown to the order service is taken off its partition (its offset is
committed) and kept here; it is applied as soon as the order service knows the order, or ignored (logged,
counted) once ``budget`` seconds have passed. Kept in memory: a process that dies forgets them, and
reconciliation assigns such orders later.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from dataclasses import dataclass, field

from courier_consumer.telemetry import ConsumerMetrics
from courier_core.usecases.events import OrderEvent, OrderEventService, Outcome

log = logging.getLogger("courier.consumer.deferred")
FIRST_DELAY = 0.5
MAX_DELAY = 8.0
MAX_PENDING = 10_000


@dataclass(order=True)
class _Pending:
    due: float
    seq: int
    first_seen: float = field(compare=False)
    delay: float = field(compare=False)
    event: OrderEvent = field(compare=False)


class DeferredOrders:
    """The retry schedule of unknown orders; :meth:`run` works it until cancelled."""

    def __init__(self, *, metrics: ConsumerMetrics, budget: float, tick: float = 0.2) -> None:
        self._metrics = metrics
        self._budget = budget
        self._tick = tick
        self._heap: list[_Pending] = []
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._heap)

    def add(self, event: OrderEvent) -> None:
        """Schedule ``event`` to be tried again (call on the event loop)."""
        if len(self._heap) >= MAX_PENDING or self._budget <= 0:
            self._give_up(event, "too many orders unknown to the order service")
            return
        now = time.monotonic()
        heapq.heappush(self._heap, _Pending(now + FIRST_DELAY, next(self._seq), now, FIRST_DELAY, event))
        log.info("order unknown to the order service, asking again later", extra={"order_id": event.order_id})

    async def run(self, service: OrderEventService) -> None:
        while True:
            await asyncio.sleep(self._tick)
            while self._heap and self._heap[0].due <= time.monotonic():
                await self._retry(service, heapq.heappop(self._heap))

    async def _retry(self, service: OrderEventService, pending: _Pending) -> None:
        try:
            outcome = await service.apply(pending.event)
        except Exception as exc:  # the database or the order service is down: try again later
            log.warning(
                "retrying an unknown order failed: %s", exc, extra={"order_id": pending.event.order_id}
            )
            outcome = Outcome.DEFERRED
        if outcome is not Outcome.DEFERRED:
            self._metrics.message(pending.event.status, outcome.value)
            log.info("order event %s", outcome.value, extra={"order_id": pending.event.order_id})
            return
        now = time.monotonic()
        if now - pending.first_seen >= self._budget:
            self._give_up(pending.event, f"the order service did not know it for {self._budget:g}s")
            return
        delay = min(pending.delay * 2, MAX_DELAY)
        heapq.heappush(
            self._heap, _Pending(now + delay, next(self._seq), pending.first_seen, delay, pending.event)
        )

    def _give_up(self, event: OrderEvent, why: str) -> None:
        self._metrics.message(event.status, "ignored")
        log.warning("order event ignored: %s", why, extra={"order_id": event.order_id})
