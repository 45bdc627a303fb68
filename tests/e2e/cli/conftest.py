"""``courier dev up`` as a real process: free loopback ports, its own data directory, process lookups."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

COURIER = str(Path(sys.executable).parent / "courier")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # fields after "pid (comm) "


def alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def descendants(root: int) -> set[int]:
    """Every live process below ``root`` (children, grandchildren...)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return {pid for pid in found if alive(pid)}


def mentioning(text: str) -> set[int]:
    """Live processes whose command line contains ``text`` (the embedded PostgreSQL of a data dir)."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and alive(int(entry.name)):
            pids.add(int(entry.name))
    return pids


def wait_until_gone(pids: set[int], timeout: float = 30.0) -> set[int]:
    deadline = time.monotonic() + timeout
    while (left := {p for p in pids if alive(p)}) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


@dataclass
class DevUp:
    """A running ``courier dev up`` and the ports it was given."""

    process: subprocess.Popen[str]
    data_dir: Path
    api_port: int
    stdout_path: Path
    stderr_path: Path

    def output(self) -> tuple[str, str]:
        return self.stdout_path.read_text(), self.stderr_path.read_text()


@pytest.fixture
def start_dev_up(tmp_path: Path, embedded_dir: Path) -> Iterator[object]:
    """Start ``courier dev up`` (call it); whatever it leaves is killed after the test, then checked."""
    started: list[DevUp] = []

    def start(api_port: int | None = None) -> DevUp:
        data_dir = embedded_dir / "data"  # outside pytest's private tree: the server runs as its own user
        env = {k: v for k, v in os.environ.items() if not k.startswith("COURIER_")}
        env.update(COURIER_DATA_DIR=str(data_dir), COURIER_SHUTDOWN_TIMEOUT="10s")
        api = api_port or free_port()
        args = ["dev", "up", "--api-port", str(api), "--broker-port", str(free_port())]
        args += ["--order-service-port", str(free_port()), "--control-port", str(free_port())]
        args += ["--metrics-port", str(free_port()), "--start-timeout", "120"]
        out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
        with out.open("w") as stdout, err.open("w") as stderr:
            process = subprocess.Popen(
                [COURIER, *args], env=env, cwd=tmp_path, stdout=stdout, stderr=stderr, text=True
            )
        started.append(DevUp(process, data_dir, api, out, err))
        return started[-1]

    yield start
    for dev in started:
        leftovers = descendants(dev.process.pid) | mentioning(str(dev.data_dir))
        if dev.process.poll() is None:
            dev.process.kill()
            dev.process.wait()
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
