"""Running wrk with the harness' Lua scripts and reading the JSON its ``done()`` prints."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

LUA = Path(__file__).resolve().parent / "lua"
MARKER = "BENCH_JSON "
INSTALL_HINT = (
    "wrk is missing: install it with `sudo apt-get install -y wrk` (Debian/Ubuntu) or `brew install wrk`"
)


class WrkError(RuntimeError):
    """wrk is missing, failed, or printed no summary."""


@dataclass(frozen=True)
class Load:
    """How hard and how long to drive one case."""

    script: str
    duration: float
    connections: int = 64
    threads: int = 2
    args: tuple[str, ...] = ()
    timeout: str = "5s"
    ports: tuple[int, ...] = ()  # several servers on 127.0.0.1: wrk's threads are spread over them


@dataclass
class WrkResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int]
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def non_2xx(self) -> int:
        """Answers that were not 2xx/3xx (wrk's ``errors.status``, or the counted statuses)."""
        if self.statuses:
            return sum(n for s, n in self.statuses.items() if not 200 <= int(s) < 400)
        return self.errors.get("status", 0)

    @property
    def socket_errors(self) -> int:
        return sum(n for k, n in self.errors.items() if k != "status")

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "non_2xx": self.non_2xx, "socket_errors": self.socket_errors}


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise WrkError(INSTALL_HINT)
    return found


def parse(output: str) -> WrkResult:
    """The summary line of ``common.lua``'s ``done()``."""
    for line in output.splitlines():
        if line.startswith(MARKER):
            data = json.loads(line[len(MARKER) :])
            seconds = data["duration_us"] / 1e6
            return WrkResult(
                requests=data["requests"],
                seconds=round(seconds, 3),
                rps=round(data["requests"] / seconds, 1) if seconds else 0.0,
                p50_ms=data["p50_us"] / 1000,
                p90_ms=data["p90_us"] / 1000,
                p99_ms=data["p99_us"] / 1000,
                max_ms=data["max_us"] / 1000,
                errors=data["errors"],
                statuses={str(k): v for k, v in data["statuses"].items()},
            )
    raise WrkError(f"wrk printed no summary:\n{output[-2000:]}")


def script_text(name: str, ports: tuple[int, ...] = ()) -> str:
    """common.lua, then the case's script; with ``ports``, hosts.lua after them spreads wrk's threads
    over the servers listening on those ports of 127.0.0.1 (thread i connects to port i mod N)."""
    text = (LUA / "common.lua").read_text() + "\n" + (LUA / f"{name}.lua").read_text()
    if not ports:
        return text
    listed = ", ".join(str(int(p)) for p in ports)
    return (
        f'bench_host = "127.0.0.1"\nbench_ports = {{{listed}}}\n'
        + text
        + "\n"
        + (LUA / "hosts.lua").read_text()
    )


def run(base_url: str, load: Load) -> WrkResult:
    """Run wrk against ``base_url`` (``http://127.0.0.1:PORT``); bounded by its duration plus a margin."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix=f"bench-{load.script}-") as script:
        script.write(script_text(load.script, load.ports))
        script.flush()
        command = [
            wrk_binary(),
            f"-t{load.threads}",
            f"-c{load.connections}",
            f"-d{max(1, round(load.duration))}s",
            f"--timeout={load.timeout}",
            "-s",
            script.name,
            base_url,
            "--",
            *load.args,
        ]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=load.duration + 60, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise WrkError(f"wrk did not finish: {' '.join(command)}") from exc
    if done.returncode != 0:
        raise WrkError(f"wrk failed ({done.returncode}): {done.stderr[-2000:]}{done.stdout[-2000:]}")
    return parse(done.stdout)
