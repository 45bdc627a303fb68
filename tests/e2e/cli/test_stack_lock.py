"""A running ``courier dev up`` is named, not half-started again; its vanished data directory is noticed.

A second ``courier dev up`` on the same data directory exits 1 at once, naming the running stack's pid
and ports, and leaves its logs alone. With the data directory deleted under the running stack,
``/readyz`` answers 503 and the CLI refuses (exit 3) instead of starting a new, empty database there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.cli.conftest import COURIER, DevUp, free_port
from tests.e2e.cli.test_dev_up import _wait_for_ping, _wait_for_table

pytestmark = pytest.mark.e2e


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _courier(dev: DevUp, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURIER_")}
    env["COURIER_DATA_DIR"] = str(dev.data_dir)
    return subprocess.run(
        [COURIER, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _logs(data_dir: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted((data_dir / "logs").glob("*.log"))}


def test_a_second_dev_up_names_the_running_stack_and_a_vanished_data_dir_is_refused(
    start_dev_up: Callable[[], DevUp],
) -> None:
    dev = start_dev_up()
    _wait_for_ping(dev)
    _wait_for_table(dev)
    record = json.loads((dev.data_dir / "stack.json").read_text())
    assert record["pid"] == dev.process.pid
    assert record["ports"]["api"] == f"http://127.0.0.1:{dev.api_port}"
    assert set(record["components"]) == {"kafka-broker", "order-service", "courier-api", "courier-consumer"}
    before = _logs(dev.data_dir)

    ports = ("--api-port", str(free_port()), "--metrics-port", str(free_port()))
    second = _courier(dev, "dev", "up", *ports, timeout=60)
    assert second.returncode == 1, second
    message = second.stderr.strip()
    assert message.startswith(f"error: courier is already running on {dev.data_dir}"), message
    assert f"pid {dev.process.pid}" in message, message
    assert f"api http://127.0.0.1:{dev.api_port}" in message, message
    assert "Traceback" not in message and second.stdout == ""
    after = _logs(dev.data_dir)
    for name, content in before.items():
        assert after[name].startswith(content), f"{name} was rewritten"
    assert dev.process.poll() is None
    assert _status(f"http://127.0.0.1:{dev.api_port}/readyz") == 200

    created = _courier(
        dev, "couriers", "create", "--name", "Ivan", "--phone", "+79990001122", "--status", "paused"
    )
    assert created.returncode == 0, created
    shutil.rmtree(dev.data_dir)
    deadline = time.monotonic() + 10  # at once, well before PostgreSQL notices (within a minute)
    while _status(f"http://127.0.0.1:{dev.api_port}/readyz") != 503:
        assert time.monotonic() < deadline, "/readyz still says ready"
        time.sleep(0.2)

    refused = _courier(dev, "couriers", "get", "1")
    assert refused.returncode == 3, refused
    assert f"the data directory {dev.data_dir} was deleted while the stack" in refused.stderr, refused
    assert f"pid {dev.process.pid}" in refused.stderr
    assert not dev.data_dir.exists()  # no new, empty database was made there

    again = _courier(dev, "dev", "up", *ports)
    assert again.returncode == 1, again
    assert "courier is already running" in again.stderr
    assert not dev.data_dir.exists()
