"""The stack lock's files: a private registry directory, no symlink followed, files never deleted."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from courier_cli import stacklock
from courier_cli.stack import StackError


@pytest.fixture
def runtime_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    (tmp_path / "run").mkdir(mode=0o700)
    return tmp_path / "run"


def test_a_lock_is_held_named_and_released_without_deleting_its_files(
    runtime_dir: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    lock = stacklock.StackLock(data)
    lock.acquire({"api": "http://127.0.0.1:1"})
    assert stacklock.registry_dir() == runtime_dir / "courier" / "stacks"
    assert oct(os.stat(stacklock.registry_dir()).st_mode & 0o777) == "0o700"
    second = stacklock.StackLock(data)
    # held by this very process (flock is per open file): the record names our pid, which running_stack
    # skips; a second acquire still cannot take the lock
    with pytest.raises(stacklock.StackRunning):
        second.acquire({})
    lock.release()
    assert (data / "stack.json").exists() and (data / "stack.json").read_text() == ""
    again = stacklock.StackLock(data)
    again.acquire({})
    again.release()


def test_a_registry_directory_others_can_use_is_refused(runtime_dir: Path, tmp_path: Path) -> None:
    shared = runtime_dir / "courier" / "stacks"
    shared.mkdir(parents=True)
    shared.chmod(0o777)
    with pytest.raises(StackError, match="must be a directory of yours that only you can use"):
        stacklock.StackLock(tmp_path / "data").acquire({})


def test_a_symlink_planted_as_the_record_is_not_followed(runtime_dir: Path, tmp_path: Path) -> None:
    victim = tmp_path / "bashrc"
    victim.write_text("keep me\n")
    data = tmp_path / "data"
    data.mkdir()
    (data / "stack.json").symlink_to(victim)
    with pytest.raises(OSError):
        stacklock.StackLock(data).acquire({})
    assert victim.read_text() == "keep me\n"
