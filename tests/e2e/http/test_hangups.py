"""Clients that hang up, requests past their deadline, a load stopped abruptly: the pool stays whole.

courier-api runs with a pool of three connections and a short request deadline. Bursts of raw clients
send assigns, unassigns and reads (some pipelined, several requests in one write) and drop their
connections at random moments, so requests are cancelled while they wait for a connection, run a
statement, commit or give their connection back, and answers are written to sockets already closed.
Ten bursts, each stopped abruptly; afterwards every pooled connection is back, PostgreSQL counts the
pool's sessions and no more, the API still answers within its deadline, and nothing was logged as an
unhandled error.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from courier_adapters.postgres import invariants
from tests.e2e.http.server import ApiProcess, start_api

POOL = 3
BURSTS = 10
CLIENTS = 16
COURIERS = 8


def _request(method: str, path: str, body: dict[str, object] | None = None) -> bytes:
    data = json.dumps(body).encode() if body is not None else b""
    head = f"{method} {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
    return (head + f"Content-Length: {len(data)}\r\n\r\n").encode() + data


def _hang_up(port: int, rng: random.Random, stop: threading.Event, client: int) -> None:
    n = 0
    while not stop.is_set():
        n += 1
        order = f"h{client}-{n}"
        batch = [
            _request("POST", "/api/v1/delivery/assign", {"order_id": order}),
            _request("GET", f"/api/v1/courier/{rng.randint(1, COURIERS)}"),
            _request("POST", "/api/v1/delivery/unassign", {"order_id": order}),
            _request("GET", "/api/v1/couriers?limit=5"),
        ]
        pipelined = rng.random() < 0.5
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                if pipelined:
                    sock.sendall(b"".join(batch))
                else:
                    sock.sendall(rng.choice(batch))
                time.sleep(rng.choice((0, 0, 0.0005, 0.002, 0.01, 0.05)))
                if rng.random() < 0.3:
                    sock.recv(256)  # read a little of the answer, then hang up mid-answer
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        except OSError:
            pass  # refused or reset under load: part of the game


def _scrape(api: ApiProcess) -> dict[str, float]:
    text = httpx.get(api.url + "/metrics", timeout=10).text
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = values.get(name, 0.0) + float(value)
    return values


def _pool_sessions(database_url: str, *, waiting_on_a_lock: bool = False) -> int:
    """courier-api's sessions in this database (only those waiting on a lock, when asked)."""
    waiting = " AND wait_event_type = 'Lock'" if waiting_on_a_lock else ""
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name = 'courier' AND pid <> pg_backend_pid()" + waiting
        ).fetchone()
    assert row is not None
    return int(row[0])


def _whole(api: ApiProcess, timeout: float = 10.0) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while True:
        values = _scrape(api)
        settled = values.get("courier_db_pool_in_use") == 0 and values.get("courier_db_pool_waiting") == 0
        if settled or time.monotonic() > deadline:
            return values
        time.sleep(0.2)


@pytest.mark.parametrize("workers", [1, 2])
def test_hang_ups_and_deadlines_lose_no_pooled_connection(database_url: str, tmp_path: Path, workers: int):
    settings = {
        "COURIER_HTTP_WORKERS": str(workers),
        "COURIER_DB_POOL_MIN": str(POOL),
        "COURIER_DB_POOL_MAX": str(POOL),
        "COURIER_REQUEST_TIMEOUT": "300ms",
        "COURIER_RELEASE_INTERVAL": "0",
        "COURIER_LOG_LEVEL": "INFO",
    }
    with start_api(database_url, tmp_path, **settings) as api:
        with httpx.Client(base_url=api.url, timeout=10) as http:
            for i in range(COURIERS):
                created = http.post(
                    "/api/v1/courier",
                    json={"name": "Ivan", "phone": f"+7{i + 1:010d}", "status": "available"},
                )
                assert created.status_code == 201
        port = int(api.url.rsplit(":", 1)[1])
        rng = random.Random(7)
        for _ in range(BURSTS):  # a load stopped abruptly, ten times
            stop = threading.Event()
            clients = [
                threading.Thread(target=_hang_up, args=(port, random.Random(rng.random()), stop, c))
                for c in range(CLIENTS)
            ]
            for client in clients:
                client.start()
            time.sleep(rng.uniform(0.3, 0.8))
            stop.set()
            for client in clients:
                client.join(10)

        values = _whole(api)
        assert values.get("courier_db_pool_in_use") == 0, values
        # every worker's pool is full again (a scrape adds the workers' gauges up)
        assert values.get("courier_db_pool_size") == values.get("courier_db_pool_idle") == POOL * workers
        assert values.get("courier_db_pool_oldest_checkout_seconds") == 0
        assert _pool_sessions(database_url) == POOL * workers
        assert values.get('courier_http_clients_gone_total{when="answering"}', 0) > 0, values
        # Still answering, each within its deadline, as many at once as the pool holds and more.
        with httpx.Client(base_url=api.url, timeout=5) as http:
            # the bursts left couriers busy with orders whose unassign was dropped: one fresh courier
            fresh = {"name": "Olga", "phone": "+79990000000", "status": "available"}
            assert http.post("/api/v1/courier", json=fresh).status_code == 201
            started = time.monotonic()
            for i in range(POOL * 3):
                assert http.get(f"/api/v1/courier/{i % COURIERS + 1}").status_code == 200
                answered = http.post("/api/v1/delivery/assign", json={"order_id": f"after-{i}"})
                assert answered.status_code == 200, answered.text
                assert (
                    http.post("/api/v1/delivery/unassign", json={"order_id": f"after-{i}"}).status_code == 200
                )
            assert time.monotonic() - started < 10
        assert api.stop() == 0
    logged = api.stdout.read_text() + api.stderr.read_text()
    assert "unhandled error" not in logged
    assert "Exception in ASGI application" not in logged
    assert "returned without" not in logged
    assert invariants.check(database_url) == []


def test_readyz_fails_while_the_pool_cannot_give_a_connection(database_url: str, tmp_path: Path):
    """Two updates wait on a row another session locked: both pooled connections are taken, so
    readiness cannot get one in time and says so; once the lock goes, the API is ready again."""
    settings = {"COURIER_DB_POOL_MIN": "2", "COURIER_DB_POOL_MAX": "2", "COURIER_REQUEST_TIMEOUT": "20s"}
    with (
        start_api(database_url, tmp_path, **settings) as api,
        httpx.Client(base_url=api.url, timeout=30) as http,
    ):
        created = http.post(
            "/api/v1/courier", json={"name": "Ivan", "phone": "+70000000001", "status": "available"}
        )
        assert created.status_code == 201
        assert http.get("/readyz").status_code == 200
        with psycopg.connect(database_url) as locker:
            locker.execute("SELECT id FROM couriers WHERE id = %s FOR UPDATE", [created.json()["id"]])
            updates = [
                threading.Thread(
                    target=lambda n=n: httpx.put(
                        f"{api.url}/api/v1/courier",
                        json={"id": created.json()["id"], "name": f"Ivan{'ab'[n]}"},
                        timeout=30,
                    )
                )
                for n in range(2)
            ]
            for update in updates:
                update.start()
            deadline = time.monotonic() + 10
            while _pool_sessions(database_url, waiting_on_a_lock=True) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert _pool_sessions(database_url, waiting_on_a_lock=True) == 2
            started = time.monotonic()
            not_ready = http.get("/readyz")
            assert not_ready.status_code == 503, not_ready.text
            assert time.monotonic() - started < 4  # within the probe's timeout, not the statement's
            locker.rollback()
        for update in updates:
            update.join(30)
        assert http.get("/readyz").status_code == 200
