"""A soak: mixed load through the API and the consumer for SOAK_SECONDS (default 600), then the
invariants and the memory of every process are checked. `make soak`; not part of `make test`."""

from __future__ import annotations

import itertools
import os
import random
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from courier_adapters.kafka.admin import ensure_topics
from courier_adapters.kafka.embedded import EmbeddedBroker
from courier_adapters.postgres import invariants
from tests.e2e.consumer.conftest import ConsumerProcess
from tests.e2e.http.server import start_api
from tests.faults.conftest import consumer_environment, seed_couriers
from tests.integration.kafka.helpers import PARTITIONS, Producer

SECONDS = float(os.environ.get("SOAK_SECONDS", "600"))
pytestmark = [pytest.mark.slow, pytest.mark.timeout(SECONDS + 300)]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def family(pid: int) -> list[int]:
    """``pid`` and its children (the API's workers)."""
    children = [
        int(e.name)
        for e in Path("/proc").iterdir()
        if e.name.isdigit()
        and (e / "stat").exists()
        and int((e / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid
    ]
    return [pid, *children]


def api_load(url: str, stop: threading.Event, orders: itertools.count[int], seen: Counter[int]) -> None:
    rng = random.Random()
    with httpx.Client(base_url=url, timeout=30) as http:
        while not stop.is_set():
            order = f"api-{next(orders)}"
            answer = http.post(
                "/api/v1/delivery/assign", json={"order_id": order, "wait": rng.random() < 0.2}
            )
            seen[answer.status_code] += 1
            if answer.status_code == 200:
                verb = "complete" if rng.random() < 0.7 else "unassign"
                seen[http.post(f"/api/v1/delivery/{verb}", json={"order_id": order}).status_code] += 1
            seen[http.get("/api/v1/couriers", params={"limit": 50}).status_code] += 1
            seen[http.get(f"/api/v1/courier/{rng.randint(1, 300)}").status_code] += 1


def event_load(bootstrap: str, stop: threading.Event) -> int:
    producer = Producer(bootstrap, "orders")
    sent = 0
    rng = random.Random()
    while not stop.is_set():
        order = str(uuid.uuid4())
        now = time.time()
        for i, status in enumerate(("created", "cooking", rng.choice(["completed", "canceled"]))):
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now + i)) + "Z"
            producer.send({"order_id": order, "status": status, "created_at": stamp})
            sent += 1
        time.sleep(0.05)
    producer.flush()
    producer.close()
    return sent


def test_soak(database_url: str, tmp_path: Path) -> None:
    broker = EmbeddedBroker.start()
    ensure_topics(broker.bootstrap_servers, {"orders": PARTITIONS, "orders.dlq": 1})
    seed_couriers(database_url, 300)
    env = consumer_environment(
        database_url, broker.bootstrap_servers, COURIER_KAFKA_GROUP_ID="soak", COURIER_DEADLINE_CAR="20s"
    )
    consumer = ConsumerProcess(env, tmp_path / "consumer.log")
    try:
        consumer.wait_ready()
        with start_api(
            database_url,
            tmp_path,
            COURIER_HTTP_WORKERS="2",
            COURIER_DEADLINE_CAR="20s",
            COURIER_RELEASE_INTERVAL="2s",
        ) as api:
            processes = [*family(api.process.pid), consumer.process.pid]
            stop, seen, orders = threading.Event(), Counter[int](), itertools.count()
            samples: list[dict[int, int]] = []
            with ThreadPoolExecutor(5) as pool:
                loads = [pool.submit(api_load, api.url, stop, orders, seen) for _ in range(4)]
                events = pool.submit(event_load, broker.bootstrap_servers, stop)
                deadline = time.monotonic() + SECONDS
                while time.monotonic() < deadline:
                    time.sleep(min(10.0, SECONDS / 10))
                    samples.append({pid: rss_kib(pid) for pid in processes if Path(f"/proc/{pid}").exists()})
                stop.set()
                for load in loads:
                    load.result()
                sent = events.result()
            assert api.stop() == 0
        time.sleep(5)  # let the consumer drain
    finally:
        consumer.stop()
        broker.stop()
    assert not [s for s in seen if s >= 500], seen
    assert sent > 0 and sum(seen.values()) > 0
    assert invariants.check(database_url) == []
    warm, last = samples[len(samples) // 4], samples[-1]
    for pid, kib in last.items():
        if pid in warm and warm[pid] > 0:
            assert kib <= warm[pid] * 1.25 + 8192, f"process {pid} grew from {warm[pid]} to {kib} KiB"
    print(
        f"\nsoak: {SECONDS:.0f}s, HTTP answers {dict(seen)}, events sent {sent}, RSS KiB first/last {samples[0]} {last}"
    )
