"""Outbox, history and decisions: written with the change's transaction, read back alike on both."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from courier_core.model import (
    Decision,
    EventType,
    HistoryEntry,
    OutboxEvent,
    Strategy,
    Subject,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def event(key: str, type_: EventType = EventType.DELIVERY_ASSIGNED, **data: object) -> OutboxEvent:
    return OutboxEvent(event_id=str(uuid.uuid4()), type=type_, key=key, occurred_at=T0, data=dict(data))


def decision(order_id: str, courier_id: int, excluded: tuple[int, ...] = ()) -> Decision:
    return Decision(
        order_id=order_id,
        courier_id=courier_id,
        strategy=Strategy.LEAST_LOADED,
        candidates=7,
        candidates_capped=False,
        courier_deliveries=3,
        tie_break="lowest_id",
        tied=2,
        excluded=excluded,
        decided_at=T0,
    )


async def stamp(uow_factory) -> None:
    """What the stamper does once events committed (the fakes stamp as they commit)."""
    async with uow_factory() as uow:
        await uow.outbox.stamp(limit=100)
        await uow.commit()


async def test_events_commit_with_the_change_in_order(uow_factory) -> None:
    sent = [event("o-1", order_id="o-1", note="ünïcode ' \" ;--"), event("7", EventType.COURIER_CREATED)]
    async with uow_factory() as uow:
        for e in sent:
            await uow.outbox.add(e)
        await uow.commit()
    async with uow_factory() as uow:
        await uow.outbox.add(event("lost"))
        await uow.rollback()
    await stamp(uow_factory)
    async with uow_factory() as uow:
        pending = await uow.outbox.pending(limit=10)
    assert [p.event for p in pending] == sent
    assert pending[0].position < pending[1].position


async def test_sent_events_leave_pending_and_only_they_are_pruned(uow_factory) -> None:
    async with uow_factory() as uow:
        for n in range(3):
            await uow.outbox.add(event(f"o-{n}"))
        await uow.commit()
    await stamp(uow_factory)
    async with uow_factory() as uow:
        first, second, third = await uow.outbox.pending(limit=10)
        await uow.outbox.mark_sent([first.position, second.position])
        await uow.commit()
    async with uow_factory() as uow:
        assert [p.position for p in await uow.outbox.pending(limit=10)] == [third.position]
        assert [p.position for p in await uow.outbox.after(first.position, limit=10)] == [
            second.position,
            third.position,
        ]
        assert await uow.outbox.last_position() == third.position
        assert await uow.outbox.prune(older_than=-1) == 2  # every sent row, whatever its age
        await uow.commit()
    async with uow_factory() as uow:
        assert [p.position for p in await uow.outbox.after(0, limit=10)] == [third.position]


async def test_history_keeps_every_entry_oldest_first(uow_factory) -> None:
    entries = [
        HistoryEntry(Subject.COURIER, "1", "created", None, "available", "cli", T0),
        HistoryEntry(Subject.DELIVERY, "1", "assigned", None, "active", "api:alice", T0, {"courier_id": 1}),
        HistoryEntry(Subject.COURIER, "1", "status", "available", "busy", "api:alice", T0, {"reason": "x"}),
    ]
    async with uow_factory() as uow:
        for entry in entries:
            await uow.history.add(entry)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.history.list(Subject.COURIER, "1") == [entries[0], entries[2]]
        assert await uow.history.list(Subject.DELIVERY, "1") == [entries[1]]
        assert await uow.history.list(Subject.COURIER, "1", limit=1) == [entries[0]]
        assert await uow.history.list(Subject.COURIER, "2") == []


async def test_the_latest_decision_per_order_is_kept(uow_factory) -> None:
    async with uow_factory() as uow:
        await uow.decisions.save(decision("o-1", 1))
        await uow.decisions.save(decision("o-2", 2, excluded=(5, 6)))
        await uow.commit()
    async with uow_factory() as uow:
        await uow.decisions.save(decision("o-1", 9))  # reassigned after an unassign
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.decisions.get("o-1") == decision("o-1", 9)
        assert await uow.decisions.get("o-2") == decision("o-2", 2, excluded=(5, 6))
        assert await uow.decisions.get("o-3") is None
