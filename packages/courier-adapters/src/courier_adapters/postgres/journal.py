"""Outbox, history and assignment decisions on PostgreSQL.

What a unit of work records (events, history entries, decisions) is buffered in its :class:`Journal`
and written by one statement just before ``COMMIT``: one round trip per transaction, whatever it
changed. That statement runs while the transaction still holds its key's lock (the order's advisory
lock for ``delivery.*`` and ``order.waiting``, the courier's row for ``courier.*``), so one key's
outbox ids rise in its commit order; no lock shared by every writer is taken, and commits proceed
together.

Readers do not go by id (a lower id may become visible after a higher one). One stamper
(:mod:`courier_adapters.postgres.stamper`, a leader) gives every committed row that has none a
``position`` from ``outbox_position_seq``, in id order (:meth:`PostgresOutboxRepository.stamp`); the
relay publishes and the live stream resumes by position. A row whose lower id becomes visible late
gets a later position: no reader skips it or sees it twice, and one key's order holds.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
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

RELAY_LOCK_NAMESPACE = 4  # pg_try_advisory_lock(4, 0): the one active relay
PRUNE_BATCH = 10_000  # sent events removed per statement

_EVENT_TYPES = {t.value: t for t in EventType}
_SUBJECTS = {s.value: s for s in Subject}
_STRATEGIES = {s.value: s for s in Strategy}


@cache
def flush_sql(events: bool, history: bool, decisions: bool) -> str:
    """One statement for everything a unit of work recorded, passed as one JSON document
    ``{"e": [...], "h": [...], "d": [...]}``: one parameter to adapt, whatever the number of rows."""
    parts = ["j AS (SELECT %(journal)s::jsonb AS doc)"]
    counts: list[str] = []
    if events:
        parts.append(
            "o AS (INSERT INTO outbox (event_id, type, key, occurred_at, payload)"
            " SELECT (x.e->>0)::uuid, x.e->>1, x.e->>2, (x.e->>3)::timestamptz, x.e->4"
            " FROM j, jsonb_array_elements(j.doc->'e') WITH ORDINALITY AS x(e, n)"
            " ORDER BY x.n RETURNING 1)"
        )
        counts.append("(SELECT count(*) FROM o)")
    if history:
        parts.append(
            "h AS (INSERT INTO history"
            " (subject, subject_id, change, from_state, to_state, actor, at, details)"
            " SELECT x.e->>0, x.e->>1, x.e->>2, x.e->>3, x.e->>4, x.e->>5, (x.e->>6)::timestamptz, x.e->7"
            " FROM j, jsonb_array_elements(j.doc->'h') WITH ORDINALITY AS x(e, n)"
            " ORDER BY x.n RETURNING 1)"
        )
        counts.append("(SELECT count(*) FROM h)")
    if decisions:
        parts.append(
            "d AS (INSERT INTO assignment_decisions (order_id, courier_id, strategy, candidates,"
            " candidates_capped, courier_deliveries, tie_break, tied, excluded, decided_at)"
            " SELECT x.e->>0, (x.e->>1)::bigint, x.e->>2, (x.e->>3)::int, (x.e->>4)::bool,"
            " (x.e->>5)::bigint, x.e->>6, (x.e->>7)::int,"
            " ARRAY(SELECT jsonb_array_elements_text(x.e->8)::bigint), (x.e->>9)::timestamptz"
            " FROM j, jsonb_array_elements(j.doc->'d') AS x(e)"
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


def _ts(value: datetime) -> str:
    return value.isoformat()


@dataclass
class Journal:
    """What one unit of work recorded, waiting for its commit."""

    events: list[OutboxEvent] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)
    decisions: dict[str, Decision] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.events or self.history or self.decisions)

    def document(self) -> dict[str, Any]:
        """The journal as the statement reads it: rows as arrays, in the order they were recorded."""
        doc: dict[str, Any] = {}
        if self.events:
            doc["e"] = [[e.event_id, e.type.value, e.key, _ts(e.occurred_at), e.data] for e in self.events]
        if self.history:
            doc["h"] = [
                [
                    h.subject.value,
                    h.subject_id,
                    h.change,
                    h.from_state,
                    h.to_state,
                    h.actor,
                    _ts(h.at),
                    h.details,
                ]
                for h in self.history
            ]
        if self.decisions:
            doc["d"] = [
                [
                    d.order_id,
                    d.courier_id,
                    d.strategy.value,
                    d.candidates,
                    d.candidates_capped,
                    d.courier_deliveries,
                    d.tie_break,
                    d.tied,
                    list(d.excluded),
                    _ts(d.decided_at),
                ]
                for d in self.decisions.values()
            ]
        return doc

    def params(self) -> dict[str, Any]:
        return {"journal": _json(self.document())}

    def statement(self) -> str:
        return flush_sql(bool(self.events), bool(self.history), bool(self.decisions))

    def clear(self) -> None:
        self.events.clear()
        self.history.clear()
        self.decisions.clear()


def _outside(what: str) -> RuntimeError:
    return RuntimeError(f"{what} is written with a change: use the unit of work's repository")


def stored_event(row: Row) -> StoredEvent:
    """A row of ``position, event_id, type, key, occurred_at, payload``."""
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


_EVENT_COLUMNS = "position, event_id, type, key, occurred_at, payload"

# The visible rows without a position, oldest id first, each given the sequence's next value as the
# CTE reads them (in id order). Only the stamper's leader runs it: two at once could interleave.
STAMP_SQL = (
    "WITH c AS MATERIALIZED (SELECT id FROM outbox WHERE position IS NULL ORDER BY id LIMIT %(limit)s),"
    " p AS MATERIALIZED (SELECT id, nextval('outbox_position_seq') AS position FROM c)"
    " UPDATE outbox SET position = p.position FROM p WHERE outbox.id = p.id AND outbox.position IS NULL"
)


class PostgresOutboxRepository:
    """Table ``outbox``. ``add`` buffers into the unit of work's journal; the rest runs on ``session``."""

    def __init__(self, session: Session, journal: Journal | None = None) -> None:
        self._session = session
        self._journal = journal

    async def add(self, event: OutboxEvent) -> None:
        if self._journal is None:
            raise _outside("an outbox event")
        self._journal.events.append(event)

    async def stamp(self, *, limit: int) -> int:
        return await self._session.execute(STAMP_SQL, {"limit": limit})

    async def unstamped(self, *, upto: int | None = None) -> int:
        """Committed rows without a position (with an id up to ``upto``)."""
        row = await self._session.fetch_one(
            "SELECT count(*) FROM outbox WHERE position IS NULL AND id <= %(upto)s",
            {"upto": upto if upto is not None else 2**63 - 1},
        )
        return 0 if row is None else int(row[0])

    async def last_id(self) -> int:
        row = await self._session.fetch_one("SELECT coalesce(max(id), 0) FROM outbox")
        return 0 if row is None else int(row[0])

    async def pending(self, *, limit: int) -> list[StoredEvent]:
        rows = await self._session.fetch_all(
            f"SELECT {_EVENT_COLUMNS} FROM outbox WHERE sent_at IS NULL AND position IS NOT NULL"
            " ORDER BY position LIMIT %(limit)s",
            {"limit": limit},
        )
        return [stored_event(r) for r in rows]

    async def mark_sent(self, positions: Sequence[int]) -> None:
        if positions:
            await self._session.execute(
                "UPDATE outbox SET sent_at = now() WHERE position = ANY(%(positions)s) AND sent_at IS NULL",
                {"positions": list(positions)},
            )

    async def after(self, position: int, *, limit: int) -> list[StoredEvent]:
        rows = await self._session.fetch_all(
            f"SELECT {_EVENT_COLUMNS} FROM outbox WHERE position > %(after)s ORDER BY position"
            " LIMIT %(limit)s",
            {"after": position, "limit": limit},
        )
        return [stored_event(r) for r in rows]

    async def last_position(self) -> int:
        row = await self._session.fetch_one("SELECT coalesce(max(position), 0) FROM outbox")
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
