"""``courier couriers import FILE.csv`` and ``courier couriers export`` against real PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.cli.conftest import Cli, single_line_error

MIXED = """name,phone,status,transport_type
Anna-Maria,+79990000001,available,car
Иван Петров,+79990000002,paused,scooter
O'Neil,+79990000003,available,
R2D2,+79990000004,available,car
Twin,+79990000001,available,car
Zoe,123,available,car
Max,+79990000005,busy,car
Leo,+79990000006,available,plane
Kim,+79990000007,available
Taken,+79990009999,available,car
"""


def test_import_creates_good_rows_and_reports_duplicates_and_invalid_rows(
    cli: Cli, write_csv: Callable[[str], Path]
) -> None:
    cli.create("Already There", "+79990009999")
    result = cli("couriers", "import", str(write_csv(MIXED)), "--json")
    assert result.exit_code == 1, result.stderr
    report = json.loads(result.stdout)
    assert {k: report[k] for k in ("rows", "created", "skipped_duplicates", "invalid", "imported")} == {
        "rows": 10,
        "created": 3,
        "skipped_duplicates": 2,
        "invalid": 5,
        "imported": True,
    }
    assert [(e["line"], e["field"]) for e in report["errors"]] == [
        (5, "name"),
        (7, "phone"),
        (8, "status"),
        (9, "transport_type"),
        (10, "row"),
    ]
    assert [(d["line"], d["reason"]) for d in report["duplicates"]] == [
        (6, "same phone as line 2"),
        (11, "phone already registered"),
    ]
    couriers = cli.json("couriers", "list")
    assert [(c["name"], c["status"], c["transport_type"]) for c in couriers] == [
        ("Already There", "available", "car"),
        ("Anna-Maria", "available", "car"),
        ("Иван Петров", "paused", "scooter"),
        ("O'Neil", "available", "on_foot"),
    ]


def test_import_prints_each_bad_row_with_its_line_and_a_summary(
    cli: Cli, write_csv: Callable[[str], Path]
) -> None:
    result = cli("couriers", "import", str(write_csv(MIXED)))
    assert result.exit_code == 1
    assert "line 5: name: invalid courier's name: 'R2D2'" in result.stderr
    assert "line 7: phone: invalid courier's phone: '123'" in result.stderr
    assert "line 6: skipped duplicate +79990000001 (same phone as line 2)" in result.stderr
    assert "Traceback" not in result.stderr
    assert "created" in result.stdout and "skipped_duplicates" in result.stdout


def test_a_clean_file_imports_in_batches_and_exits_0(cli: Cli, write_csv: Callable[[str], Path]) -> None:
    rows = "\n".join(f"Courier,+7999000{i:04d},available,car" for i in range(7))
    result = cli("couriers", "import", str(write_csv("name,phone,status,transport_type\n" + rows)),
                 "--batch-size", "3", "--json")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["created"] == 7
    assert len(cli.json("couriers", "list")) == 7
    again = cli("couriers", "import", str(write_csv("name,phone,status,transport_type\n" + rows)), "--json")
    assert again.exit_code == 0
    assert json.loads(again.stdout)["skipped_duplicates"] == 7


def test_atomic_import_writes_nothing_when_a_row_is_invalid(
    cli: Cli, write_csv: Callable[[str], Path]
) -> None:
    result = cli("couriers", "import", str(write_csv(MIXED)), "--atomic", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert (report["imported"], report["created"], report["invalid"]) == (False, 0, 5)
    assert cli.json("couriers", "list") == []


def test_dry_run_checks_the_file_and_writes_nothing(cli: Cli, write_csv: Callable[[str], Path]) -> None:
    result = cli("couriers", "import", str(write_csv(MIXED)), "--dry-run", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert (report["imported"], report["invalid"], report["skipped_duplicates"]) == (False, 5, 1)
    assert cli.json("couriers", "list") == []
    clean = cli(
        "couriers", "import", str(write_csv("name,phone,status\nIvan,+79990000001,paused\n")), "--dry-run"
    )
    assert clean.exit_code == 0
    assert cli.json("couriers", "list") == []


def test_atomic_import_of_a_clean_file_creates_every_row(cli: Cli, write_csv: Callable[[str], Path]) -> None:
    rows = "\n".join(f"Courier,+7999000{i:04d},paused" for i in range(5))
    result = cli("couriers", "import", str(write_csv("name,phone,status\n" + rows)), "--atomic",
                 "--batch-size", "2", "--json")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["created"] == 5
    couriers = cli.json("couriers", "list")
    assert [(c["status"], c["transport_type"]) for c in couriers] == [("paused", "on_foot")] * 5


def test_imported_available_couriers_serve_waiting_orders(cli: Cli, write_csv: Callable[[str], Path]) -> None:
    cli.json("delivery", "assign", "o-1", "--wait")
    cli.json("delivery", "assign", "o-2", "--wait")
    text = "name,phone,status\nPaused,+79990000001,paused\nFirst,+79990000002,available\n"
    report = json.loads(cli("couriers", "import", str(write_csv(text)), "--json").stdout)
    assert (report["created"], report["served_waiting_orders"]) == (2, 1)
    first = next(c for c in cli.json("couriers", "list") if c["name"] == "First")
    assert first["status"] == "busy"
    assert cli.json("delivery", "get", "o-1")["courier_id"] == first["id"]
    assert cli("delivery", "get", "o-2").exit_code == 1  # still waiting for a courier


def test_a_file_without_the_needed_columns_is_a_usage_error(
    cli: Cli, write_csv: Callable[[str], Path]
) -> None:
    result = cli("couriers", "import", str(write_csv("name,telephone\nIvan,+79990000001\n")))
    assert result.exit_code == 2
    assert "missing column(s) phone, status" in single_line_error(result)
    assert cli("couriers", "import", "/nonexistent/file.csv").exit_code == 2
    binary = write_csv("")
    binary.write_bytes(b"name,phone,status\n\xff\xfe\x00garbage\n")
    not_text = cli("couriers", "import", str(binary))
    assert not_text.exit_code == 2
    assert "not a UTF-8 CSV file" in single_line_error(not_text)


def test_export_writes_csv_that_import_reads_back(cli: Cli, tmp_path: Path) -> None:
    cli.create("Ivan", "+79990000001", "available", "car")
    cli.create("Anna", "+79990000002", "paused", "scooter")
    result = cli("couriers", "export")
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["name"], r["phone"], r["status"], r["transport_type"]) for r in rows] == [
        ("Ivan", "+79990000001", "available", "car"),
        ("Anna", "+79990000002", "paused", "scooter"),
    ]
    target = tmp_path / "out.csv"
    assert cli("couriers", "export", "--output", str(target)).exit_code == 0
    assert target.read_text() == result.stdout
    reimport = json.loads(cli("couriers", "import", str(target), "--json").stdout)
    assert reimport["skipped_duplicates"] == 2


def test_export_json_is_the_list_of_courier_objects(cli: Cli) -> None:
    for i in range(3):
        cli.create("Ivan", f"+7999000000{i}", "available" if i != 1 else "paused")
    exported = cli("couriers", "export", "--format", "json")
    assert exported.exit_code == 0
    assert json.loads(exported.stdout) == cli.json("couriers", "list")
    available = json.loads(cli("couriers", "export", "--format", "json", "--status", "available").stdout)
    assert [c["phone"] for c in available] == ["+79990000000", "+79990000002"]
    empty = cli("couriers", "export", "--format", "json", "--status", "busy")
    assert json.loads(empty.stdout) == []


@pytest.mark.slow
def test_a_hundred_thousand_rows_import_in_batches(cli: Cli, write_csv: Callable[[str], Path]) -> None:
    rows = [
        f"Courier Number,+7{9_000_000_000 + i},{'paused' if i % 3 else 'available'},car"
        for i in range(100_000)
    ]
    path = write_csv("name,phone,status,transport_type\n" + "\n".join(rows) + "\n")
    result = cli("couriers", "import", str(path), "--batch-size", "5000", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["created"] == 100_000
    last_page = cli.json("couriers", "list", "--after", "99999", "--limit", "10")
    assert [c["phone"] for c in last_page] == ["+79000099999"]
