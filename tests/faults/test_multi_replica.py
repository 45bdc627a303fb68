"""Past one machine, on loopback: three courier-api replicas (2 workers each), two consumers (each with a
relay candidate), one PostgreSQL, one broker, one Redis and the order service.

One client spread over every replica gets the limit once, not six times; no courier ever holds two
active deliveries; each expiry happens once although six expiry workers race; reconciliation runs in
one consumer per interval and moves when that consumer is killed; an Idempotency-Key replays on another
replica; the stream resumes on another replica with no gap; with Redis stopped requests keep flowing
and the limit comes back with it; a replica killed with SIGKILL leaves the others serving and loses no
write that was answered 2xx.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from courier_adapters.kafka.admin import ensure_topics
from courier_adapters.kafka.embedded import free_port
from courier_adapters.postgres import invariants
from tests.e2e.http.server import ApiProcess, start_api
from tests.faults.conftest import consumer_environment
from tests.integration.kafka.helpers import session_broker
from tests.support.processes import children
from tests.support.redis import OwnRedis, own_redis

CAPACITY = 20
REFILL = 2.0  # tokens a second
TOLERANCE = 2  # requests over capacity + refill * elapsed (a token refilled between two replicas' reads)
RECONCILE_EVERY = 1.0


def _as(client: str) -> dict[str, str]:
    """Requests of ``client`` (the replicas trust loopback as their proxy, so each test client has an
    address of its own and a bucket of its own)."""
    return {"X-Forwarded-For": client}


class Order:
    def __init__(self, bin_dir: Path, log: Path) -> None:
        self.port = free_port()
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [str(bin_dir / "courier-order-service"), "--port", str(self.port), "--step-interval", "0"],
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(10)


class Consumer:
    def __init__(self, env: dict[str, str], log: Path, bin_dir: Path) -> None:
        self.metrics_port = int(env["COURIER_METRICS_PORT"])
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [str(bin_dir / "courier-consumer")], env=env, stdout=out, stderr=subprocess.STDOUT
            )

    def metric(self, name: str) -> float:
        try:
            text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text
        except httpx.HTTPError:
            return 0.0
        match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
        return float(match.group(1)) if match else 0.0

    def passes(self) -> int:
        return self.log.read_text(errors="replace").count('"reconciliation pass"')

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{self.metrics_port}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(self.log.read_text()[-3000:])

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


class Cluster:
    def __init__(self, apis: list[ApiProcess], consumers: list[Consumer], redis: OwnRedis) -> None:
        self.apis = apis
        self.consumers = consumers
        self.redis = redis
        self._next = itertools.count()

    def url(self) -> str:
        """The next replica, round robin."""
        return self.apis[next(self._next) % len(self.apis)].url


@pytest.fixture
def cluster(database_url: str, tmp_path: Path) -> Iterator[Cluster]:
    bin_dir = Path(sys.executable).parent
    with session_broker() as broker, own_redis() as redis:
        suffix = uuid.uuid4().hex[:8]
        bootstrap = broker.bootstrap_servers
        ensure_topics(bootstrap, {f"orders-{suffix}": 4, f"orders-{suffix}.dlq": 1})
        order = Order(bin_dir, tmp_path / "orders.log")
        api_settings = {
            "COURIER_HTTP_WORKERS": "2",
            "COURIER_RATE_LIMIT_SCOPE": "ip",
            "COURIER_RATE_LIMIT_CAPACITY": str(CAPACITY),
            "COURIER_RATE_LIMIT_REFILL_PER_SECOND": str(REFILL),
            "COURIER_RATE_LIMIT_REDIS_URL": redis.url,
            "COURIER_TRUSTED_PROXIES": "127.0.0.1/32",
            "COURIER_DEADLINE_CAR": "1s",
            "COURIER_DEADLINE_SCOOTER": "1s",
            "COURIER_DEADLINE_ON_FOOT": "1s",
            "COURIER_RELEASE_INTERVAL": "300ms",
        }
        apis: list[ApiProcess] = []
        consumers: list[Consumer] = []
        try:
            for n in range(3):
                apis.append(start_api(database_url, tmp_path / f"api-{n}", **api_settings))
            for n in range(2):
                env = consumer_environment(
                    database_url,
                    bootstrap,
                    COURIER_KAFKA_TOPIC=f"orders-{suffix}",
                    COURIER_KAFKA_DLQ_TOPIC=f"orders-{suffix}.dlq",
                    COURIER_KAFKA_GROUP_ID=f"replicas-{suffix}",
                    COURIER_EVENTS_TOPIC=f"courier.events-{suffix}",
                    COURIER_ORDER_SERVICE_ADDR=f"127.0.0.1:{order.port}",
                    COURIER_RECONCILE_INTERVAL=f"{RECONCILE_EVERY}s",
                    COURIER_LOG_LEVEL="info",
                )
                env["COURIER_DATA_DIR"] = str(tmp_path / "data")
                consumers.append(Consumer(env, tmp_path / f"consumer-{n}.log", bin_dir))
            for consumer in consumers:
                consumer.wait_ready()
            yield Cluster(apis, consumers, redis)
        finally:
            for consumer in consumers:
                consumer.kill()
            for api in apis:
                for pid in children(api.process.pid):
                    os.kill(pid, signal.SIGKILL)
                api.__exit__()
            order.stop()


def _spread_one_client(cluster: Cluster, client: str, count: int) -> tuple[list[int], float]:
    """``count`` reads by ``client``, each on a new connection to the next replica (so every worker of
    every replica sees some)."""
    started = time.monotonic()
    statuses = [
        httpx.get(f"{cluster.url()}/api/v1/couriers?limit=1", headers=_as(client)).status_code
        for _ in range(count)
    ]
    return statuses, time.monotonic() - started


def _churn(
    cluster: Cluster, client: str, stop: threading.Event, created: list[int], orders: itertools.count[int]
) -> None:
    """Assign orders over every replica; every other one is left to expire, the rest unassigned."""
    with httpx.Client(timeout=10, headers=_as(client)) as http:
        while not stop.is_set():
            n = next(orders)
            try:
                answer = http.post(f"{cluster.url()}/api/v1/delivery/assign", json={"order_id": f"r-{n}"})
                if answer.status_code == 200 and n % 2:
                    http.post(f"{cluster.url()}/api/v1/delivery/unassign", json={"order_id": f"r-{n}"})
                if n % 7 == 0:
                    courier = {"name": "Ivan", "phone": f"+7555{n:07d}", "status": "available"}
                    made = http.post(f"{cluster.url()}/api/v1/courier", json=courier)
                    if made.status_code == 201:
                        created.append(made.json()["id"])
            except httpx.TransportError:
                pass  # a replica killed under the client: the fault under test
            time.sleep(0.01)


def _stream_ids(url: str, count: int, *, after: str | None = None) -> list[int]:
    headers = {"Last-Event-ID": after} if after else {}
    path = "/api/v1/stream" if after else "/api/v1/stream?after=0"
    ids: list[int] = []
    with httpx.stream("GET", url + path, headers=headers, timeout=10) as answer:
        assert answer.status_code == 200
        for line in answer.iter_lines():
            if line.startswith("id: "):
                ids.append(int(line[4:]))
                if len(ids) == count:
                    break
    return ids


def _sql(database_url: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute(query).fetchall()


def test_three_replicas_two_consumers_one_redis(cluster: Cluster, database_url: str) -> None:
    setup = _as("192.0.2.1")
    for i in range(12):
        made = httpx.post(
            f"{cluster.url()}/api/v1/courier",
            json={"name": "Ivan", "phone": f"+7{i + 1:010d}", "status": "available"},
            headers=_as(f"192.0.2.{i + 10}"),
        )
        assert made.status_code == 201, made.text

    # 1. One client over every replica and worker gets the limit once.
    statuses, elapsed = _spread_one_client(cluster, "198.51.100.7", 90)
    allowed = statuses.count(200)
    assert set(statuses) <= {200, 429}
    assert CAPACITY <= allowed <= CAPACITY + REFILL * elapsed + TOLERANCE, (allowed, elapsed)
    limited = httpx.get(f"{cluster.url()}/api/v1/couriers", headers=_as("198.51.100.7"))
    if limited.status_code == 429:
        assert (
            limited.headers["x-ratelimit-limit"] == str(CAPACITY) and int(limited.headers["retry-after"]) >= 1
        )

    # 2. Assigns and expiries racing on every replica; then a replica killed under load.
    stop, created, orders = threading.Event(), [], itertools.count()
    churners = [
        threading.Thread(target=_churn, args=(cluster, f"203.0.113.{c}", stop, created, orders))
        for c in range(6)
    ]
    for churner in churners:
        churner.start()
    time.sleep(4)
    victim = cluster.apis.pop()
    for pid in [*children(victim.process.pid), victim.process.pid]:
        os.kill(pid, signal.SIGKILL)
    victim.process.wait(10)
    time.sleep(3)
    stop.set()
    for churner in churners:
        churner.join(30)
    for api in cluster.apis:
        assert httpx.get(f"{api.url}/api/v1/couriers?limit=1", headers=setup).status_code == 200
    time.sleep(2.5)  # every delivery left active has passed its 1 s deadline and been released

    assert invariants.check(database_url) == []  # no courier with two active deliveries, among others
    stored = {row[0] for row in _sql(database_url, "SELECT id FROM couriers")}
    assert set(created) <= stored, "a courier answered 201 is missing"
    expired = _sql(
        database_url, "SELECT key, count(*) FROM outbox WHERE type = 'delivery.expired' GROUP BY key"
    )
    assert expired, "no delivery expired: the test did not test expiry"
    assert [row for row in expired if row[1] != 1] == []
    history = _sql(
        database_url,
        "SELECT subject_id, count(*) FROM history WHERE subject = 'delivery' AND change = 'expired' GROUP BY subject_id",
    )
    assert {row[0] for row in history} == {row[0] for row in expired}
    assert [row for row in history if row[1] != 1] == []

    # 3. An Idempotency-Key replays on another replica.
    first, second = cluster.apis
    key = {"Idempotency-Key": "replica-key-1", **setup}
    body = {"name": "Olga", "phone": "+79998887766", "status": "available"}
    original = httpx.post(f"{first.url}/api/v1/courier", json=body, headers=key)
    replayed = httpx.post(f"{second.url}/api/v1/courier", json=body, headers=key)
    assert original.status_code == replayed.status_code == 201
    assert replayed.json() == original.json() and replayed.headers.get("idempotent-replayed") == "true"

    # 4. The stream resumes on another replica with no gap and no duplicate.
    ten = _stream_ids(first.url, 10)
    resumed = _stream_ids(second.url, 5, after=str(ten[4]))
    assert resumed == ten[5:]

    # 5. Reconciliation: one leader, one pass per interval in the whole cluster; it moves on a kill.
    leaders = [c for c in cluster.consumers if c.metric('courier_leader{job="reconcile"}') == 1]
    assert len(leaders) == 1
    before = sum(c.passes() for c in cluster.consumers)
    time.sleep(5 * RECONCILE_EVERY)
    during = sum(c.passes() for c in cluster.consumers) - before
    assert 3 <= during <= 6, during  # about 5, never 10 (twice per interval)
    leader = leaders[0]
    standby = next(c for c in cluster.consumers if c is not leader)
    leader.kill()
    deadline = time.monotonic() + 20
    while standby.metric('courier_leader{job="reconcile"}') != 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert standby.metric('courier_leader{job="reconcile"}') == 1
    passes = standby.passes()
    time.sleep(3 * RECONCILE_EVERY)
    assert standby.passes() > passes

    # 6. Redis stopped: requests keep flowing (fail open); started again: the limit is back.
    cluster.redis.stop()
    statuses, _ = _spread_one_client(cluster, "198.51.100.9", CAPACITY * 2)
    assert statuses == [200] * (CAPACITY * 2)
    cluster.redis.start()
    time.sleep(1.5)  # a replica asks a Redis it found down again after a second
    statuses, elapsed = _spread_one_client(cluster, "198.51.100.10", CAPACITY * 3)
    assert 429 in statuses
    assert (
        statuses.count(200) <= CAPACITY + REFILL * elapsed + TOLERANCE + 4
    )  # + a request per worker still in its pause
    scrape = httpx.get(f"{first.url}/metrics").text
    assert re.search(r"^courier_rate_limit_redis_outages_total [1-9]", scrape, re.MULTILINE), scrape[-2000:]
    for api in cluster.apis:
        logged = api.stdout.read_text()
        assert logged.count("unreachable") <= 2  # one line per worker and outage, not one per request
