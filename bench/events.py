"""Case 4: ``created`` events through the embedded broker, applied by 1 and by 2 consumer processes.

Each run has its own topic, group and freshly seeded database (more couriers than events, so every
order is assigned). Throughput: a burst of events produced as fast as the producer goes, events/s
from the first send to the last assignment. Latency: events paced at half that rate, produce-to-
assignment p50/p99 (assignment time is the database's ``assigned_at``). Then the counts are checked:
every event applied exactly once in effect.
"""

from __future__ import annotations

import functools
import json
import logging
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench import profile
from bench.processes import Server, ServerError, cpu_seconds, free_port, venv_script
from bench.runner import Context

log = logging.getLogger("bench.events")
TARGET_EVENTS_PER_S = 2500.0  # the assignment-path issue


def run(ctx: Context) -> None:
    try:
        with warnings.catch_warnings():  # kafka-python reads its schemas with a deprecated call
            warnings.simplefilter("ignore", DeprecationWarning)
            from kafka import KafkaProducer  # noqa: F401

            from courier_adapters.kafka.embedded import EmbeddedBroker
    except ImportError as exc:
        ctx.skipped.append(f"events: the Kafka adapter is missing ({exc})")
        return
    if not Path(venv_script("courier-consumer")).exists():
        ctx.skipped.append("events: courier-consumer is not installed")
        return
    runs = []
    with EmbeddedBroker.start(log_file=ctx.log_dir / "broker.log") as broker:
        for consumers in (1, 2):
            try:
                runs.append(_run(ctx, broker.bootstrap_servers, consumers))
            except (ServerError, TimeoutError, RuntimeError) as exc:
                ctx.fail(f"events with {consumers} consumer(s): {exc}")
    two = next((r for r in runs if r["consumers"] == 2), None)
    ctx.results["events"] = {
        "runs": runs,
        "target_events_per_s": TARGET_EVENTS_PER_S,
        "met": two is not None and two["events_per_s"] >= TARGET_EVENTS_PER_S and two["exactly_once"],
    }


def _run(ctx: Context, bootstrap: str, consumers: int) -> dict[str, Any]:
    from courier_adapters.kafka.admin import ensure_topics

    plan = ctx.plan
    tag = ctx.tag()
    topic, group = f"bench-orders-{tag}", f"bench-courier-{tag}"
    ensure_topics(bootstrap, {topic: plan.events_partitions, f"{topic}.dlq": 1})
    url = ctx.pg.database(f"bench_events_{consumers}", couriers=plan.events * 2 + 100)
    servers = [_consumer(ctx, url, bootstrap, topic, group, i) for i in range(consumers)]
    try:
        for server in servers:
            server.start(timeout=60)
        producer = _producer(bootstrap)
        try:
            burst = _burst(ctx, producer, topic, url, f"bench-{tag}-t-")
            rate = max(10.0, burst["events_per_s"] / 2)
            pace = functools.partial(_paced, ctx, producer, topic, url, f"bench-{tag}-l-", rate)
            paced, layers = _profiled(ctx, servers[0], pace) if consumers == 1 else (pace(), None)
        finally:
            producer.close(timeout=5)
        checks = _checks(url, expected=burst["events"] + paced["events"])
    finally:
        for server in servers:
            server.stop()
    exactly_once = all(checks[k] == v for k, v in checks["expected"].items())
    if not exactly_once:
        ctx.fail(f"events with {consumers} consumer(s): counts differ {checks}")
    result = {
        "profile": layers,
        "consumers": consumers,
        **burst,
        "latency": paced,
        "checks": checks,
        "exactly_once": exactly_once,
    }
    log.info(
        "events x%d: %.0f events/s, p50 %s ms, p99 %s ms, exactly once: %s",
        consumers,
        burst["events_per_s"],
        paced["p50_ms"],
        paced["p99_ms"],
        exactly_once,
    )
    return result


def _profiled(ctx: Context, server: Server, pace: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], Any]:
    """The paced phase under py-spy: where a consumer's CPU goes per event (idle time is not sampled)."""
    if profile.py_spy_command() is None or server.process is None:
        return pace(), None
    pid = server.process.pid
    before = cpu_seconds(pid)
    try:
        raw, paced = profile.record(pid, ctx.plan.events_budget, pace)
    except RuntimeError as exc:
        ctx.fail(f"profile of courier-consumer: {exc}")
        return pace(), None
    cpu_us = (cpu_seconds(pid) - before) / max(1, paced["events"]) * 1e6
    (ctx.profile_dir / "courier-consumer-events.txt").write_text(raw)
    samples = profile.breakdown(raw)
    layers = {
        "events": paced["events"],
        "cpu_us_per_event": round(cpu_us, 1),
        "samples": sum(samples.values()),
        "layers": profile.per_request(samples, cpu_us),
    }
    return paced, layers


def _consumer(ctx: Context, url: str, bootstrap: str, topic: str, group: str, index: int) -> Server:
    port = free_port()
    env = {
        "COURIER_DATABASE_URL": url,
        "COURIER_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "COURIER_KAFKA_TOPIC": topic,
        "COURIER_KAFKA_DLQ_TOPIC": f"{topic}.dlq",
        "COURIER_KAFKA_GROUP_ID": group,
        "COURIER_METRICS_PORT": str(port),
        "COURIER_DATA_DIR": str(ctx.work_dir / "data"),
    }
    return Server(
        name=f"courier-consumer #{index}",
        command=[venv_script("courier-consumer")],
        env=env,
        port=port,
        log_path=ctx.log_dir / f"consumer-{group}-{index}.log",
    )


def _producer(bootstrap: str) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from kafka import KafkaProducer

    return KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2, batch_size=65536)


def _value(order_id: str) -> bytes:
    at = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return json.dumps({"order_id": order_id, "status": "created", "created_at": at}).encode()


def _burst(ctx: Context, producer: Any, topic: str, url: str, prefix: str) -> dict[str, Any]:
    count = ctx.plan.events
    started = time.time()
    for i in range(count):
        producer.send(topic, value=_value(f"{prefix}{i}"))
    producer.flush(timeout=60)
    produced_in = time.time() - started
    last = _wait_assigned(url, prefix, count, ctx.plan.events_budget)
    seconds = max(last - started, 1e-6)
    return {
        "events": count,
        "produce_seconds": round(produced_in, 2),
        "seconds": round(seconds, 2),
        "events_per_s": round(count / seconds, 1),
    }


def _paced(ctx: Context, producer: Any, topic: str, url: str, prefix: str, rate: float) -> dict[str, Any]:
    count = max(50, min(ctx.plan.events // 4, int(rate * 10)))
    sent: dict[str, float] = {}
    started = time.time()
    for i in range(count):
        delay = started + i / rate - time.time()
        if delay > 0:
            time.sleep(delay)
        order_id = f"{prefix}{i}"
        sent[order_id] = time.time()
        producer.send(topic, value=_value(order_id))
    producer.flush(timeout=60)
    _wait_assigned(url, prefix, count, ctx.plan.events_budget)
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT order_id, extract(epoch FROM assigned_at)::float8 FROM deliveries WHERE order_id LIKE %s",
            (prefix + "%",),
        ).fetchall()
    latencies = sorted((float(at) - sent[order]) * 1000 for order, at in rows)
    return {
        "events": count,
        "rate_per_s": round(rate, 1),
        "p50_ms": round(_percentile(latencies, 50), 1),
        "p99_ms": round(_percentile(latencies, 99), 1),
        "max_ms": round(latencies[-1], 1) if latencies else None,
    }


def _percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    index = min(len(values) - 1, max(0, round(pct / 100 * len(values) + 0.5) - 1))
    return values[index]


def _wait_assigned(url: str, prefix: str, count: int, budget: float) -> float:
    """Wait until ``count`` orders of ``prefix`` have a delivery; the epoch of the last assignment."""
    deadline = time.monotonic() + budget
    query = (
        "SELECT count(*), extract(epoch FROM max(assigned_at))::float8 FROM deliveries WHERE order_id LIKE %s"
    )
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            row = conn.execute(query, (prefix + "%",)).fetchone()
            assert row is not None
            if row[0] >= count:
                return float(row[1])
            if time.monotonic() > deadline:
                raise TimeoutError(f"{row[0]} of {count} events applied within {budget:.0f} s")
            time.sleep(0.1)


def _checks(url: str, *, expected: int) -> dict[str, Any]:
    """Counts that show each event applied exactly once in effect."""
    queries = {
        "deliveries": "SELECT count(*) FROM deliveries",
        "distinct_orders": "SELECT count(DISTINCT order_id) FROM deliveries",
        "processed_events": "SELECT count(*) FROM processed_events",
        "busy_couriers": "SELECT count(*) FROM couriers WHERE status = 'busy'",
        "waiting_orders": "SELECT count(*) FROM waiting_orders",
        "couriers_with_two_active": (
            "SELECT count(*) FROM (SELECT courier_id FROM deliveries WHERE status = 'active'"
            " GROUP BY courier_id HAVING count(*) > 1) AS doubled"
        ),
    }
    with psycopg.connect(url, autocommit=True) as conn:
        out: dict[str, Any] = {}
        for name, query in queries.items():
            row = conn.execute(query).fetchone()
            out[name] = int(row[0]) if row else -1
    out["expected"] = {
        "deliveries": expected,
        "distinct_orders": expected,
        "processed_events": expected,
        "busy_couriers": expected,
        "waiting_orders": 0,
        "couriers_with_two_active": 0,
    }
    return out
