"""``courier-consumer`` as a real process, against the real broker (Tansu) and PostgreSQL."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

with warnings.catch_warnings():  # kafka-python 3 reads its schemas with a deprecated importlib call
    warnings.simplefilter("ignore", DeprecationWarning)
    import kafka  # noqa: F401

from courier_adapters.kafka.admin import ensure_topics
from courier_adapters.kafka.embedded import EmbeddedBroker, free_port
from tests.integration.kafka.helpers import PARTITIONS, ExternalBroker, Topics, session_broker

pytestmark = pytest.mark.e2e


def consumer_command() -> list[str]:
    found = shutil.which("courier-consumer", path=str(Path(sys.executable).parent))
    assert found, "the courier-consumer console script is not installed (uv sync)"
    return [found]


class ConsumerProcess:
    """One ``courier-consumer`` process; its output goes to ``log``."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.metrics_port = int(env["COURIER_METRICS_PORT"])
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                consumer_command(), env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )

    def ready(self) -> bool:
        try:
            answer = httpx.get(f"http://127.0.0.1:{self.metrics_port}/readyz", timeout=1)
        except httpx.HTTPError:
            return False
        return answer.status_code == 200

    def wait_ready(self, timeout: float = 45.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"courier-consumer exited ({self.process.returncode}):\n{self.output()}")
            if self.ready():
                return
            time.sleep(0.2)
        raise AssertionError(f"courier-consumer not ready within {timeout}s:\n{self.output()}")

    def metrics(self) -> str:
        return httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def signal(self, sig: signal.Signals) -> None:
        self.process.send_signal(sig)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture(scope="session")
def e2e_broker() -> Iterator[EmbeddedBroker | ExternalBroker]:
    with session_broker() as running:
        yield running


@pytest.fixture
def e2e_topics(e2e_broker: EmbeddedBroker | ExternalBroker) -> Topics:
    suffix = uuid.uuid4().hex[:8]
    made = Topics(
        e2e_broker.bootstrap_servers, f"orders-{suffix}", f"orders-{suffix}.dlq", f"courier-{suffix}"
    )
    ensure_topics(made.bootstrap_servers, {made.topic: PARTITIONS, made.dlq: 1})
    return made


@pytest.fixture
def start_consumer(
    database_url: str, e2e_topics: Topics, tmp_path: Path
) -> Iterator[Callable[..., ConsumerProcess]]:
    """Start ``courier-consumer`` processes; every one still running at the end is killed."""
    started: list[ConsumerProcess] = []

    def start(**extra: str) -> ConsumerProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("COURIER_")}
        env.update(
            COURIER_DATABASE_URL=database_url,
            COURIER_KAFKA_BOOTSTRAP_SERVERS=e2e_topics.bootstrap_servers,
            COURIER_KAFKA_TOPIC=e2e_topics.topic,
            COURIER_KAFKA_DLQ_TOPIC=e2e_topics.dlq,
            COURIER_KAFKA_GROUP_ID=e2e_topics.group,
            COURIER_METRICS_PORT=str(free_port()),
            COURIER_SHUTDOWN_TIMEOUT="10s",
            COURIER_LOG_LEVEL="info",
            COURIER_DATA_DIR=str(tmp_path / "data"),
        )
        env.update({f"COURIER_{k.upper()}": v for k, v in extra.items()})
        process = ConsumerProcess(env, tmp_path / f"consumer-{len(started)}.log")
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()
