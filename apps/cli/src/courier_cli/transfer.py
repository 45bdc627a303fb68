"""``courier couriers import FILE.csv`` and ``courier couriers export``."""

from __future__ import annotations

import csv
import enum
import json
import shlex
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TextIO

import typer

from courier_cli import importing
from courier_cli.couriers import COURIER_COLUMNS, StatusFilter, TransportFilter
from courier_cli.errors import EXIT_DOMAIN, UsageProblem
from courier_cli.lazy import run
from courier_cli.output import JSON_OPTION, note, print_json, print_record, stderr
from courier_core.model import Courier
from courier_core.usecases import ListCouriers
from courier_core.views import courier_view

if TYPE_CHECKING:
    from courier_cli.runtime import Cli

EXPORT_PAGE = 1000
# Below this many rows an import is over before a progress bar would be read.
PROGRESS_FROM_ROWS = 5000
PROGRESS_EVERY = 2.0  # seconds between progress lines when stderr is not a terminal
SHOWN_DUPLICATES = 5  # duplicates listed on stderr; --duplicates FILE writes them all
EXIT_INTERRUPTED = 130


class Format(enum.StrEnum):
    CSV = "csv"
    JSON = "json"


def register(app: typer.Typer) -> None:
    """Add ``import`` and ``export`` to the ``couriers`` group."""
    app.command("import")(import_couriers)
    app.command("export")(export_couriers)


def import_couriers(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, readable=True, help="CSV: name,phone,status[,transport_type]"
        ),
    ],
    batch_size: Annotated[
        int, typer.Option(min=1, max=10000, help="Rows per batch (one transaction each).")
    ] = 1000,
    atomic: Annotated[
        bool, typer.Option("--atomic", help="All or nothing: one transaction; any invalid row imports none.")
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Only check the file (not the database): report bad rows, write nothing."
        ),
    ] = False,
    duplicates_file: Annotated[
        Path | None,
        typer.Option(
            "--duplicates",
            dir_okay=False,
            help="Write every skipped duplicate to this CSV file (line,phone,reason).",
        ),
    ] = None,
    as_json: Annotated[bool, JSON_OPTION] = False,
) -> None:
    """Create couriers from a CSV file; every row is checked before anything is written.

    Bad rows are reported with their line number and reason; rows whose phone is already registered
    (or seen earlier in the file) are skipped as duplicates, counted (--duplicates FILE lists them).
    Progress is shown from the first batch. Ctrl-C stops after the batches committed so far and says
    how to resume: the same command again skips what was imported. Exit code 1 when some row was
    invalid, 130 when interrupted.

    Example: courier couriers import couriers.csv --batch-size 5000 --duplicates skipped.csv
    """
    listed = _open_duplicates(duplicates_file)  # a path that cannot be written fails before any import
    resume = _resume_command(file, batch_size=batch_size, atomic=atomic, duplicates_file=duplicates_file)
    try:
        plan = _read(file, shown=not as_json)
    except KeyboardInterrupt:
        note(f"interrupted while checking {file}: nothing was imported")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    if dry_run or (atomic and plan.bad):
        _report(plan, importing.Outcome(), as_json=as_json, imported=False, listed=listed)
        raise typer.Exit(EXIT_DOMAIN if plan.bad else 0)
    outcome = importing.Outcome()  # filled batch by batch as they commit

    async def work(cli: Cli) -> importing.Outcome:
        with _progress(len(plan.good), shown=not as_json) as advance:
            return await importing.execute(
                plan,
                uow=cli.bulk_uow(),
                waiting=cli.use_cases.waiting(),
                batch_size=batch_size,
                atomic=atomic,
                progress=advance,
                outcome=outcome,
            )

    try:
        run(ctx, work)
    except KeyboardInterrupt:
        _interrupted(file, plan, outcome, atomic=atomic, resume=resume)
        if listed is not None:
            _write_duplicates(listed, _duplicates(plan, outcome))
        raise typer.Exit(EXIT_INTERRUPTED) from None
    _report(plan, outcome, as_json=as_json, imported=True, listed=listed)
    if plan.bad:
        raise typer.Exit(EXIT_DOMAIN)


def _open_duplicates(path: Path | None) -> _Listed | None:
    if path is None:
        return None
    try:
        return _Listed(path, path.open("w", newline="", encoding="utf-8"))
    except OSError as exc:
        raise UsageProblem(f"--duplicates {path}: cannot write there ({exc.strerror})") from exc


def _resume_command(file: Path, *, batch_size: int, atomic: bool, duplicates_file: Path | None) -> str:
    words = ["courier", "couriers", "import", str(file), "--batch-size", str(batch_size)]
    words += ["--atomic"] if atomic else []
    words += ["--duplicates", str(duplicates_file)] if duplicates_file is not None else []
    return shlex.join(words)


def _interrupted(
    file: Path, plan: importing.Plan, outcome: importing.Outcome, *, atomic: bool, resume: str
) -> None:
    """What Ctrl-C left: the committed batches stay, the one in progress was rolled back."""
    if atomic or outcome.batches == 0:
        note(f"interrupted: nothing was imported from {file} (no batch was committed)")
        return
    left = len(plan.good) - outcome.created - len(outcome.duplicates)
    note(
        f"interrupted: {outcome.created} couriers created in {outcome.batches} committed batches "
        f"(rows up to line {outcome.last_line}); the batch in progress was rolled back (or, when "
        f"interrupted during its commit, committed: a new run skips it), {left} valid rows are not imported"
    )
    note(
        "to resume, run the same command again: rows already imported are skipped as duplicates "
        f"(phone already registered): {resume}"
    )


def _read(file: Path, *, shown: bool) -> importing.Plan:
    started = time.monotonic()

    def checked(rows: int) -> None:
        if shown and time.monotonic() - started >= PROGRESS_EVERY / 2:
            note(f"checking {file}: {rows} rows read")

    try:
        with file.open(newline="", encoding="utf-8-sig") as stream:
            return importing.read_plan(stream, source=str(file), progress=checked)
    except UnicodeDecodeError as exc:
        raise UsageProblem(f"{file}: not a UTF-8 CSV file ({exc})") from exc
    except csv.Error as exc:
        raise UsageProblem(f"{file}: line 1: not valid CSV ({exc})") from exc


@contextmanager
def _progress(total: int, *, shown: bool) -> Iterator[Callable[[importing.Outcome], None]]:
    """``advance(outcome)`` after each batch: a bar on a terminal, else a line after the first
    batch and every few seconds."""
    console = stderr()
    if not shown or not total:
        yield lambda outcome: None
        return
    if console.is_terminal and total >= PROGRESS_FROM_ROWS:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        columns = (TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("import", total=total)
            yield lambda outcome: bar.update(task, completed=outcome.created + len(outcome.duplicates))
        return
    last: float | None = None

    def line(outcome: importing.Outcome) -> None:
        nonlocal last
        done = outcome.created + len(outcome.duplicates)
        if last is None or time.monotonic() - last >= PROGRESS_EVERY or done >= total:
            if last is None and done >= total:
                return  # one batch did it all: the summary says the rest
            last = time.monotonic()
            created, through = outcome.created, outcome.last_line
            if outcome.committed:
                note(f"imported {done} of {total} rows ({created} created), up to line {through}")
            else:
                note(f"written {done} of {total} rows, up to line {through}; committed at the end (--atomic)")

    yield line


@dataclass(frozen=True)
class _Listed:
    """``--duplicates FILE``, opened before the import."""

    path: Path
    stream: TextIO


def _duplicates(plan: importing.Plan, outcome: importing.Outcome) -> list[importing.Duplicate]:
    return sorted(plan.duplicates + outcome.duplicates, key=lambda d: d.line)


def _write_duplicates(listed: _Listed, duplicates: list[importing.Duplicate]) -> None:
    with listed.stream as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(("line", "phone", "reason"))
        writer.writerows((d.line, d.phone, d.reason) for d in duplicates)


def _report(
    plan: importing.Plan,
    outcome: importing.Outcome,
    *,
    as_json: bool,
    imported: bool,
    listed: _Listed | None = None,
) -> None:
    duplicates = _duplicates(plan, outcome)
    duplicates_file = listed.path if listed is not None else None
    if listed is not None:
        _write_duplicates(listed, duplicates)
    summary = {
        "rows": plan.rows,
        "created": outcome.created,
        "skipped_duplicates": len(duplicates),
        "invalid": len(plan.bad),
        "served_waiting_orders": outcome.served_waiting,
        "imported": imported,
    }
    if as_json:
        print_json(
            {
                **summary,
                "errors": [{"line": b.line, "field": b.field, "reason": b.reason} for b in plan.bad],
                "duplicates": [{"line": d.line, "phone": d.phone, "reason": d.reason} for d in duplicates],
            }
        )
        return
    if plan.ignored_columns:
        note(f"ignored column(s) {', '.join(plan.ignored_columns)}: courier sets them itself")
    for bad in plan.bad:
        note(f"line {bad.line}: {bad.field}: {bad.reason}")
    for duplicate in duplicates[:SHOWN_DUPLICATES]:
        note(f"line {duplicate.line}: skipped duplicate {duplicate.phone} ({duplicate.reason})")
    if len(duplicates) > SHOWN_DUPLICATES:
        more = len(duplicates) - SHOWN_DUPLICATES
        where = f"all are in {duplicates_file}" if duplicates_file else "--duplicates FILE lists them all"
        note(f"... and {more} more skipped duplicates ({where})")
    elif duplicates and duplicates_file is not None:
        note(f"skipped duplicates written to {duplicates_file}")
    if not imported:
        note("nothing imported (--dry-run, or --atomic with invalid rows)")
    print_record(summary)


def export_couriers(
    ctx: typer.Context,
    fmt: Annotated[Format, typer.Option("--format", help="csv or json.")] = Format.CSV,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here, not stdout.")] = None,
    status: StatusFilter = None,
    transport_type: TransportFilter = None,
) -> None:
    """Write every courier (or those matching the filters) as CSV or as a JSON array.

    The CSV has the columns of the courier object; `couriers import` reads it back.

    Example: courier couriers export --format csv --output couriers.csv
    """

    async def work(cli: Cli) -> int:
        pages = _all_couriers(cli, ListCouriers(status=status, transport_type=transport_type))
        with _open_output(output) as stream:
            writer = _write_csv if fmt is Format.CSV else _write_json
            return await writer(pages, stream)

    written = run(ctx, work)
    if output is not None:
        note(f"exported {written} couriers to {output}")


async def _all_couriers(cli: Cli, query: ListCouriers) -> AsyncIterator[Courier]:
    after = 0
    while True:
        page = await cli.use_cases.couriers().list(
            ListCouriers(query.status, query.transport_type, limit=EXPORT_PAGE, after=after)
        )
        for courier in page.items:
            yield courier
        if page.next is None:
            return
        after = page.next


@contextmanager
def _open_output(path: Path | None) -> Iterator[TextIO]:
    if path is None:
        yield sys.stdout
        return
    with path.open("w", newline="", encoding="utf-8") as stream:
        yield stream


async def _write_csv(couriers: AsyncIterator[Courier], stream: TextIO) -> int:
    writer = csv.DictWriter(stream, fieldnames=COURIER_COLUMNS, lineterminator="\n")
    writer.writeheader()
    count = 0
    async for courier in couriers:
        writer.writerow(courier_view(courier))
        count += 1
    return count


async def _write_json(couriers: AsyncIterator[Courier], stream: TextIO) -> int:
    # Streamed object by object: an export of every courier never holds them all in memory.
    count = 0
    stream.write("[")
    async for courier in couriers:
        stream.write(("," if count else "") + "\n  " + json.dumps(courier_view(courier), ensure_ascii=False))
        count += 1
    stream.write("\n]\n" if count else "]\n")
    return count
