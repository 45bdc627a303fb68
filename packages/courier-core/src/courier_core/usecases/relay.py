"""The outbox relay: publishes pending events by position, marks them sent once acknowledged.

At least once: a relay that dies between the broker's acknowledgement and ``mark_sent`` publishes
those events again, with the same ``event_id`` (consumers de-duplicate by it). Only one relay may run
at a time (the adapter holds a lock while it does), and positions follow each key's commit order
(see :class:`courier_core.ports.OutboxRepository`), so each key's events go out in commit order.
"""

from __future__ import annotations

from courier_core.ports import EventPublisher, OutboxRepository


class OutboxRelay:
    def __init__(self, *, outbox: OutboxRepository, publisher: EventPublisher, batch: int = 500) -> None:
        if batch < 1:
            raise ValueError("batch must be positive")
        self._outbox = outbox
        self._publisher = publisher
        self._batch = batch

    async def relay_once(self, *, upto: int | None = None) -> int:
        """Publish one batch of the oldest pending events (up to position ``upto``); return how many."""
        pending = await self._outbox.pending(limit=self._batch)
        if upto is not None:
            pending = [stored for stored in pending if stored.position <= upto]
        if not pending:
            return 0
        await self._publisher.publish(pending)  # raises when not every event was acknowledged
        await self._outbox.mark_sent([stored.position for stored in pending])
        return len(pending)

    async def drain(self) -> int:
        """Publish what is pending now (not what commits meanwhile); return how many were sent."""
        upto = await self._outbox.last_position()
        sent = 0
        while count := await self.relay_once(upto=upto):
            sent += count
        return sent
