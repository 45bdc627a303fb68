"""Outbox, history and assignment decisions on PostgreSQL.

What a unit of work records (events, history entries, decisions) is buffered in its :class:`Journal`
and written by one statement just before ``COMMIT``: one round trip per transaction, whatever it
changed. That statement first takes a transaction-scoped advisory lock, held until the commit, so
outbox ids are handed out in commit order: a reader that saw id *n* will never later see an id below
*n* appear. The relay publishes in that order; the live stream resumes from an id.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from courier_adapters.postgres.database import Row, Session
from courier_core.model import (
    Decision,
    EventType,
    HistoryEntry,
    OutboxEvent,
    StoredEvent,
    Strategy,
    Subject,
)

OUTBOX_LOCK_NAMESPACE = 3  # pg_advisory_xact_lock(3, 0): outbox ids in commit order
RELAY_LOCK_NAMESPACE = 4  # pg_try_advisory_lock(4, 0): the one active relay
PRUNE_BATCH = 10_000  # sent events removed per statement

_EVENT_TYPES = {t.value: t for t in EventType}
_SUBJECTS = {s.value: s for s in Subject}
_STRATEGIES = {s.value: s for s in Strategy}


@cache
def flush_sql(events: bool, history: bool, decisions: bool) -> str:
    parts: list[str] = []
    counts: list[str] = []
    if events:
        parts.append(f"lock AS (SELECT pg_advisory_xact_lock({OUTBOX_LOCK_NAMESPACE}, 0))")
        parts.append(
            "o AS (INSERT INTO outbox (event_id, type, key, occurred_at, payload)"
            " SELECT e.event_id, e.type, e.key, e.occurred_at, e.payload"
            " FROM lock, unnest(%(event_ids)s::uuid[], %(types)s::text[], %(keys)s::text[],"
            " %(occurred)s::timestamptz[], %(payloads)s::jsonb[])"
            " WITH ORDINALITY AS e(event_id, type, key, occurred_at, payload, n)"
            " ORDER BY e.n RETURNING 1)"
        )
        counts.append("(SELECT count(*) FROM o)")
    if history:
        parts.append(
            "h AS (INSERT INTO history"
            " (subject, subject_id, change, from_state, to_state, actor, at, details)"
            " SELECT x.subject, x.subject_id, x.change, x.from_state, x.to_state, x.actor, x.at, x.details"
            " FROM unnest(%(h_subjects)s::text[], %(h_ids)s::text[], %(h_changes)s::text[],"
            " %(h_from)s::text[], %(h_to)s::text[], %(h_actors)s::text[], %(h_at)s::timestamptz[],"
            " %(h_details)s::jsonb[]) WITH ORDINALITY"
            " AS x(subject, subject_id, change, from_state, to_state, actor, at, details, n)"
            " ORDER BY x.n RETURNING 1)"
        )
        counts.append("(SELECT count(*) FROM h)")
    if decisions:
        parts.append(
            "d AS (INSERT INTO assignment_decisions (order_id, courier_id, strategy, candidates,"
            " candidates_capped, courier_deliveries, tie_break, tied, excluded, decided_at)"
            " SELECT x.order_id, x.courier_id, x.strategy, x.candidates, x.capped, x.deliveries,"
            " x.tie_break, x.tied, ARRAY(SELECT jsonb_array_elements_text(x.excluded)::bigint),"
            " x.decided_at"
            " FROM unnest(%(d_orders)s::text[], %(d_couriers)s::bigint[], %(d_strategies)s::text[],"
            " %(d_candidates)s::int[], %(d_capped)s::bool[], %(d_deliveries)s::bigint[],"
            " %(d_tie_breaks)s::text[], %(d_tied)s::int[], %(d_excluded)s::jsonb[],"
            " %(d_at)s::timestamptz[])"
            " AS x(order_id, courier_id, strategy, candidates, capped, deliveries, tie_break, tied,"
            " excluded, decided_at)"
            " ON CONFLICT (order_id) DO UPDATE SET courier_id = excluded.courier_id,"
            " strategy = excluded.strategy, candidates = excluded.candidates,"
            " candidates_capped = excluded.candidates_capped,"
            " courier_deliveries = excluded.courier_deliveries, tie_break = excluded.tie_break,"
            " tied = excluded.tied, excluded = excluded.excluded, decided_at = excluded.decided_at"
            " RETURNING 1)"
        )
        counts.append("(SELECT count(*) FROM d)")
    return "WITH " + ", ".join(parts) + " SELECT " + ", ".join(counts)


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass
class Journal:
    """What one unit of work recorded, waiting for its commit."""

    events: list[OutboxEvent] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)
    decisions: dict[str, Decision] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.events or self.history or self.decisions)

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if self.events:
            params.update(
                event_ids=[e.event_id for e in self.events],
                types=[e.type.value for e in self.events],
                keys=[e.key for e in self.events],
                occurred=[e.occurred_at for e in self.events],
                payloads=[_json(e.data) for e in self.events],
            )
        if self.history:
            params.update(
                h_subjects=[h.subject.value for h in self.history],
                h_ids=[h.subject_id for h in self.history],
                h_changes=[h.change for h in self.history],
                h_from=[h.from_state for h in self.history],
                h_to=[h.to_state for h in self.history],
                h_actors=[h.actor for h in self.history],
                h_at=[h.at for h in self.history],
                h_details=[_json(h.details) for h in self.history],
            )
        if self.decisions:
            decided = list(self.decisions.values())
            params.update(
                d_orders=[d.order_id for d in decided],
                d_couriers=[d.courier_id for d in decided],
                d_strategies=[d.strategy.value for d in decided],
                d_candidates=[d.candidates for d in decided],
                d_capped=[d.candidates_capped for d in decided],
                d_deliveries=[d.courier_deliveries for d in decided],
                d_tie_breaks=[d.tie_break for d in decided],
                d_tied=[d.tied for d in decided],
                d_excluded=[_json(list(d.excluded)) for d in decided],
                d_at=[d.decided_at for d in decided],
            )
        return params

    async def flush(self, session: Session) -> None:
        """Write everything recorded (one statement), then forget it."""
        if not self:
            return
        statement = flush_sql(bool(self.events), bool(self.history), bool(self.decisions))
        await session.fetch_one(statement, self.params())
        self.clear()

    def clear(self) -> None:
        self.events.clear()
        self.history.clear()
        self.decisions.clear()


def _outside(what: str) -> RuntimeError:
    return RuntimeError(f"{what} is written with a change: use the unit of work's repository")


def stored_event(row: Row) -> StoredEvent:
    """A row of ``id, event_id, type, key, occurred_at, payload``."""
    return StoredEvent(
        position=row[0],
        event=OutboxEvent(
            event_id=str(row[1]),
            type=_EVENT_TYPES[row[2]],
            key=row[3],
            occurred_at=row[4],
            data=row[5],
        ),
    )


_EVENT_COLUMNS = "id, event_id, type, key, occurred_at, payload"


class PostgresOutboxRepository:
    """Table ``outbox``. ``add`` buffers into the unit of work's journal; the rest runs on ``session``."""

    def __init__(self, session: Session, journal: Journal | None = None) -> None:
        self._session = session
        self._journal = journal

    async def add(self, event: OutboxEvent) -> None:
        if self._journal is None:
            raise _outside("an outbox event")
        self._journal.events.append(event)

    async def pending(self, *, limit: int) -> list[StoredEvent]:
        rows = await self._session.fetch_all(
            f"SELECT {_EVENT_COLUMNS} FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT %(limit)s",
            {"limit": limit},
        )
        return [stored_event(r) for r in rows]

    async def mark_sent(self, positions: Sequence[int]) -> None:
        if positions:
            await self._session.execute(
                "UPDATE outbox SET sent_at = now() WHERE id = ANY(%(ids)s) AND sent_at IS NULL",
                {"ids": list(positions)},
            )

    async def after(self, position: int, *, limit: int) -> list[StoredEvent]:
        rows = await self._session.fetch_all(
            f"SELECT {_EVENT_COLUMNS} FROM outbox WHERE id > %(after)s ORDER BY id LIMIT %(limit)s",
            {"after": position, "limit": limit},
        )
        return [stored_event(r) for r in rows]

    async def last_position(self) -> int:
        row = await self._session.fetch_one("SELECT coalesce(max(id), 0) FROM outbox")
        return 0 if row is None else int(row[0])

    async def prune(self, *, older_than: float) -> int:
        """In batches: a day of events at a high rate is more than one statement may take."""
        removed = 0
        while True:
            count = await self._session.execute(
                "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE sent_at IS NOT NULL"
                " AND sent_at < now() - make_interval(secs => %(seconds)s) LIMIT %(limit)s)",
                {"seconds": older_than, "limit": PRUNE_BATCH},
            )
            removed += count
            if count < PRUNE_BATCH:
                return removed

    async def stats(self) -> tuple[int, float]:
        """Pending events, and the age in seconds of the oldest one (0 when none is pending)."""
        row = await self._session.fetch_one(
            "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8"
            " FROM outbox WHERE sent_at IS NULL"
        )
        assert row is not None
        return int(row[0]), float(row[1])


class PostgresHistoryRepository:
    """Table ``history``: appended with each change, never updated."""

    def __init__(self, session: Session, journal: Journal | None = None) -> None:
        self._session = session
        self._journal = journal

    async def add(self, entry: HistoryEntry) -> None:
        if self._journal is None:
            raise _outside("a history entry")
        self._journal.history.append(entry)

    async def list(self, subject: Subject, subject_id: str, *, limit: int = 100) -> list[HistoryEntry]:
        rows = await self._session.fetch_all(
            "SELECT subject, subject_id, change, from_state, to_state, actor, at, details FROM history"
            " WHERE subject = %(subject)s AND subject_id = %(id)s ORDER BY id LIMIT %(limit)s",
            {"subject": subject.value, "id": subject_id, "limit": limit},
        )
        return [
            HistoryEntry(
                subject=_SUBJECTS[r[0]],
                subject_id=r[1],
                change=r[2],
                from_state=r[3],
                to_state=r[4],
                actor=r[5],
                at=r[6],
                details=r[7],
            )
            for r in rows
        ]


class PostgresDecisionRepository:
    """Table ``assignment_decisions``: the latest assignment's decision per order."""

    def __init__(self, session: Session, journal: Journal | None = None) -> None:
        self._session = session
        self._journal = journal

    async def save(self, decision: Decision) -> None:
        if self._journal is None:
            raise _outside("a decision")
        self._journal.decisions[decision.order_id] = decision

    async def get(self, order_id: str) -> Decision | None:
        row = await self._session.fetch_one(
            "SELECT order_id, courier_id, strategy, candidates, candidates_capped, courier_deliveries,"
            " tie_break, tied, excluded, decided_at FROM assignment_decisions WHERE order_id = %(id)s",
            {"id": order_id},
        )
        if row is None:
            return None
        return Decision(
            order_id=row[0],
            courier_id=row[1],
            strategy=_STRATEGIES[row[2]],
            candidates=row[3],
            candidates_capped=row[4],
            courier_deliveries=row[5],
            tie_break=row[6],
            tied=row[7],
            excluded=tuple(row[8]),
            decided_at=row[9],
        )
