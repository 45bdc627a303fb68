"""``courier --help``, ``--version`` and a command's ``--help`` load no driver, no alembic, no rich:
the CLI's start-up (timed in ``make bench``, case cli) stays what a user does not notice."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = (
    "sqlalchemy",
    "psycopg",
    "alembic",
    "kafka",
    "grpc",
    "dependency_injector",
    "rich",
    "courier_adapters",
)

PROBE = """
import json, sys
from courier_cli.main import app
try:
    app(sys.argv[1:], prog_name="courier")
except SystemExit as exit:
    code = exit.code
print(json.dumps({"code": code, "loaded": sorted({m.split(".")[0] for m in sys.modules})}), file=sys.stderr)
"""


def _loaded(*args: str) -> tuple[int, set[str]]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=60)
    report = json.loads(done.stderr.strip().splitlines()[-1])
    return report["code"], set(report["loaded"])


@pytest.mark.parametrize(
    "args",
    [
        ("--help",),
        ("--version",),
        ("couriers", "--help"),
        ("couriers", "get", "--help"),
        ("couriers", "import", "--help"),
        ("outbox", "drain", "--help"),
        ("db", "upgrade", "--help"),
        ("dev", "up", "--help"),
        ("couriers", "get", "not-a-number"),
    ],
)
def test_help_version_and_usage_errors_load_nothing_heavy(args: tuple[str, ...]) -> None:
    code, loaded = _loaded(*args)
    assert code in (0, 2)
    assert sorted(loaded & set(HEAVY)) == []
