"""What every executable says about itself: --help, --version, refusing arguments, shell completion."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.faults.conftest import seed_couriers

BIN = Path(sys.executable).parent


def run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("COURIER_")}
    return subprocess.run(
        [str(BIN / argv[0]), *argv[1:]],
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("program", ["courier-api", "courier-consumer"])
def test_a_service_answers_help_and_version_without_starting(program: str) -> None:
    helped = run(program, "--help")
    assert helped.returncode == 0
    assert "COURIER_DATABASE_URL" in helped.stdout and "COURIER_RATE_LIMIT_REDIS_URL" in helped.stdout
    assert "docs/configuration.md" in helped.stdout
    versioned = run(program, "--version")
    assert versioned.returncode == 0 and versioned.stdout.startswith(f"{program} ")


@pytest.mark.parametrize("program", ["courier-api", "courier-consumer"])
def test_a_service_refuses_arguments_instead_of_ignoring_them(program: str) -> None:
    refused = run(program, "--port", "8080")
    assert refused.returncode == 2
    assert "unrecognized arguments: --port 8080" in refused.stderr


def test_the_cli_has_a_version_and_shell_completion() -> None:
    versioned = run("courier", "--version")
    assert versioned.returncode == 0 and versioned.stdout.startswith("courier ")
    completed = run(
        "courier", env={"_COURIER_COMPLETE": "complete_bash", "COMP_WORDS": "courier cou", "COMP_CWORD": "1"}
    )
    assert completed.stdout.split() == ["couriers"]
    script = run("courier", "--show-completion", "bash")
    assert script.returncode == 0 and "_courier_completion" in script.stdout


def test_export_into_a_pipe_closed_early_ends_quietly(database_url: str, tmp_path: Path) -> None:
    """``courier couriers export | head -1``: one line out, nothing on stderr, the SIGPIPE exit code."""
    seed_couriers(database_url, 5000)  # far more than a pipe buffers: the export meets the closed pipe
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("COURIER_")},
        "COURIER_DATABASE_URL": database_url,
        "COURIER_DATA_DIR": str(tmp_path / "data"),
    }
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", f"'{BIN / 'courier'}' couriers export 2>stderr.txt | head -1"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.startswith("id,")
    assert len(done.stdout.splitlines()) == 1
    assert (tmp_path / "stderr.txt").read_text() == ""
    assert done.returncode == 141
