"""Child processes of ``courier dev up``: start each, wait until it answers, stop all in reverse order.

Children run in their own session, so a Ctrl-C at the terminal reaches only ``courier dev up``, which
then stops them one by one, newest first (SIGTERM, then SIGKILL past the grace period). On Linux each
child also gets SIGTERM should ``courier dev up`` die without cleaning up (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

_PR_SET_PDEATHSIG = 1
POLL_SECONDS = 0.2


class StackError(Exception):
    """A component did not start, or stopped on its own."""


@dataclass(frozen=True, slots=True)
class Probe:
    """How to tell that a component serves: a TCP port accepts, or an HTTP URL answers 200."""

    host: str
    port: int
    http_path: str | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{self.http_path or ''}"

    def ok(self) -> bool:
        if self.http_path is None:
            try:
                socket.create_connection((self.host, self.port), timeout=0.5).close()
            except OSError:
                return False
            return True
        try:
            with urllib.request.urlopen(self.url, timeout=2) as answer:  # noqa: S310 - our own loopback URL
                return bool(answer.status == 200)
        except (OSError, urllib.error.URLError):
            return False


@dataclass
class Child:
    """A running component."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def tail(self, lines: int = 15) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: ask the kernel for SIGTERM when our parent dies.
    libc_name = ctypes.util.find_library("c")
    if libc_name and sys.platform.startswith("linux"):
        ctypes.CDLL(libc_name, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Supervisor:
    """Owns the children of one ``courier dev up``; :meth:`stop_all` leaves none behind."""

    log_dir: Path
    grace_seconds: float
    stopping: threading.Event = field(default_factory=threading.Event)
    children: list[Child] = field(default_factory=list)

    def start(self, name: str, command: Sequence[str], *, env: Mapping[str, str]) -> Child:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                list(command),
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        child = Child(name, process, log_path)
        self.children.append(child)
        return child

    def wait_ready(self, child: Child, probe: Probe, *, timeout: float) -> None:
        """Wait until ``probe`` answers; raise ``StackError`` if the child exits or time runs out."""
        deadline = time.monotonic() + timeout
        while not self.stopping.is_set():
            if child.process.poll() is not None:
                raise StackError(f"{child.name} exited with code {child.process.returncode} while starting")
            if probe.ok():
                return
            if time.monotonic() > deadline:
                raise StackError(f"{child.name} did not answer on {probe.url} within {timeout:.0f}s")
            time.sleep(POLL_SECONDS)

    def watch(self) -> None:
        """Block until asked to stop; raise ``StackError`` when a child stops on its own."""
        while not self.stopping.wait(POLL_SECONDS):
            for child in self.children:
                if child.process.poll() is not None:
                    raise StackError(
                        f"{child.name} stopped on its own (exit code {child.process.returncode})"
                    )

    def stop_all(self, report: Callable[[str], None]) -> None:
        """Stop the children newest first: SIGTERM, then SIGKILL after the grace period."""
        for child in reversed(self.children):
            code = self._stop(child)
            report(f"stopped {child.name} (exit code {code})")
        self.children.clear()

    def _stop(self, child: Child) -> int:
        process = child.process
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)  # the child's whole group: its own children too
            try:
                return process.wait(self.grace_seconds)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
        code = process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # grandchildren left in the group, if any
        return code
