"""No secret in any log line or error body: the API, the CLI and the consumer as real processes.

The database URL carries a password (a role made for the test: the embedded server trusts local
connections, so the password is not checked, but it travels in every URL, which is what could leak),
the API has read, write and metrics tokens, and the processes go through their error paths: wrong and
missing tokens, a read token on a write route, bad input, conflicts, a database outage (through a proxy
the test cuts), an unreachable broker, the CLI's database errors with ``--debug`` tracebacks. Then every
byte they wrote and every answer is searched for each secret.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.http.conftest import new_phone
from tests.e2e.http.dbproxy import DatabaseProxy
from tests.e2e.http.server import free_port, start_api
from tests.support.postgres import role_with_password

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent


def eventually(check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


@pytest.fixture
def secret_url(database_url: str) -> Iterator[tuple[str, str]]:
    with role_with_password(database_url) as made:
        yield made


def test_no_secret_in_any_log_line_or_answer(secret_url: tuple[str, str], tmp_path: Path) -> None:
    url, password = secret_url
    write, read, metrics, wrong = (
        f"{kind}-{uuid.uuid4().hex}" for kind in ("write", "read", "scrape", "wrong")
    )
    secrets = {"database password": password, "write token": write, "read token": read}
    secrets |= {"metrics token": metrics, "a wrong token": wrong}
    seen: list[str] = []  # every answer: status line, headers and body

    def keep(answer: httpx.Response) -> httpx.Response:
        seen.append(f"{answer.status_code} {answer.headers} {answer.text}")
        return answer

    proxy = DatabaseProxy(url)  # its URL is a key=value conninfo with the password: the other form
    proxy.start()
    settings = {
        "COURIER_API_TOKENS": f"ops:write:{write},viewer:read:{read}",
        "COURIER_METRICS_TOKEN": metrics,
        "COURIER_LOG_LEVEL": "debug",
        "COURIER_DB_POOL_MIN": "1",
        "COURIER_REQUEST_TIMEOUT": "2s",  # the outage's answers come sooner
    }
    try:
        with (
            start_api(proxy.url, tmp_path / "api", **settings) as api,
            httpx.Client(base_url=api.url, timeout=60) as http,
        ):
            as_writer, as_reader = {"authorization": f"Bearer {write}"}, {"authorization": f"Bearer {read}"}
            for headers in (
                {},
                {"authorization": f"Bearer {wrong}"},
                {"authorization": wrong},
                as_reader,
                as_writer,
            ):
                keep(http.get("/api/v1/couriers", headers=headers))
                body = {"name": "Ivan", "phone": new_phone(), "status": "available"}
                keep(http.post("/api/v1/courier", json=body, headers=headers))
                keep(http.post("/courier", json={**body, "name": "R2D2"}, headers=headers))
                keep(http.get("/api/v1/courier/999999", headers=headers))
                keep(http.post("/api/v1/delivery/assign", json={"order_id": "o-1"}, headers=headers))
                keep(http.post("/api/v1/delivery/assign", content=b"{oops", headers=headers))
                keep(http.get("/metrics", headers=headers))
            assert keep(http.get("/api/v1/couriers", headers=as_reader)).status_code == 200
            assert (
                keep(http.get("/metrics", headers={"authorization": f"Bearer {metrics}"})).status_code == 200
            )
            keep(http.get("/openapi.json"))
            proxy.stop()  # the database goes away: every error path of the pool and the requests
            assert keep(http.get("/readyz")).status_code == 503
            assert keep(http.get("/api/v1/couriers", headers=as_writer)).status_code == 503
            keep(
                http.post(
                    "/api/v1/courier",
                    json={"name": "Anna", "phone": new_phone(), "status": "paused"},
                    headers=as_writer,
                )
            )
            keep(http.get("/metrics", headers={"authorization": f"Bearer {metrics}"}))
            time.sleep(1.5)  # the pool retries its connections and logs each failure meanwhile
            proxy.start()
            eventually(lambda: http.get("/readyz").status_code == 200)
            assert api.stop() == 0
            outputs = {
                "courier-api": api.stdout.read_text(errors="replace") + api.stderr.read_text(errors="replace")
            }
    finally:
        proxy.close()
    assert "***" in outputs["courier-api"]  # the database URL was logged, masked

    outputs |= _cli_outputs(url, proxy.url, tmp_path)
    outputs["courier-consumer"] = _consumer_output(url, tmp_path)
    outputs["answers"] = "\n".join(seen)
    for where, text in outputs.items():
        assert text, f"{where} wrote nothing: the search would prove nothing"
        for what, secret in secrets.items():
            assert secret not in text, f"the {what} appears in {where}"


def _cli_outputs(url: str, unreachable_url: str, tmp_path: Path) -> dict[str, str]:
    """``courier`` with the password in its URL: working, and with the database unreachable (exit 3)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURIER_")}
    env["COURIER_DATA_DIR"] = str(tmp_path / "cli-data")
    runs = {
        "courier db check": (["db", "check"], url, 0),
        "courier couriers list --json": (["couriers", "list", "--json"], url, 0),
        "courier couriers list (database down)": (["couriers", "list"], unreachable_url, 3),
        "courier --debug couriers get (database down)": (
            ["--debug", "couriers", "get", "1"],
            unreachable_url,
            3,
        ),
        "courier --debug db check (database down)": (["--debug", "db", "check"], unreachable_url, 3),
    }
    outputs: dict[str, str] = {}
    for name, (args, database, code) in runs.items():
        done = subprocess.run(
            [str(BIN / "courier"), *args],
            env={**env, "COURIER_DATABASE_URL": database},
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == code, (name, done.stdout, done.stderr)
        outputs[name] = done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")
    return outputs


def _consumer_output(url: str, tmp_path: Path) -> str:
    """``courier-consumer`` with the password in its URL and a broker that is not there, for a while.

    It stops at the broker (its bootstrap) before it opens the database: this covers its start and its
    broker errors; the fault tests (tests/faults) drive it with a database.
    """
    consumer = shutil.which("courier-consumer", path=str(BIN))
    assert consumer is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURIER_")}
    env |= {
        "COURIER_DATABASE_URL": url,
        "COURIER_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",  # nobody listens there
        "COURIER_METRICS_PORT": str(free_port()),
        "COURIER_LOG_LEVEL": "debug",
        "COURIER_SHUTDOWN_TIMEOUT": "5s",
        "COURIER_DATA_DIR": str(tmp_path / "consumer-data"),
    }
    log = tmp_path / "consumer.log"
    with log.open("wb") as out:
        process = subprocess.Popen([consumer], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        eventually(lambda: process.poll() is not None or len(log.read_bytes()) > 2000, timeout=60)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:  # still inside the broker client's back-off
                process.kill()
                process.wait(10)
    return log.read_text(errors="replace")
