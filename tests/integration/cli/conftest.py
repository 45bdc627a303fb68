"""The CLI through typer's CliRunner, in this process, against a fresh real PostgreSQL database per test."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from courier_cli.main import app


@dataclass
class Cli:
    """Runs ``courier ARGS...`` with COURIER_* set to this test's database only."""

    runner: CliRunner
    env: dict[str, str | None]

    def __call__(
        self, *args: str, env: dict[str, str | None] | None = None, input: str | None = None
    ) -> Result:
        return self.runner.invoke(app, list(args), env={**self.env, **(env or {})}, input=input)

    def json(self, *args: str) -> Any:
        """Run a command with ``--json`` that must succeed; return its parsed output."""
        result = self(*args, "--json")
        assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
        return json.loads(result.stdout)

    def create(self, name: str, phone: str, status: str = "available", transport: str = "car") -> int:
        courier = self.json(
            "couriers", "create", "--name", name, "--phone", phone, "--status", status,
            "--transport-type", transport,
        )  # fmt: skip
        return int(courier["id"])


def _isolated_env(tmp_path: Path, database_url: str) -> dict[str, str | None]:
    # Unset every other COURIER_* variable of the runner's environment: only this test's settings count.
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("COURIER_")}
    env.update(COURIER_DATABASE_URL=database_url, COURIER_DATA_DIR=str(tmp_path / "data"))
    return env


@pytest.fixture
def cli(database_url: str, tmp_path: Path) -> Cli:
    return Cli(CliRunner(), _isolated_env(tmp_path, database_url))


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[[str], Path]:
    def write(text: str) -> Path:
        path = tmp_path / "couriers.csv"
        path.write_text(text, encoding="utf-8")
        return path

    return write


def single_line_error(result: Result) -> str:
    """The one line a failing command prints on stderr (no traceback)."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.fixture
def unmigrated_url(pg_server: Any) -> Iterator[str]:
    """An empty database (never migrated)."""
    url: str = pg_server.create(template="template0")
    yield url
    pg_server.drop(url)
