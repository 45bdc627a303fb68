"""Case 8: the CLI's start-up. ``courier --help`` and ``courier couriers get 1`` (against the bench's
PostgreSQL, a courier that exists), each run as a user runs it: a new process from the venv's
``courier`` script, bytecode written as Python writes it by default. The median of 5 runs (2 in a
smoke run) after one run that is not counted (it writes the bytecode of a fresh checkout).

Targets (issue #16): ``courier --help`` within 0.3 s, ``courier couriers get 1`` within 0.6 s.
"""

from __future__ import annotations

import logging
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.runner import Context

log = logging.getLogger("bench.cli")

TARGETS = {"help": 0.3, "get": 0.6}


def courier_script() -> Path:
    """The ``courier`` console script beside the running interpreter (the project's venv)."""
    return Path(sys.executable).with_name("courier")


def _environment(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURIER_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as on a user's machine: Python writes its bytecode
    env["COURIER_DATABASE_URL"] = database_url
    return env


def time_command(args: list[str], env: dict[str, str], runs: int) -> dict[str, Any]:
    """Seconds per run of ``args`` (each must exit 0): the median and every run."""
    subprocess.run(args, env=env, capture_output=True, check=True, timeout=60)  # not counted
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(args, env=env, capture_output=True, check=True, timeout=60)
        seconds.append(time.perf_counter() - started)
    return {"median_s": round(statistics.median(seconds), 3), "runs_s": [round(s, 3) for s in seconds]}


def run(ctx: Context) -> None:
    url = ctx.pg.database("bench_cli", couriers=1)
    env = _environment(url)
    courier = str(courier_script())
    runs = 2 if ctx.plan.smoke else 5
    cases = {"help": [courier, "--help"], "get": [courier, "couriers", "get", "1", "--json"]}
    found: dict[str, Any] = {}
    for name, args in cases.items():
        measured = time_command(args, env, runs)
        measured["command"] = " ".join(["courier", *args[1:]])
        measured["target_s"] = TARGETS[name]
        measured["met"] = measured["median_s"] <= TARGETS[name]
        found[name] = measured
        log.info(
            "%s: median %.3f s (target %.1f s)", measured["command"], measured["median_s"], TARGETS[name]
        )
    ctx.results["cli_startup"] = found
