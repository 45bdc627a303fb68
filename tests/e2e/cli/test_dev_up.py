"""``courier dev up`` started as a real process: the stack answers, and SIGINT stops all of it."""

from __future__ import annotations

import signal
import socket
import time
import urllib.request
from collections.abc import Callable

import pytest

from tests.e2e.cli.conftest import DevUp, descendants, mentioning, wait_until_gone

pytestmark = pytest.mark.e2e
START_BUDGET = 240.0


def _ping(port: int) -> bytes | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as answer:
            body: bytes = answer.read()
            return body
    except OSError:
        return None


def _wait_for_ping(dev: DevUp) -> bytes:
    deadline = time.monotonic() + START_BUDGET
    while time.monotonic() < deadline:
        assert dev.process.poll() is None, dev.output()
        if (body := _ping(dev.api_port)) is not None:
            return body
        time.sleep(0.5)
    pytest.fail(f"courier-api never answered /ping: {dev.output()}")


def _wait_for_table(dev: DevUp) -> str:
    deadline = time.monotonic() + 30
    while "Ctrl-C" not in dev.output()[1] and time.monotonic() < deadline:
        time.sleep(0.2)
    return dev.output()[0]


def test_dev_up_answers_ping_and_stops_everything_on_sigint(start_dev_up: Callable[[], DevUp]) -> None:
    dev = start_dev_up()
    assert _wait_for_ping(dev) == b'{"message":"pong"}'
    table = _wait_for_table(dev)
    for component in ("postgresql", "kafka-broker", "order-service", "courier-api", "courier-consumer"):
        assert component in table, table
    assert f"http://127.0.0.1:{dev.api_port}" in table
    assert (dev.data_dir / "postgres.url").exists()
    running = descendants(dev.process.pid) | mentioning(str(dev.data_dir))
    assert len(running) >= 5  # the children, the broker binary and PostgreSQL's processes

    dev.process.send_signal(signal.SIGINT)
    assert dev.process.wait(timeout=120) == 0, dev.output()
    assert wait_until_gone(running) == set()
    assert mentioning(str(dev.data_dir)) == set()
    assert not (dev.data_dir / "postgres.url").exists()
    stderr = dev.output()[1]
    order = [stderr.index(f"stopped {name} ") for name in ("courier-consumer", "courier-api", "kafka-broker")]
    assert order == sorted(order), stderr  # newest first
    assert _ping(dev.api_port) is None


def test_a_component_that_cannot_start_stops_the_stack_with_exit_1(
    start_dev_up: Callable[..., DevUp],
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        dev = start_dev_up(api_port=taken.getsockname()[1])
        assert dev.process.wait(timeout=START_BUDGET) == 1, dev.output()
    stderr = dev.output()[1]
    assert "courier-api exited with code" in stderr, stderr
    assert "Traceback" not in stderr
    assert "stopped kafka-broker" in stderr
    assert wait_until_gone(mentioning(str(dev.data_dir))) == set()
