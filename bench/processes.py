"""The servers under test as real processes: start, wait until ready, find workers, measure, stop.

Each server runs in its own session (process group) so that stopping it stops its uvicorn workers too;
its output goes to a log file, never to a pipe nobody reads.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

LOOPBACK = "127.0.0.1"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


class ServerError(RuntimeError):
    """A server did not start, or did not answer in time."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def venv_script(name: str) -> str:
    """A console script installed next to this interpreter (the workspace's ``.venv/bin``)."""
    return str(Path(sys.executable).parent / name)


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:  # loopback only
            return int(answer.status), bytes(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from ``/proc``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def rss_mib(pid: int) -> float:
    """Resident set size of ``pid`` in MiB."""
    resident = int((Path("/proc") / str(pid) / "statm").read_text().split()[1])
    return round(resident * PAGE_SIZE / 2**20, 1)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time ``pid`` has used so far."""
    fields = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass
class Server:
    """One server process (courier-api or the ceiling), listening on ``port``."""

    name: str
    command: list[str]
    env: dict[str, str]
    port: int
    log_path: Path
    ready_path: str = "/readyz"
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self, timeout: float = 60.0) -> Self:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"{self.name} exited ({self.process.returncode}):\n{self.log_tail()}")
            try:
                status, _ = http_get(self.base_url + self.ready_path)
            except OSError:
                status = 0
            if status == 200:
                return
            time.sleep(0.2)
        self.stop()
        raise ServerError(f"{self.name} not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, size: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-size:]
        except OSError:
            return ""

    def workers(self) -> list[int]:
        """The processes that serve requests: uvicorn's spawned workers, else the server itself."""
        assert self.process is not None
        spawned = [p for p in children(self.process.pid) if "spawn_main" in cmdline(p)]
        return spawned or [self.process.pid]

    def stop(self, timeout: float = 30.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def courier_api(
    *, database_url: str, workers: int, log_dir: Path, data_dir: Path, env: dict[str, str] | None = None
) -> Server:
    """courier-api with production defaults, except rate limiting off (access log and metrics on);
    ``env`` adds or overrides settings (the scale-out case turns the rate limit on)."""
    port = free_port()
    settings = {
        "COURIER_DATABASE_URL": database_url,
        "COURIER_HTTP_HOST": LOOPBACK,
        "COURIER_HTTP_PORT": str(port),
        "COURIER_HTTP_WORKERS": str(workers),
        "COURIER_RATE_LIMIT_SCOPE": "off",
        "COURIER_DATA_DIR": str(data_dir),
        **(env or {}),
    }
    return Server(
        name=f"courier-api x{workers}",
        command=[venv_script("courier-api")],
        env=settings,
        port=port,
        log_path=log_dir / f"courier-api-{workers}w-{port}.log",
    )


def ceiling(*, database_url: str, workers: int, log_dir: Path, plain: bool = False) -> Server:
    """The ceiling (courier's statements), or with ``plain`` the seed's plain SQL with no journal."""
    port = free_port()
    kind = "plain" if plain else "ceiling"
    return Server(
        name=f"{kind} x{workers}",
        command=[
            sys.executable,
            "-m",
            "bench.ceiling",
            "--port",
            str(port),
            "--workers",
            str(workers),
            *(["--plain"] if plain else []),
        ],
        env={"BENCH_DATABASE_URL": database_url, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
        port=port,
        log_path=log_dir / f"{kind}-{workers}w-{port}.log",
    )
