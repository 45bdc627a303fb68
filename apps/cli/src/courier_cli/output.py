"""What the CLI prints: rich tables for people, ``--json`` (the HTTP API's objects) for scripts.

Results go to stdout; messages about the run (errors, skipped rows, progress) go to stderr.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console

# rich is imported by the functions that print with it: a command's --help and --json need none of it.

# Help and usage errors in click's plain format: typer's rich panels import rich for every --help
# (0.2 s of a 0.5 s `courier --help`).
PLAIN_HELP = None
JSON_OPTION = typer.Option("--json", help="Print JSON (the HTTP API's objects) instead of a table.")
# A piped table is as wide as its content: never folded at 80 columns, never truncated.
_PIPE_WIDTH = 1000


def stdout() -> Console:
    """A console on the current stdout (looked up per call: tests swap ``sys.stdout``)."""
    from rich.console import Console

    console = Console(file=sys.stdout, highlight=False)
    if not console.is_terminal:
        console = Console(file=sys.stdout, highlight=False, width=_PIPE_WIDTH, no_color=True)
    return console


def stderr() -> Console:
    from rich.console import Console

    return Console(file=sys.stderr, highlight=False)


def print_json(value: Any) -> None:
    """Stable keys, UTF-8 kept readable, one document per call."""
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2) + "\n")


def print_table(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *, title: str | None = None
) -> None:
    """``rows`` (JSON objects) as a table of ``columns``; ``None`` is shown as an empty cell."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for name in columns:
        table.add_column(name.upper().replace("_", " "), overflow="fold")
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row[c]) for c in columns))
    stdout().print(table)


def print_record(record: Mapping[str, Any]) -> None:
    """One object as a two-column table (field, value)."""
    from rich.table import Table

    table = Table(show_header=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value")
    for key, value in record.items():
        table.add_row(key, "-" if value is None else str(value))
    stdout().print(table)


def emit(value: Mapping[str, Any], *, as_json: bool) -> None:
    """One object: JSON, or a field/value table."""
    if as_json:
        print_json(value)
    else:
        print_record(value)


def note(message: str) -> None:
    """A line for the operator on stderr (never mixed into a result on stdout)."""
    print(message, file=sys.stderr)
