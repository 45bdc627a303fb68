"""Bulk import of couriers from CSV: read and validate every row first, then create in batches.

Rows are checked with core's validators (the rules of ``POST /courier``); a phone seen on an earlier
row of the file, or already registered, makes the row a duplicate, skipped. Couriers are created with
one statement per batch (:mod:`courier_adapters.postgres.bulk`); core's
:meth:`~courier_core.usecases.WaitingQueue.registered` then records them and offers every available one to
the waiting orders, in the batch's transaction, as a courier created one by one would be.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TextIO

from courier_cli.errors import UsageProblem
from courier_core.errors import DependencyUnavailable, InvalidInput
from courier_core.model import (
    NewCourier,
)
from courier_core.usecases import CreateCourier, WaitingQueue
from courier_core.usecases import new_courier as validated_new_courier

if TYPE_CHECKING:
    from courier_adapters.postgres.bulk import BulkUnitOfWork

REQUIRED_COLUMNS = ("name", "phone", "status")
COLUMNS = (*REQUIRED_COLUMNS, "transport_type")
# The columns `couriers export` adds, which courier sets itself: read back, and ignored.
EXPORTED_COLUMNS = ("id", "created_at", "updated_at")
PROGRESS_EVERY_ROWS = 10_000


@dataclass(frozen=True, slots=True)
class GoodRow:
    line: int
    courier: NewCourier


@dataclass(frozen=True, slots=True)
class BadRow:
    """A row refused before anything is written: its line, the field at fault and why."""

    line: int
    field: str
    reason: str


@dataclass(frozen=True, slots=True)
class Duplicate:
    line: int
    phone: str
    reason: str


@dataclass
class Plan:
    """The file, read and checked: what will be created, and what will not."""

    good: list[GoodRow] = field(default_factory=list)
    bad: list[BadRow] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return len(self.good) + len(self.bad) + len(self.duplicates)


@dataclass
class Outcome:
    """What the import did in the database: only what was committed is counted."""

    created: int = 0
    duplicates: list[Duplicate] = field(default_factory=list)
    served_waiting: int = 0
    batches: int = 0  # committed
    last_line: int = 0  # the last line of the last committed batch (0: none yet)
    committed: bool = True  # False: what an --atomic import has written so far, not committed yet

    def add(self, batch: Outcome) -> None:
        self.created += batch.created
        self.duplicates += batch.duplicates
        self.served_waiting += batch.served_waiting
        self.batches += 1
        self.last_line = max(self.last_line, batch.last_line)


class BulkWork(Protocol):
    """Opens a unit of work that can also create couriers in bulk."""

    def __call__(self) -> BulkUnitOfWork: ...


def new_courier(record: dict[str, str]) -> NewCourier:
    """One CSV record as a courier to create; raises ``InvalidInput`` naming the field at fault."""
    return validated_new_courier(
        CreateCourier(
            name=record["name"],
            phone=record["phone"],
            status=record["status"],
            transport_type=record.get("transport_type") or None,
        )
    )


def _header(reader: Iterable[list[str]], source: str) -> list[str]:
    header = next(iter(reader), None)
    if header is None:
        raise UsageProblem(f"{source}: the file is empty (expected a header: {','.join(COLUMNS)})")
    names = [name.strip().lower() for name in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise UsageProblem(f"{source}: missing column(s) {', '.join(missing)} in the header")
    unknown = [name for name in names if name not in (*COLUMNS, *EXPORTED_COLUMNS)]
    if unknown:
        raise UsageProblem(
            f"{source}: line 1: unknown column(s) {', '.join(map(repr, unknown))} in the header "
            f"(expected {','.join(REQUIRED_COLUMNS)}[,transport_type]; {', '.join(EXPORTED_COLUMNS)} "
            "are read back from an export and ignored)"
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise UsageProblem(f"{source}: line 1: column(s) {', '.join(repeated)} given twice in the header")
    return names


def read_plan(
    stream: TextIO, *, source: str = "FILE", progress: Callable[[int], None] = lambda rows: None
) -> Plan:
    """Read and check every row of a CSV whose header names at least name, phone and status.

    A CSV syntax error (a stray quote) is a usage error naming its line; a quoted field that runs over
    several lines (an unclosed quote, which would swallow the rows after it) is a bad row naming them.
    ``progress(rows)`` is called every ``PROGRESS_EVERY_ROWS`` rows read.
    """
    reader = csv.reader(stream, strict=True)
    header = _header(reader, source)
    plan = Plan(ignored_columns=[name for name in header if name in EXPORTED_COLUMNS])
    first_line_of: dict[str, int] = {}  # phone -> the line that claimed it first
    previous_end = reader.line_num
    count = 0
    while True:
        line = previous_end + 1  # where the next record starts
        try:
            cells = next(reader, None)
        except csv.Error as exc:
            if "unexpected end of data" in str(exc):
                why = "a quoted field opened here is never closed (it runs to the end of the file)"
            else:
                why = f"not valid CSV ({exc})"
            raise UsageProblem(f"{source}: line {line}: {why}; nothing was imported") from exc
        if cells is None:
            return plan
        previous_end = reader.line_num
        count += 1
        if count % PROGRESS_EVERY_ROWS == 0:
            progress(count)
        if not cells:
            continue  # a blank line is not a row
        if previous_end > line:
            reason = f"a quoted field runs over lines {line}-{previous_end}: is a quote not closed?"
            plan.bad.append(BadRow(line, "row", reason))
            continue
        if len(cells) != len(header):
            plan.bad.append(BadRow(line, "row", f"expected {len(header)} fields, found {len(cells)}"))
            continue
        record = {name: value.strip() for name, value in zip(header, cells, strict=True)}
        try:
            courier = new_courier(record)
        except InvalidInput as exc:
            plan.bad.append(BadRow(line, exc.field, f"{exc.message}: {record.get(exc.field, '')!r}"))
            continue
        seen = first_line_of.setdefault(courier.phone, line)
        if seen != line:
            plan.duplicates.append(Duplicate(line, courier.phone, f"same phone as line {seen}"))
            continue
        plan.good.append(GoodRow(line, courier))


def batches(rows: Sequence[GoodRow], size: int) -> list[Sequence[GoodRow]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


async def _import_batch(uow: BulkUnitOfWork, batch: Sequence[GoodRow], waiting: WaitingQueue) -> Outcome:
    """Create one batch in ``uow``'s transaction; what it did, counted once the caller commits."""
    done = Outcome(last_line=batch[-1].line)
    created = await uow.bulk.add_many([row.courier for row in batch])
    taken = {courier.phone for courier in created}
    done.created = len(created)
    done.duplicates = [
        Duplicate(row.line, row.courier.phone, "phone already registered")
        for row in batch
        if row.courier.phone not in taken
    ]
    done.served_waiting = await waiting.registered(uow, created)
    return done


async def execute(
    plan: Plan,
    *,
    uow: BulkWork,
    waiting: WaitingQueue,
    batch_size: int,
    atomic: bool,
    progress: Callable[[Outcome], None] = lambda outcome: None,
    outcome: Outcome | None = None,
) -> Outcome:
    """Create the plan's good rows: one transaction per batch, or one for all when ``atomic``.

    ``outcome`` (a new one by default) holds only what is committed, batch by batch: when the import
    is interrupted, it says how far it got. ``progress(outcome)`` is called after every batch.
    """
    outcome = Outcome() if outcome is None else outcome
    if atomic:
        pending: list[Outcome] = []
        written = Outcome(committed=False)
        async with uow() as work:
            for batch in batches(plan.good, batch_size):
                pending.append(await _import_batch(work, batch, waiting))
                written.add(pending[-1])
                progress(written)
            await work.commit()
        for done in pending:
            outcome.add(done)
        return outcome
    for batch in batches(plan.good, batch_size):
        outcome.add(await _commit_batch(uow, batch, waiting, outcome))
        progress(outcome)
    return outcome


async def _commit_batch(
    uow: BulkWork, batch: Sequence[GoodRow], waiting: WaitingQueue, outcome: Outcome
) -> Outcome:
    try:
        async with uow() as work:
            done = await _import_batch(work, batch, waiting)
            await work.commit()
            return done
    except DependencyUnavailable as exc:
        # The batches before this one are committed: say how far the import got.
        where = f"rows from line {batch[0].line} on not imported, {outcome.created} couriers created before"
        raise DependencyUnavailable(f"{exc.message} ({where})") from exc
