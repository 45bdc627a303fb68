"""``courier-api`` as a real process on a free loopback port, for the end-to-end tier."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

EXECUTABLE = str(Path(sys.executable).with_name("courier-api"))
START_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ApiProcess:
    """A running ``courier-api``; its stdout (JSON log lines) and stderr go to files."""

    url: str
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def logs(self) -> list[dict[str, object]]:
        lines = self.stdout.read_text(errors="replace").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise

    def __enter__(self) -> ApiProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def environment(database_url: str, port: int, extra: dict[str, str]) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("COURIER_") or k.startswith("COURIER_TEST_")
    }
    env.update(
        COURIER_DATABASE_URL=database_url,
        COURIER_HTTP_HOST="127.0.0.1",
        COURIER_HTTP_PORT=str(port),
        COURIER_RATE_LIMIT_SCOPE="off",
        COURIER_SHUTDOWN_TIMEOUT="20s",
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(extra)
    return env


def start_api(database_url: str, workdir: Path, **settings: str) -> ApiProcess:
    """Start ``courier-api`` (``settings``: ``COURIER_*`` overrides) and wait until it answers."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    stdout, stderr = workdir / f"api-{port}.out", workdir / f"api-{port}.err"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [EXECUTABLE], env=environment(database_url, port, settings), cwd=workdir, stdout=out, stderr=err
        )
    api = ApiProcess(f"http://127.0.0.1:{port}", process, stdout, stderr)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"courier-api exited with {process.returncode}: {stderr.read_text()}")
        try:
            if httpx.get(api.url + "/healthcheck", timeout=1.0).status_code == 204:
                return api
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    with api:
        raise RuntimeError(f"courier-api did not answer within {START_TIMEOUT}s: {stderr.read_text()}")
