"""The lock of a running ``courier dev up``: who runs the stack of a data directory, and on which ports.

``courier dev up`` holds an exclusive ``flock`` on two copies of one JSON record (its pid, the ports,
each component's pid) for as long as it runs: ``<data dir>/stack.json``, for people to read, and one
in a private per-user directory outside the data directory (``$XDG_RUNTIME_DIR/courier/stacks``, else
``~/.cache/courier/stacks``), keyed by its path, that survives the data directory being deleted under
the running stack. The kernel drops the locks when the process dies, so a record whose lock can be
taken is stale, whatever pid it names; the files are emptied on release, never deleted (a file deleted
while another process waits to lock it would let two stacks each hold "the" lock).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from courier_cli.stack import StackError

LOCK_NAME = "stack.json"


def registry_dir() -> Path:
    """Where the out-of-tree copies live: ``$XDG_RUNTIME_DIR/courier/stacks``, else
    ``~/.cache/courier/stacks`` (never a shared directory another user could prepare)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) if runtime else Path.home() / ".cache"
    return base / "courier" / "stacks"


def _private_dir(path: Path) -> Path:
    """``path``, created if needed; refused unless it is a real directory of this user, private."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    found = os.lstat(path)
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.getuid() or found.st_mode & 0o077:
        raise StackError(
            f"{path} must be a directory of yours that only you can use (chmod 700 {path}, "
            "or remove it): courier dev up keeps the stacks' locks there"
        )
    return path


def _open_locked(path: Path) -> IO[str] | None:
    """``path`` opened (never through a symlink) and locked exclusively; ``None`` when another holds it."""
    for _ in range(5):
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        handle = os.fdopen(fd, "r+")
        if not _lock_soon(handle):
            handle.close()
            return None
        try:
            same = os.fstat(fd).st_ino == os.stat(path, follow_symlinks=False).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return handle
        handle.close()  # the file was replaced or removed meanwhile: lock the one that is there now
    raise StackError(f"{path} keeps changing under courier dev up: is another one starting?")


def _lock_soon(handle: IO[str]) -> bool:
    """An exclusive lock within half a second: a CLI command may hold a shared one for an instant to
    read the record (:func:`_held_record`); a running stack holds its lock for good."""
    for _ in range(10):
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            time.sleep(0.05)
    return False


def _registry_file(data_dir: Path) -> Path:
    key = hashlib.sha256(str(data_dir).encode()).hexdigest()[:16]
    return registry_dir() / f"{key}.json"


def _held_record(path: Path) -> dict[str, Any] | None:
    """The record at ``path`` when a live process holds its lock; ``None`` when absent or stale."""
    try:
        handle = path.open("r")
    except OSError:
        return None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pass  # held: a stack runs
        else:
            return None  # nobody holds it: left by a stack that died
        for _ in range(5):  # the holder may be rewriting it this instant
            handle.seek(0)
            with contextlib.suppress(ValueError):
                record: dict[str, Any] = json.loads(handle.read())
                return record
            time.sleep(0.05)
    return {}


def running_stack(data_dir: Path) -> dict[str, Any] | None:
    """The record of another ``courier dev up`` running on ``data_dir`` (present or deleted), if any."""
    directory = data_dir.expanduser().resolve()
    for path in (directory / LOCK_NAME, _registry_file(directory)):
        record = _held_record(path)
        if record is None or record.get("pid") == os.getpid():
            continue
        if record.get("data_dir", str(directory)) == str(directory):
            return record
    return None


def vanished_database(data_dir: Path) -> str | None:
    """Why the CLI must not use ``data_dir``: a stack runs on it, on its embedded database, whose
    directory (or ``postgres.url``) is gone; ``None`` when nothing is wrong."""
    directory = data_dir.expanduser().resolve()
    if (directory / "postgres.url").exists():
        return None
    record = running_stack(directory)
    if record is None or not record.get("embedded_database", True) or "database" not in record:
        return None  # no stack, an external database, or one still starting its PostgreSQL
    what = "was deleted" if not directory.exists() else "lost its database (postgres.url is gone)"
    pid = record.get("pid", "<pid>")
    return (
        f"the data directory {directory} {what} while the stack using it still runs (courier dev up, "
        f"pid {pid}): its database went with it, and a new one here would be empty. Nothing was "
        f"changed. Stop that stack (Ctrl-C in its terminal, or kill {pid}); the next run starts afresh"
    )


def describe(record: dict[str, Any]) -> str:
    """``pid 1234, api http://127.0.0.1:8080, broker 127.0.0.1:9092, ...`` for a message."""
    parts = [f"pid {record.get('pid', '?')}"]
    parts += [f"{name} {where}" for name, where in record.get("ports", {}).items()]
    children = record.get("components", {})
    if children:
        parts.append("components " + ", ".join(f"{name} {pid}" for name, pid in children.items()))
    return ", ".join(parts)


@dataclass
class StackLock:
    """Held by one ``courier dev up`` on ``data_dir`` from :meth:`acquire` to :meth:`release`."""

    data_dir: Path
    record: dict[str, Any] = field(default_factory=dict)
    _handles: list[IO[str]] = field(default_factory=list)

    def acquire(self, ports: dict[str, str]) -> None:
        """Take both locks, or raise ``StackRunning`` naming the stack that holds them."""
        self.data_dir = self.data_dir.expanduser().resolve()
        running = running_stack(self.data_dir)
        if running is not None:  # said before the data directory is created again, if it was deleted
            raise StackRunning(self.data_dir, running)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        _private_dir(registry_dir())
        started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self.record = {"pid": os.getpid(), "started_at": started, "data_dir": str(self.data_dir)}
        self.record["ports"] = ports
        for path in (self.data_dir / LOCK_NAME, _registry_file(self.data_dir)):
            handle = _open_locked(path)  # not truncated yet: a running stack's record stays readable
            if handle is None:
                self.release()
                raise StackRunning(self.data_dir, running_stack(self.data_dir) or {})
            self._handles.append(handle)
        self._write()

    def add_component(self, name: str, pid: int) -> None:
        self.record.setdefault("components", {})[name] = pid
        self._write()

    def _write(self) -> None:
        text = json.dumps(self.record, indent=2) + "\n"
        for handle in self._handles:
            handle.seek(0)
            handle.truncate()
            handle.write(text)
            handle.flush()

    def release(self) -> None:
        """Empty the records and drop the locks (the files stay: see the module's docstring)."""
        for handle in self._handles:
            with contextlib.suppress(OSError):
                handle.seek(0)
                handle.truncate()
            handle.close()
        self._handles.clear()


class StackRunning(StackError):
    """Another ``courier dev up`` runs on this data directory."""

    def __init__(self, data_dir: Path, record: dict[str, Any]) -> None:
        super().__init__(
            f"courier is already running on {data_dir} ({describe(record)}); nothing was started. "
            f"Stop it first (Ctrl-C in its terminal, or kill {record.get('pid', '<pid>')}), or give "
            "this one another COURIER_DATA_DIR and other ports"
        )
        self.record = record
