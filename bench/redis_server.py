"""A ``redis-server`` of the benchmark's own (Debian's package) on a free loopback port, keeping nothing
on disk, for the scale-out case's shared rate limit; never the machine's Redis at 6379."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.processes import LOOPBACK, free_port

INSTALL_HINT = "redis-server is missing: install it with `sudo apt-get install -y redis-server`"


class RedisError(RuntimeError):
    """redis-server is missing or did not start."""


def command(binary: str, port: int, directory: Path) -> list[str]:
    """No RDB snapshots, no append-only file: nothing of the run is kept."""
    return [binary, "--port", str(port), "--bind", LOOPBACK, "--save", "", "--appendonly", "no",
            "--dir", str(directory)]  # fmt: skip


def answers(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    @property
    def pid(self) -> int:
        return self.process.pid


@contextmanager
def redis_server(log_dir: Path, timeout: float = 10.0) -> Iterator[RedisServer]:
    """Start it, wait for PONG, yield it; stop it (and remove its directory) after."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RedisError(INSTALL_HINT)
    port = free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="courier-bench-redis-") as directory:
        with (log_dir / f"redis-{port}.log").open("ab") as log:
            process = subprocess.Popen(
                command(binary, port, Path(directory)),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        try:
            deadline = time.monotonic() + timeout
            while not answers(port):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RedisError(f"redis-server on port {port} did not start (log in {log_dir})")
                time.sleep(0.05)
            yield RedisServer(port=port, process=process)
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(10)
