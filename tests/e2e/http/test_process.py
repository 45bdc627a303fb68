"""courier-api as a process: configuration errors, rate limit, workers, expiry, outages, shutdown."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.e2e.http.dbproxy import DatabaseProxy
from tests.e2e.http.helpers import assert_error, create_courier, order_id
from tests.e2e.http.server import EXECUTABLE, environment, free_port, start_api

pytestmark = pytest.mark.e2e


def eventually(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


@pytest.mark.parametrize(
    ("variable", "value"),
    [("COURIER_HTTP_PORT", "eighty"), ("COURIER_REQUEST_TIMEOUT", "10 parsecs"), ("COURIER_NO_SUCH", "1")],
)
def test_bad_configuration_exits_2_with_one_line_naming_the_variable(
    database_url: str, tmp_path: Path, variable: str, value: str
) -> None:
    env = environment(database_url, free_port(), {variable: value})
    done = subprocess.run([EXECUTABLE], env=env, cwd=tmp_path, capture_output=True, timeout=60, check=False)
    assert done.returncode == 2
    lines = done.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and variable in lines[0]


def test_rate_limit_per_client_with_trusted_forwarded_for(database_url: str, tmp_path: Path) -> None:
    settings = {
        "COURIER_RATE_LIMIT_SCOPE": "ip",
        "COURIER_RATE_LIMIT_CAPACITY": "3",
        "COURIER_RATE_LIMIT_REFILL_PER_SECOND": "0.2",
        "COURIER_TRUSTED_PROXIES": "127.0.0.1/32",
    }
    with start_api(database_url, tmp_path, **settings) as api, httpx.Client(base_url=api.url) as http:
        for prefix, remaining in (("/api/v1", "2"), ("", "1"), ("/api/v1", "0")):
            allowed = http.get(f"{prefix}/couriers")
            assert allowed.status_code == 200
            assert (allowed.headers["x-ratelimit-limit"], allowed.headers["x-ratelimit-remaining"]) == (
                "3",
                remaining,
            )
        limited = http.post("/courier", json={})
        assert_error(limited, 429, "rate_limited", "rate limit exceeded")
        assert limited.headers["x-ratelimit-limit"] == "3" and limited.headers["x-ratelimit-remaining"] == "0"
        assert int(limited.headers["retry-after"]) >= 1
        assert all(http.get("/ping").status_code == 200 for _ in range(10))  # operational: never limited
        assert http.get("/couriers", headers={"x-forwarded-for": "10.1.2.3"}).status_code == 200
        assert "courier_rate_limit_exceeded_total 1.0" in http.get("/metrics").text
        assert api.stop() == 0


def test_forwarded_for_from_an_untrusted_peer_is_not_believed(database_url: str, tmp_path: Path) -> None:
    """No trusted proxy configured: a loopback client naming other addresses still has one bucket."""
    settings = {
        "COURIER_RATE_LIMIT_SCOPE": "ip",
        "COURIER_RATE_LIMIT_CAPACITY": "3",
        "COURIER_RATE_LIMIT_REFILL_PER_SECOND": "0.2",
    }
    with start_api(database_url, tmp_path, **settings) as api, httpx.Client(base_url=api.url) as http:
        statuses = [
            http.get("/api/v1/couriers", headers={"x-forwarded-for": f"198.51.100.{n}"}).status_code
            for n in range(6)
        ]
        assert statuses == [200, 200, 200, 429, 429, 429]
        assert api.stop() == 0  # right away: the access lines still pending are written at shutdown
    logged = [line.get("client") for line in api.logs() if line.get("path") == "/api/v1/couriers"]
    assert logged == ["127.0.0.1"] * 6  # the access log names the peer, not what it claims


def test_two_workers_share_the_load_and_their_metrics(database_url: str, tmp_path: Path) -> None:
    with start_api(database_url, tmp_path, COURIER_HTTP_WORKERS="2") as api:

        async def burst() -> None:
            limits = httpx.Limits(max_keepalive_connections=0, max_connections=16)
            async with httpx.AsyncClient(base_url=api.url, limits=limits) as http:
                await asyncio.gather(*(http.get("/ping") for _ in range(200)))

        def served_by() -> set[object]:
            return {line["pid"] for line in api.logs() if line.get("path") == "/ping"}

        sent = 0
        # The kernel decides which worker accepts a connection: send bursts until both have served.
        while sent < 2000 and len(served_by()) < 2:
            asyncio.run(burst())
            sent += 200
            eventually(
                lambda total=sent: len([line for line in api.logs() if line.get("path") == "/ping"]) == total
            )
        assert len(served_by()) == 2
        sample = f'courier_http_requests_total{{method="GET",path="/ping",status="200"}} {float(sent)}'
        for _ in range(4):  # whichever worker answers the scrape counts both
            assert sample in httpx.get(api.url + "/metrics").text
        assert api.stop() == 0


def test_expiry_worker_releases_overdue_deliveries(database_url: str, tmp_path: Path) -> None:
    settings = {"COURIER_DEADLINE_CAR": "1s", "COURIER_RELEASE_INTERVAL": "200ms"}
    with start_api(database_url, tmp_path, **settings) as api:
        order = order_id()
        courier_id = asyncio.run(_assign_one(api.url, order))
        with httpx.Client(base_url=api.url) as http:
            eventually(lambda: http.get(f"/delivery/{order}").json()["status"] == "expired")
            assert http.get(f"/courier/{courier_id}").json()["status"] == "available"
        assert api.stop() == 0


def test_two_api_processes_expire_each_delivery_once(database_url: str, tmp_path: Path) -> None:
    settings = {"COURIER_DEADLINE_CAR": "1s", "COURIER_RELEASE_INTERVAL": "100ms"}
    with (
        start_api(database_url, tmp_path / "a", **settings) as first,
        start_api(database_url, tmp_path / "b", **settings) as second,
    ):
        orders = [order_id() for _ in range(6)]
        for order in orders:
            asyncio.run(_assign_one(first.url, order))
        with httpx.Client() as http:
            eventually(
                lambda: all(
                    http.get(f"{second.url}/delivery/{o}").json()["status"] == "expired" for o in orders
                )
            )
            time.sleep(0.5)  # a few more ticks of both workers
            expired = sum(
                _sample(http.get(f"{api.url}/metrics").text, "courier_deliveries_expired_total")
                for api in (first, second)
            )
        assert expired == len(orders)
        assert first.stop() == 0 and second.stop() == 0


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def test_expiry_worker_can_be_turned_off(database_url: str, tmp_path: Path) -> None:
    settings = {"COURIER_DEADLINE_CAR": "1s", "COURIER_RELEASE_INTERVAL": "0"}
    with start_api(database_url, tmp_path, **settings) as api:
        order = order_id()
        asyncio.run(_assign_one(api.url, order))
        time.sleep(2.5)
        assert httpx.get(f"{api.url}/delivery/{order}").json()["status"] == "active"
        assert api.stop() == 0


async def _assign_one(url: str, order: str) -> int:
    async with httpx.AsyncClient(base_url=url) as http:
        courier_id = await create_courier(http, "", f"+7{time.time_ns() % 10**10:010d}")
        answer = await http.post("/delivery/assign", json={"order_id": order})
        assert answer.json()["courier_id"] == courier_id
        return courier_id


@pytest.fixture
def proxy(database_url: str) -> Iterator[DatabaseProxy]:
    cut = DatabaseProxy(database_url)
    cut.start()
    yield cut
    cut.close()


def test_database_outage_gives_503_and_the_api_recovers_by_itself(
    proxy: DatabaseProxy, tmp_path: Path
) -> None:
    with (
        start_api(proxy.url, tmp_path, COURIER_DB_POOL_MIN="1") as api,
        httpx.Client(base_url=api.url, timeout=30) as http,
    ):
        assert http.get("/readyz").status_code == 200
        proxy.stop()
        not_ready = http.get("/readyz")
        assert_error(not_ready, 503, "unavailable", "service temporarily unavailable")
        for path in ("/api/v1/couriers", "/courier/1"):
            down = http.get(path)
            assert_error(down, 503, "unavailable")
            assert int(down.headers["retry-after"]) >= 1
        assert http.get("/healthcheck").status_code == 204  # alive, only not ready
        proxy.start()
        eventually(lambda: http.get("/readyz").status_code == 200, timeout=60)
        assert http.get("/api/v1/couriers").status_code == 200
        assert api.stop() == 0


def test_shutdown_lets_the_request_in_flight_finish_and_exits_0(database_url: str, tmp_path: Path) -> None:
    with start_api(database_url, tmp_path) as api, psycopg.connect(database_url) as locker:
        courier_id = asyncio.run(_create(api.url))
        locker.execute("SELECT 1 FROM couriers WHERE id = %s FOR UPDATE", (courier_id,))  # holds the row
        answers: list[httpx.Response] = []
        request = threading.Thread(
            target=lambda: answers.append(httpx.delete(f"{api.url}/courier/{courier_id}", timeout=60))
        )
        request.start()
        eventually(lambda: _waiting_on_a_lock(database_url))
        api.process.send_signal(15)
        time.sleep(1.0)
        assert api.process.poll() is None  # still finishing the request in flight
        with pytest.raises(httpx.ConnectError):
            httpx.get(api.url + "/ping", timeout=5)  # but no longer accepting
        locker.rollback()
        request.join(30)
        assert answers and answers[0].status_code == 200, answers
        assert api.process.wait(30) == 0


def test_work_for_a_client_that_disconnected_is_abandoned(database_url: str, tmp_path: Path) -> None:
    slow = {"COURIER_DB_STATEMENT_TIMEOUT": "60s", "COURIER_REQUEST_TIMEOUT": "60s"}
    with start_api(database_url, tmp_path, **slow) as api, psycopg.connect(database_url) as locker:
        courier_id = asyncio.run(_create(api.url))
        locker.execute("SELECT 1 FROM couriers WHERE id = %s FOR UPDATE", (courier_id,))
        with pytest.raises(httpx.ReadTimeout):
            httpx.delete(f"{api.url}/courier/{courier_id}", timeout=1.0)  # gives up, disconnects
        # No timeout would end the wait for a minute: only the client's departure can.
        eventually(lambda: not _waiting_on_a_lock(database_url), timeout=3)
        locker.rollback()
        assert httpx.get(f"{api.url}/courier/{courier_id}").status_code == 200  # never deleted
        assert api.stop() == 0


async def _create(url: str) -> int:
    async with httpx.AsyncClient(base_url=url) as http:
        return await create_courier(http, "", f"+7{time.time_ns() % 10**10:010d}", status="paused")


def _waiting_on_a_lock(database_url: str) -> bool:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        ).fetchone()
    return bool(row and row[0])


def test_without_a_database_url_it_runs_its_own_embedded_postgresql(
    tmp_path: Path, embedded_dir: Path
) -> None:
    env = environment("", free_port(), {"COURIER_DATA_DIR": str(embedded_dir / "data")})
    del env["COURIER_DATABASE_URL"]
    port = env["COURIER_HTTP_PORT"]
    with (tmp_path / "out").open("wb") as out, (tmp_path / "err").open("wb") as err:
        process = subprocess.Popen([EXECUTABLE], env=env, cwd=tmp_path, stdout=out, stderr=err)
    try:
        url = f"http://127.0.0.1:{port}"
        eventually(lambda: _answers(url), timeout=120)
        body = {"name": "Ivan", "phone": "+79990001122", "status": "available", "transport_type": "car"}
        assert httpx.post(url + "/courier", json=body).status_code == 201
        assert (embedded_dir / "data" / "postgres.url").exists()
        process.send_signal(15)
        assert process.wait(60) == 0
        assert not (embedded_dir / "data" / "postgres.url").exists()  # its database stopped with it
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url + "/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def test_tokens_guard_business_routes_and_metrics(database_url: str, tmp_path: Path) -> None:
    viewer = hashlib.sha256(b"look-only").hexdigest()
    settings = {
        "COURIER_API_TOKENS": f"ops:write:let-me-in,viewer:read:sha256={viewer}",
        "COURIER_METRICS_TOKEN": "scrape-me",
    }
    with start_api(database_url, tmp_path, **settings) as api, httpx.Client(base_url=api.url) as http:
        write, read = {"authorization": "Bearer let-me-in"}, {"authorization": "Bearer look-only"}
        for prefix in ("/api/v1", ""):
            missing = http.get(f"{prefix}/couriers")
            assert_error(missing, 401, "unauthorized", "authentication required")
            assert missing.headers["www-authenticate"].startswith("Bearer")
            wrong = http.get(f"{prefix}/couriers", headers={"authorization": "Bearer nope"})
            assert_error(wrong, 401, "unauthorized", "invalid token")  # not "authentication required"
            assert http.get(f"{prefix}/couriers", headers=read).status_code == 200
            body = {"name": "Ivan", "phone": f"+7{time.time_ns() % 10**10:010d}", "status": "paused"}
            assert_error(
                http.post(f"{prefix}/courier", json=body, headers=read), 403, "forbidden", "not allowed"
            )
            assert http.post(f"{prefix}/courier", json=body, headers=write).status_code == 201
        assert http.get("/ping").status_code == 200  # operational routes need no token
        assert_error(http.get("/metrics"), 401, "unauthorized", "authentication required")
        # an API token is not the scrape token
        wrong = http.get("/metrics", headers={"authorization": "Bearer let-me-in"})
        assert_error(wrong, 401, "unauthorized", "invalid token")
        assert http.get("/metrics", headers={"authorization": "Bearer scrape-me"}).status_code == 200
        assert api.stop() == 0


def test_malformed_tokens_exit_2(database_url: str, tmp_path: Path) -> None:
    env = environment(database_url, free_port(), {"COURIER_API_TOKENS": "ops:admin:secret-value"})
    done = subprocess.run([EXECUTABLE], env=env, cwd=tmp_path, capture_output=True, timeout=60, check=False)
    assert done.returncode == 2
    assert b"COURIER_API_TOKENS" in done.stderr and b"secret-value" not in done.stderr
