"""PostgreSQL stopped under HTTP load and started again: 503s meanwhile, nothing lost, no restart."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg

from courier_adapters.postgres import invariants
from tests.e2e.http.server import start_api
from tests.faults.conftest import StoppablePostgres

REQUEST_TIMEOUT = 3.0  # COURIER_REQUEST_TIMEOUT below: no answer may take much longer
LOAD_SECONDS = 14.0


def _writer(
    url: str, stop: threading.Event, phones: itertools.count[int]
) -> list[tuple[str, int, float, dict]]:
    answers = []
    with httpx.Client(base_url=url, timeout=30) as http:
        while not stop.is_set():
            phone = f"+7{next(phones):010d}"
            started = time.monotonic()
            try:
                answer = http.post(
                    "/api/v1/courier", json={"name": "Ivan", "phone": phone, "status": "available"}
                )
            except httpx.TransportError:
                continue  # the API itself never went away: a transport error would show in the counts
            body = (
                answer.json() if answer.headers.get("content-type", "").startswith("application/json") else {}
            )
            answers.append(
                (phone, answer.status_code, time.monotonic() - started, body | dict(answer.headers))
            )
    return answers


def test_the_api_answers_503_while_postgresql_is_down_and_recovers_alone(
    stoppable_postgres: StoppablePostgres, tmp_path: Path
) -> None:
    with start_api(
        stoppable_postgres.url,
        tmp_path,
        COURIER_REQUEST_TIMEOUT=f"{REQUEST_TIMEOUT:g}s",
        COURIER_DB_STATEMENT_TIMEOUT="2s",
    ) as api:
        stop = threading.Event()
        phones = itertools.count(1)
        with ThreadPoolExecutor(4) as pool:
            writers = [pool.submit(_writer, api.url, stop, phones) for _ in range(4)]
            time.sleep(3)
            stoppable_postgres.stop()
            time.sleep(1)
            down = httpx.get(f"{api.url}/readyz", timeout=10)
            time.sleep(3)
            stoppable_postgres.start()
            time.sleep(LOAD_SECONDS - 7)
            stop.set()
            answers = [a for w in writers for a in w.result()]
        ready = httpx.get(f"{api.url}/readyz", timeout=10)
        after = httpx.post(
            f"{api.url}/api/v1/courier", json={"name": "Petr", "phone": "+79999999999", "status": "available"}
        )
        assert api.stop() == 0

    statuses = Counter(status for _, status, _, _ in answers)
    assert down.status_code == 503 and down.json()["error"]["code"] == "unavailable"
    assert set(statuses) <= {201, 503}, statuses  # never a 500, never a hang
    assert statuses[201] > 0 and statuses[503] > 0, statuses
    for _, status, seconds, details in answers:
        assert seconds < REQUEST_TIMEOUT + 5
        if status == 503:
            assert details["error"]["code"] == "unavailable" and int(details["retry-after"]) >= 1
    assert ready.status_code == 200 and after.status_code == 201  # recovered with no restart
    created = {phone for phone, status, _, _ in answers if status == 201}
    with psycopg.connect(stoppable_postgres.url) as conn:
        stored = {r[0] for r in conn.execute("SELECT phone FROM couriers")}
    assert created <= stored  # every 2xx write is in the database
    assert invariants.check(stoppable_postgres.url) == []
