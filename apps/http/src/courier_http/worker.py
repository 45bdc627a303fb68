"""The expiry worker: releases expired deliveries every ``COURIER_RELEASE_INTERVAL``.

Safe with several API processes at once: core's release uses conditional updates that skip rows
another process holds, so each delivery is expired (and its courier freed) once. Its changes are
recorded as the actor ``worker``. It also prunes ``Idempotency-Key`` answers past their window, at
most every ``prune_every`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from courier_core.actor import acting_as
from courier_core.errors import CourierError

log = logging.getLogger("courier.http.expiry")
ACTOR = "worker"
PRUNE_EVERY = 300.0


class ExpiryWorker:
    """Calls ``release`` every ``interval`` seconds in a task, from :meth:`start` until :meth:`stop`."""

    def __init__(
        self,
        release: Callable[[], Awaitable[int]],
        *,
        interval: float,
        prune: Callable[[], Awaitable[int]] | None = None,
        prune_every: float = PRUNE_EVERY,
    ) -> None:
        self._release = release
        self._interval = interval
        self._prune = prune
        self._prune_every = prune_every
        self._pruned_at: float | None = None
        self._task: asyncio.Task[None] | None = None
        self.runs = 0

    def start(self) -> None:
        if self._interval <= 0:
            log.info("expiry worker off (COURIER_RELEASE_INTERVAL=0)")
            return
        self._task = asyncio.create_task(self._loop(), name="courier-expiry-worker")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def run_once(self) -> int:
        """One release; failures are logged, never raised (the next tick tries again)."""
        self.runs += 1
        await self._prune_now()
        try:
            with acting_as(ACTOR):
                released = await self._release()
        except CourierError as exc:
            log.warning("expiry worker: %s", exc)
            return 0
        except Exception:
            log.exception("expiry worker failed")
            return 0
        if released:
            log.info("released expired deliveries", extra={"count": released})
        return released

    async def _prune_now(self) -> None:
        now = time.monotonic()
        if self._prune is None or (self._pruned_at is not None and now - self._pruned_at < self._prune_every):
            return
        self._pruned_at = now
        try:
            pruned = await self._prune()
        except Exception as exc:
            log.warning("pruning idempotency keys failed: %s", exc)
            return
        if pruned:
            log.info("pruned idempotency keys", extra={"count": pruned})

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.run_once()
