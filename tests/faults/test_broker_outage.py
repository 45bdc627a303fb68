"""The broker cut off mid-stream (its connections dropped through a loopback proxy) and restored:
the consumer reconnects by itself and applies every event exactly once in effect."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg

from courier_adapters.kafka.admin import ensure_topics
from courier_adapters.kafka.embedded import EmbeddedBroker, free_port
from tests.e2e.consumer.conftest import ConsumerProcess
from tests.faults.conftest import consumer_environment, seed_couriers
from tests.integration.kafka.helpers import PARTITIONS, Producer, event, new_order_id
from tests.support.tcpproxy import TcpProxy

EVENTS = 2000


def _count(url: str, sql: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


def _wait(check, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout}s: {what}")


def test_the_consumer_rides_out_a_broker_outage(database_url: str, tmp_path: Path) -> None:
    proxy_port = free_port()
    broker = EmbeddedBroker.start(advertised_port=proxy_port)  # clients only ever reach the proxy
    proxy = TcpProxy.to(proxy_port, "127.0.0.1", broker.port)
    proxy.start()
    bootstrap = f"127.0.0.1:{proxy_port}"
    consumer = None
    producers: list[Producer] = []
    try:
        ensure_topics(bootstrap, {"orders": PARTITIONS, "orders.dlq": 1})
        seed_couriers(database_url, 2 * EVENTS)
        env = consumer_environment(database_url, bootstrap)
        consumer = ConsumerProcess(env, tmp_path / "consumer.log")
        consumer.wait_ready()
        producer = Producer(bootstrap, "orders")
        producers.append(producer)
        first = [new_order_id() for _ in range(EVENTS)]
        for order_id in first:
            producer.send(event(order_id, "created"))
        producer.flush()
        producer.close()
        _wait(lambda: _count(database_url, "SELECT count(*) FROM deliveries") > 0, 60, "first deliveries")
        proxy.stop()  # mid-stream: the consumer loses the broker
        applied_before_cut = _count(database_url, "SELECT count(*) FROM deliveries")
        time.sleep(6)
        proxy.start()
        producer = Producer(bootstrap, "orders")
        producers.append(producer)
        second = [new_order_id() for _ in range(EVENTS // 2)]
        for order_id in second + first[:50]:  # redeliveries of old events change nothing
            producer.send(event(order_id, "created"))
        producer.flush()
        producer.close()
        total = EVENTS + EVENTS // 2
        _wait(lambda: _count(database_url, "SELECT count(*) FROM deliveries") >= total, 120, "every delivery")
        time.sleep(2)  # anything applied twice would show now
        assert applied_before_cut < EVENTS  # the cut really fell in the middle of the stream
        assert consumer.process.poll() is None, consumer.output()  # it reconnected by itself
        assert _count(database_url, "SELECT count(*) FROM deliveries") == total
        assert _count(database_url, "SELECT count(DISTINCT order_id) FROM deliveries") == total
        assert _count(database_url, "SELECT count(*) FROM couriers WHERE total_deliveries > 1") == 0
    finally:
        for opened in producers:
            opened.close()  # closing twice is harmless
        if consumer is not None:
            consumer.stop()
        proxy.close()
        broker.stop()
