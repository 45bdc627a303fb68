"""``courier couriers import``: a CSV's syntax errors and unknown columns named with their line,
duplicates counted (and listed in a file on request), progress from the first batch."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

from tests.integration.cli.conftest import Cli, single_line_error

HEADER = "name,phone,status\n"


def _rows(count: int, start: int = 0) -> str:
    return "".join(f"Courier,+7999{i:07d},paused\n" for i in range(start, start + count))


def test_an_unclosed_quote_is_named_with_its_line_and_nothing_is_imported(
    cli: Cli, write_csv: Callable[[str], Path]
) -> None:
    text = HEADER + _rows(2) + '"Ivan,+79990009999,paused\n' + _rows(3, start=10)
    result = cli("couriers", "import", str(write_csv(text)))
    assert result.exit_code == 2, result.stdout
    message = single_line_error(result)
    assert "line 4: a quoted field opened here is never closed" in message, message
    assert "nothing was imported" in message
    assert cli.json("couriers", "list") == []


def test_a_quote_closed_lines_later_makes_the_rows_it_swallowed_one_bad_row(
    cli: Cli, write_csv: Callable[[str], Path]
) -> None:
    text = HEADER + _rows(1) + '"Ivan,+79990009999,paused\nPetr",+79990009998,paused\n' + _rows(1, start=5)
    result = cli("couriers", "import", str(write_csv(text)), "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert [(e["line"], e["field"]) for e in report["errors"]] == [(3, "row")]
    assert "runs over lines 3-4" in report["errors"][0]["reason"]
    assert (report["rows"], report["created"]) == (3, 2)


def test_a_stray_quote_is_a_usage_error_with_its_line(cli: Cli, write_csv: Callable[[str], Path]) -> None:
    result = cli("couriers", "import", str(write_csv(HEADER + _rows(2) + '"Ivan"x,+79990009999,paused\n')))
    assert result.exit_code == 2
    assert "line 4: not valid CSV" in single_line_error(result)


def test_a_row_with_an_extra_field_is_a_bad_row_named_with_its_line(
    cli: Cli, write_csv: Callable[[str], Path]
) -> None:
    text = HEADER + _rows(1) + "Ivan,+79990009999,paused,car\n" + _rows(1, start=5)
    result = cli("couriers", "import", str(write_csv(text)), "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert [(e["line"], e["field"], e["reason"]) for e in report["errors"]] == [
        (3, "row", "expected 3 fields, found 4")
    ]
    assert (report["rows"], report["created"]) == (3, 2)
    assert "+79990009999" not in {c["phone"] for c in cli.json("couriers", "list")}


def test_an_unknown_column_is_refused_and_an_exports_columns_are_read_back(
    cli: Cli, write_csv: Callable[[str], Path], tmp_path: Path
) -> None:
    extra = cli(
        "couriers", "import", str(write_csv("name,phone,status,email\nIvan,+79990000001,paused,a@b\n"))
    )
    assert extra.exit_code == 2
    assert "line 1: unknown column(s) 'email' in the header" in single_line_error(extra)
    assert cli.json("couriers", "list") == []

    cli.create("Ivan", "+79990000001")
    exported = tmp_path / "couriers.csv"
    assert cli("couriers", "export", "--output", str(exported)).exit_code == 0
    again = cli("couriers", "import", str(exported))
    assert again.exit_code == 0, again.stderr
    assert "ignored column(s) id, created_at, updated_at" in again.stderr
    assert "skipped duplicate +79990000001 (phone already registered)" in again.stderr


def test_duplicates_are_counted_and_listed_in_a_file_on_request(
    cli: Cli, write_csv: Callable[[str], Path], tmp_path: Path
) -> None:
    path = write_csv(HEADER + _rows(3) + _rows(3) + _rows(5, start=100) + _rows(5, start=100))
    listed = tmp_path / "duplicates.csv"
    result = cli("couriers", "import", str(path), "--duplicates", str(listed))
    assert result.exit_code == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if ": skipped duplicate " in line]
    assert len(lines) == 5  # the first five; not one line per duplicate
    assert f"... and 3 more skipped duplicates (all are in {listed})" in result.stderr
    with listed.open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [int(r["line"]) for r in rows] == [5, 6, 7, 13, 14, 15, 16, 17]
    assert rows[0] == {"line": "5", "phone": "+79990000000", "reason": "same phone as line 2"}
    without = cli("couriers", "import", str(path))
    assert "(--duplicates FILE lists them all)" in without.stderr


def test_progress_is_shown_from_the_first_batch(cli: Cli, write_csv: Callable[[str], Path]) -> None:
    result = cli("couriers", "import", str(write_csv(HEADER + _rows(25))), "--batch-size", "10")
    assert result.exit_code == 0, result.stderr
    progress = [line for line in result.stderr.splitlines() if line.startswith("imported ")]
    assert progress[0] == "imported 10 of 25 rows (10 created), up to line 11"
    quiet = cli("couriers", "import", str(write_csv(HEADER + _rows(5, start=50))), "--json")
    assert "imported " not in quiet.stderr


def test_an_atomic_import_shows_what_it_has_written_before_its_one_commit(
    cli: Cli, write_csv: Callable[[str], Path]
) -> None:
    result = cli("couriers", "import", str(write_csv(HEADER + _rows(25))), "--batch-size", "10", "--atomic")
    assert result.exit_code == 0, result.stderr
    assert "written 10 of 25 rows, up to line 11; committed at the end (--atomic)" in result.stderr
    assert len(cli.json("couriers", "list")) == 25


def test_a_duplicates_file_that_cannot_be_written_fails_before_anything_is_imported(
    cli: Cli, write_csv: Callable[[str], Path], tmp_path: Path
) -> None:
    nowhere = tmp_path / "missing-dir" / "duplicates.csv"
    result = cli("couriers", "import", str(write_csv(HEADER + _rows(3))), "--duplicates", str(nowhere))
    assert result.exit_code == 2
    assert f"--duplicates {nowhere}: cannot write there" in single_line_error(result)
    assert cli.json("couriers", "list") == []
