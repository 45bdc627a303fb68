"""Case 9: where writers wait, and how long an event takes from commit to the live stream.

assign + unassign on courier-api with 2 workers (the case where writers contend), while a sampler
reads ``pg_stat_activity`` every few milliseconds: for each wait event (``Lock:advisory``,
``LWLock:WALWrite``, ``IO:WALSync``, ...) the mean number of courier's backends found in it (``CPU``:
running, no wait). Then the same run with ``synchronous_commit=off`` (a diagnostic only: commits no
longer wait for their WAL flush, so what a lock held across ``COMMIT`` costs shows as the difference).
Last, commit-to-stream latency: a courier is created, and the time from the answer (the commit) to
its ``courier.created`` on ``GET /api/v1/stream`` is measured, many times, at random moments.
"""

from __future__ import annotations

import json
import logging
import queue
import random
import threading
import time
import urllib.request
from collections import Counter
from typing import Any

import psycopg

from bench import wrk
from bench.processes import ServerError
from bench.runner import Context, load, measure

log = logging.getLogger("bench.locks")
WORKERS = 2
SAMPLE_EVERY = 0.005
LATENCY_SAMPLES = 40
SAMPLE_SQL = """
SELECT CASE WHEN state = 'idle in transaction' THEN 'Client:idle in transaction'
            WHEN wait_event IS NULL THEN 'CPU'
            ELSE wait_event_type || ':' || wait_event END, count(*)
FROM pg_stat_activity
WHERE datname = current_database() AND backend_type = 'client backend' AND state <> 'idle'
  AND pid <> pg_backend_pid() AND application_name NOT LIKE 'courier-%%'
GROUP BY 1
"""


class Sampler:
    """Counts, every :data:`SAMPLE_EVERY` seconds, the busy backends of a database by wait event."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-lock-sampler", daemon=True)
        self.samples = 0
        self.counts: Counter[str] = Counter()

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        with psycopg.connect(self._url, autocommit=True) as conn:
            while not self._stop.is_set():
                for event, count in conn.execute(SAMPLE_SQL).fetchall():
                    self.counts[str(event)] += int(count)
                self.samples += 1
                time.sleep(SAMPLE_EVERY)

    def to_json(self) -> dict[str, Any]:
        """Mean backends per sample in each wait event, largest first."""
        samples = max(1, self.samples)
        means = {event: round(count / samples, 3) for event, count in self.counts.most_common()}
        return {"samples": self.samples, "mean_backends": means}


def run(ctx: Context) -> None:
    url = ctx.pg.database("bench_locks", couriers=ctx.plan.couriers)
    out: dict[str, Any] = {"workers": WORKERS, "runs": {}}
    for synchronous_commit in ("on", "off"):
        with psycopg.connect(url, autocommit=True) as conn:  # new sessions take it
            conn.execute(f"ALTER DATABASE bench_locks SET synchronous_commit = {synchronous_commit}")
        server = ctx.courier_api(url, WORKERS)
        try:
            server.start()
        except ServerError as exc:
            ctx.fail(f"{server.name} did not start: {exc}")
            continue
        try:
            args = (str(ctx.plan.couriers), "0")
            if ctx.plan.warmup > 0:
                wrk.run(server.base_url, load(ctx, "assign_unassign", args=args, duration=ctx.plan.warmup))
            with Sampler(url) as sampler:
                figures = measure(ctx, server, "assign_unassign", args=args, warmup=0)
            if figures["non_2xx"]:
                ctx.fail(f"locks: {figures['non_2xx']} non-2xx answers {figures['statuses']}")
            out["runs"][synchronous_commit] = {
                "rps": figures["rps"],
                "p50_ms": figures["p50_ms"],
                "p99_ms": figures["p99_ms"],
                "cpu_us_per_request": figures["cpu_us_per_request"],
                **sampler.to_json(),
            }
            log.info("waits (synchronous_commit=%s): %s", synchronous_commit, sampler.to_json())
            if synchronous_commit == "on":
                out["stream_latency_ms"] = stream_latency(server.base_url, ctx.plan.smoke)
        finally:
            server.stop()
    ctx.results["locks"] = out


def stream_latency(base_url: str, smoke: bool) -> dict[str, Any]:
    """From a create's answer (its commit) to its event on the live stream, in milliseconds."""
    arrived: queue.Queue[tuple[float, str]] = queue.Queue()
    stream = urllib.request.urlopen(base_url + "/api/v1/stream", timeout=30)  # loopback only
    reader = threading.Thread(target=_read_stream, args=(stream, arrived), daemon=True)
    reader.start()
    delays: list[float] = []
    tag = random.randrange(10**6)
    try:
        for n in range(5 if smoke else LATENCY_SAMPLES):
            time.sleep(random.uniform(0.0, 0.3))  # not in step with the pollers
            phone = f"+79{tag % 100:02d}{n:07d}"
            body = {"name": "Latency", "phone": phone, "status": "available", "transport_type": "car"}
            request = urllib.request.Request(
                base_url + "/api/v1/courier",
                data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=10) as answer:
                courier_id = json.loads(answer.read())["id"]
            committed = time.monotonic()
            while True:
                at, key = arrived.get(timeout=10)
                if key == str(courier_id):
                    delays.append((at - committed) * 1000)
                    break
    finally:
        stream.close()
    delays.sort()
    return {
        "samples": len(delays),
        "p50": round(delays[len(delays) // 2], 1),
        "p90": round(delays[int(len(delays) * 0.9)], 1),
        "max": round(delays[-1], 1),
    }


def _read_stream(stream: Any, arrived: queue.Queue[tuple[float, str]]) -> None:
    event = ""
    try:
        for raw in stream:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[len("event: ") :]
            elif line.startswith("data: ") and event == "courier.created":
                arrived.put((time.monotonic(), str(json.loads(line[len("data: ") :])["courier_id"])))
    except (OSError, ValueError, AttributeError):  # closed under the read (http.client's own way)
        return
