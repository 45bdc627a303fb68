"""``courier couriers import FILE.csv`` and ``courier couriers export``."""

from __future__ import annotations

import csv
import enum
import json
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from courier_cli import importing
from courier_cli.couriers import COURIER_COLUMNS, StatusFilter, TransportFilter
from courier_cli.errors import EXIT_DOMAIN, UsageProblem
from courier_cli.output import JSON_OPTION, note, print_json, print_record, stderr
from courier_cli.runtime import Cli, run
from courier_core.model import Courier
from courier_core.usecases import ListCouriers
from courier_core.views import courier_view

EXPORT_PAGE = 1000
# Below this many rows an import is over before a progress bar would be read.
PROGRESS_FROM_ROWS = 5000


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
    as_json: Annotated[bool, JSON_OPTION] = False,
) -> None:
    """Create couriers from a CSV file; every row is checked before anything is written.

    Bad rows are reported with their line number and reason; rows whose phone is already registered
    (or seen earlier in the file) are skipped as duplicates. Exit code 1 when some row was invalid.

    Example: courier couriers import couriers.csv --batch-size 5000
    """
    plan = _read(file)
    if dry_run or (atomic and plan.bad):
        _report(plan, importing.Outcome(), as_json=as_json, imported=False)
        raise typer.Exit(EXIT_DOMAIN if plan.bad else 0)

    async def work(cli: Cli) -> importing.Outcome:
        with _progress(len(plan.good), shown=not as_json) as advance:
            return await importing.execute(
                plan,
                uow=cli.bulk_uow(),
                waiting=cli.use_cases.waiting(),
                batch_size=batch_size,
                atomic=atomic,
                progress=advance,
            )

    outcome = run(ctx, work)
    _report(plan, outcome, as_json=as_json, imported=True)
    if plan.bad:
        raise typer.Exit(EXIT_DOMAIN)


def _read(file: Path) -> importing.Plan:
    try:
        with file.open(newline="", encoding="utf-8-sig") as stream:
            return importing.read_plan(stream, source=str(file))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise UsageProblem(f"{file}: not a UTF-8 CSV file ({exc})") from exc


@contextmanager
def _progress(total: int, *, shown: bool) -> Iterator[Any]:
    console = stderr()
    if not shown or total < PROGRESS_FROM_ROWS or not console.is_terminal:
        yield lambda rows: None
        return
    columns = (TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("import", total=total)
        yield lambda rows: bar.advance(task, rows)


def _report(plan: importing.Plan, outcome: importing.Outcome, *, as_json: bool, imported: bool) -> None:
    duplicates = sorted(plan.duplicates + outcome.duplicates, key=lambda d: d.line)
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
    for bad in plan.bad:
        note(f"line {bad.line}: {bad.field}: {bad.reason}")
    for duplicate in duplicates:
        note(f"line {duplicate.line}: skipped duplicate {duplicate.phone} ({duplicate.reason})")
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
