"""The order service hanging, then back: events keep being applied on their own (verification
skipped and counted, the breaker open), and verification resumes when the service answers again."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import psycopg

from courier_adapters.kafka.admin import ensure_topics
from courier_adapters.kafka.embedded import EmbeddedBroker, free_port
from tests.e2e.consumer.conftest import ConsumerProcess
from tests.faults.conftest import consumer_environment, seed_couriers
from tests.integration.kafka.helpers import PARTITIONS, Producer, event

SIMULATOR = str(Path(sys.executable).with_name("courier-order-service"))


def _delivered(url: str, order_id: str) -> bool:
    with psycopg.connect(url) as conn:
        return (
            conn.execute("SELECT 1 FROM deliveries WHERE order_id = %s", (order_id,)).fetchone() is not None
        )


def _known_status(url: str, order_id: str) -> str | None:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT status FROM orders WHERE order_id = %s", (order_id,)).fetchone()
    return None if row is None else str(row[0])


def _eventually(check, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)


def _metric(text: str, name: str, labels: str = "") -> float:
    pattern = rf"^{name}(\{{[^}}]*{labels}[^}}]*\}})? ([0-9.e+-]+)$"
    return sum(float(m.group(2)) for m in re.finditer(pattern, text, re.M))


def test_events_flow_while_the_order_service_hangs_and_verification_resumes(
    database_url: str, tmp_path: Path
) -> None:
    grpc_port, control_port = free_port(), free_port()
    control = f"http://127.0.0.1:{control_port}"
    simulator = subprocess.Popen(
        [SIMULATOR, "--port", str(grpc_port), "--control-port", str(control_port), "--step-interval", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    broker = EmbeddedBroker.start()
    consumer = None
    producer = None
    try:
        _eventually(
            lambda: httpx.get(f"{control}/health", timeout=2).status_code == 200 if _up(control) else False
        )
        ensure_topics(broker.bootstrap_servers, {"orders": PARTITIONS, "orders.dlq": 1})
        seed_couriers(database_url, 50)
        env = consumer_environment(
            database_url,
            broker.bootstrap_servers,
            COURIER_ORDER_SERVICE_ADDR=f"127.0.0.1:{grpc_port}",
            COURIER_ORDER_SERVICE_TIMEOUT="300ms",
            COURIER_ORDER_SERVICE_BUDGET="1s",
            COURIER_BREAKER_FAILURES="2",
            COURIER_BREAKER_COOLDOWN="2s",
            COURIER_RECONCILE_INTERVAL="0",
        )
        consumer = ConsumerProcess(env, tmp_path / "consumer.log")
        consumer.wait_ready()
        producer = Producer(broker.bootstrap_servers, "orders")

        known = httpx.post(f"{control}/orders", json={"status": "created"}, timeout=5).json()["id"]
        producer.send_now(event(known, "created"))
        _eventually(lambda: _delivered(database_url, known))  # verified, then assigned

        httpx.post(f"{control}/fault", json={"mode": "hang"}, timeout=5).raise_for_status()
        blind = [str(uuid.uuid4()) for _ in range(5)]
        for order_id in blind:
            producer.send_now(event(order_id, "created"))
        _eventually(lambda: all(_delivered(database_url, o) for o in blind))  # on the event alone
        metrics = consumer.metrics()
        assert _metric(metrics, "courier_order_verification_skipped_total") >= 1
        assert _metric(metrics, "courier_order_service_breaker_state", 'state="open"') == 1

        httpx.post(f"{control}/fault", json={"mode": "none"}, timeout=5).raise_for_status()
        time.sleep(3)  # past the breaker's cool-down: the next call is its one probe
        fresh = httpx.post(f"{control}/orders", json={"status": "created"}, timeout=5).json()["id"]
        producer.send_now(event(fresh, "created"))
        _eventually(lambda: _delivered(database_url, fresh))
        # (Only the probe gets through a half-open breaker: calls beside it fail fast, and proceed.)
        _eventually(
            lambda: _metric(consumer.metrics(), "courier_order_service_breaker_state", 'state="closed"') == 1
        )
        cancelled = httpx.post(f"{control}/orders", json={"status": "canceled"}, timeout=5).json()["id"]
        producer.send_now(event(cancelled, "created"))
        _eventually(lambda: _known_status(database_url, cancelled) == "canceled")  # the service said so
        assert not _delivered(database_url, cancelled)  # verification is back: a finished order is skipped
    finally:
        if producer is not None:
            producer.close()
        if consumer is not None:
            consumer.stop()
        broker.stop()
        simulator.terminate()
        simulator.wait(15)


def _up(control: str) -> bool:
    try:
        httpx.get(f"{control}/health", timeout=2)
    except httpx.TransportError:
        return False
    return True
