"""Benchmark of courier-consumer end to end: events/s applied, and produce-to-assignment latency.

    uv run python apps/consumer/bench/bench_consumer.py [--events 5000] [--latency-events 2000]

Real parts only: the embedded Tansu broker, PostgreSQL (``COURIER_DATABASE_URL`` names a server to create
scratch databases on, else an embedded one in a temporary directory), the consumer app in this process.
Throughput: ``created`` events for as many couriers, produced before the consumer starts, measured on the
database clock from the first assignment to the last. Latency: events produced at a steady rate while
the consumer runs, from the event's ``created_at`` (this machine's clock) to its ``assigned_at``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from datetime import UTC, datetime
from pathlib import Path

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka import KafkaProducer

from courier_adapters.kafka.admin import ensure_topics
from courier_adapters.kafka.embedded import EmbeddedBroker, free_port
from courier_adapters.logs import configure_logging
from courier_adapters.postgres import embedded, migrate
from courier_adapters.postgres.database import PoolSession, PostgresDatabase
from courier_adapters.settings import Settings, load_settings
from courier_consumer.app import ConsumerApp

PARTITIONS = 4


def fresh_database(admin_url: str) -> str:
    name = f"courier_bench_{uuid.uuid4().hex[:8]}"
    embedded.create_database(admin_url, name, template="template0")
    url = embedded.database_url(admin_url, name)
    migrate.upgrade(url)
    return url


def settings_for(url: str, broker: EmbeddedBroker, topic: str, consumers: int) -> Settings:
    return load_settings(
        {
            "COURIER_DATABASE_URL": url,
            "COURIER_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "COURIER_KAFKA_TOPIC": topic,
            "COURIER_KAFKA_DLQ_TOPIC": topic + ".dlq",
            "COURIER_KAFKA_GROUP_ID": "bench-" + topic,
            "COURIER_KAFKA_CONSUMERS": str(consumers),
            "COURIER_METRICS_PORT": str(free_port()),
            "COURIER_LOG_LEVEL": "warning",
        },
        dotenv=None,
    )


def produce(broker: EmbeddedBroker, topic: str, count: int, *, rate: float | None = None) -> None:
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers, acks="all", linger_ms=2)
    started = time.monotonic()
    for i in range(count):
        if rate is not None:
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        now = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
        value = {"order_id": str(uuid.uuid4()), "status": "created", "created_at": now}
        producer.send(topic, json.dumps(value).encode())
    producer.flush()
    producer.close()


async def seed_couriers(session: PoolSession, count: int) -> None:
    await session.execute(
        "INSERT INTO couriers (name, phone, status, transport_type) "
        "SELECT 'Ivan', '+7' || lpad(i::text, 10, '0'), 'available', 'car' FROM generate_series(1, %s) AS i",
        (count,),
    )


async def wait_deliveries(session: PoolSession, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = await session.fetch_one("SELECT count(*) FROM deliveries")
        if row is not None and row[0] >= count:
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"fewer than {count} deliveries after {timeout}s")


async def throughput(admin_url: str, broker: EmbeddedBroker, *, consumers: int, events: int) -> float:
    url = fresh_database(admin_url)
    topic = f"bench-{uuid.uuid4().hex[:6]}"
    ensure_topics(broker.bootstrap_servers, {topic: PARTITIONS, topic + ".dlq": 1})
    database = PostgresDatabase(url)
    await database.open()
    session = PoolSession(database.pool)
    try:
        await seed_couriers(session, events)
        await asyncio.to_thread(produce, broker, topic, events)
        app = ConsumerApp(settings_for(url, broker, topic, consumers), database_url=url)
        stop = asyncio.Event()
        task = asyncio.create_task(app.run(stop))
        await wait_deliveries(session, events, timeout=600)
        stop.set()
        await task
        row = await session.fetch_one(
            "SELECT extract(epoch FROM max(assigned_at) - min(assigned_at)) FROM deliveries"
        )
        assert row is not None
        return events / float(row[0])
    finally:
        await database.close()


async def throughput_processes(
    admin_url: str, broker: EmbeddedBroker, *, processes: int, events: int
) -> float:
    """Like :func:`throughput`, with ``processes`` ``courier-consumer`` processes of one consumer each."""
    url = fresh_database(admin_url)
    topic = f"bench-{uuid.uuid4().hex[:6]}"
    ensure_topics(broker.bootstrap_servers, {topic: PARTITIONS, topic + ".dlq": 1})
    database = PostgresDatabase(url)
    await database.open()
    session = PoolSession(database.pool)
    children: list[subprocess.Popen[bytes]] = []
    try:
        await seed_couriers(session, events)
        await asyncio.to_thread(produce, broker, topic, events)
        children.extend(_spawn(url, broker, topic) for _ in range(processes))
        await wait_deliveries(session, events, timeout=600)
        row = await session.fetch_one(
            "SELECT extract(epoch FROM max(assigned_at) - min(assigned_at)) FROM deliveries"
        )
        assert row is not None
        return events / float(row[0])
    finally:
        await asyncio.to_thread(_stop, children)
        await database.close()


def _spawn(url: str, broker: EmbeddedBroker, topic: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURIER_")}
    env.update({f"COURIER_{k}": v for k, v in _environ(url, broker, topic).items()})
    script = str(Path(sys.executable).parent / "courier-consumer")
    return subprocess.Popen([script], env=env, stdout=subprocess.DEVNULL)


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        child.send_signal(signal.SIGTERM)
    for child in children:
        child.wait(30)


def _environ(url: str, broker: EmbeddedBroker, topic: str) -> dict[str, str]:
    return {
        "DATABASE_URL": url,
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "KAFKA_TOPIC": topic,
        "KAFKA_DLQ_TOPIC": topic + ".dlq",
        "KAFKA_GROUP_ID": "bench-" + topic,
        "METRICS_PORT": str(free_port()),
        "LOG_LEVEL": "warning",
    }


async def latency(admin_url: str, broker: EmbeddedBroker, *, events: int, rate: float) -> tuple[float, float]:
    url = fresh_database(admin_url)
    topic = f"bench-{uuid.uuid4().hex[:6]}"
    ensure_topics(broker.bootstrap_servers, {topic: PARTITIONS, topic + ".dlq": 1})
    database = PostgresDatabase(url)
    await database.open()
    session = PoolSession(database.pool)
    try:
        await seed_couriers(session, events)
        app = ConsumerApp(settings_for(url, broker, topic, 1), database_url=url)
        stop = asyncio.Event()
        task = asyncio.create_task(app.run(stop))
        while not app.runtime.ready():  # noqa: ASYNC110 - set by consumer threads, not an Event
            await asyncio.sleep(0.1)
        await asyncio.to_thread(produce, broker, topic, events, rate=rate)
        await wait_deliveries(session, events, timeout=600)
        stop.set()
        await task
        row = await session.fetch_one(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms),"
            " percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)"
            " FROM (SELECT extract(epoch FROM d.assigned_at - o.status_at) * 1000 AS ms"
            " FROM deliveries d JOIN orders o USING (order_id)) AS l"
        )
        assert row is not None
        return float(row[0]), float(row[1])
    finally:
        await database.close()


async def main(args: argparse.Namespace) -> None:
    configure_logging("WARNING", "console")
    holder = None
    admin_url = os.environ.get("COURIER_DATABASE_URL")
    server = None
    if not admin_url:
        holder = tempfile.TemporaryDirectory(prefix="courier-bench-pg-")
        server = embedded.start(holder.name)
        admin_url = server.url("postgres")
    try:
        with EmbeddedBroker.start() as broker:
            print(f"{'measure':<44} {'value':>10}")
            for consumers in (1, 2):
                rate = await throughput(admin_url, broker, consumers=consumers, events=args.events)
                print(
                    f"{f'events/s applied, {consumers} consumer(s), {args.events} events':<44} {rate:>10.0f}"
                )
            rate = await throughput_processes(admin_url, broker, processes=2, events=args.events)
            label = f"events/s applied, 2 processes, {args.events} events"
            print(f"{label:<44} {rate:>10.0f}")
            p50, p99 = await latency(admin_url, broker, events=args.latency_events, rate=args.rate)
            print(f"{f'produce->assignment p50 ms (at {args.rate:g}/s)':<44} {p50:>10.1f}")
            print(f"{f'produce->assignment p99 ms (at {args.rate:g}/s)':<44} {p99:>10.1f}")
    finally:
        if server is not None:
            server.stop()
        if holder is not None:
            holder.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--latency-events", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=200.0, help="events/s produced for the latency run")
    asyncio.run(main(parser.parse_args()))
