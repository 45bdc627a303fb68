"""kill -9 of an API worker while it assigns: no courier busy without a delivery, nor the reverse."""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from courier_adapters.postgres import invariants
from tests.e2e.http.server import start_api
from tests.support.processes import children

COURIERS = 12


def _is_worker(pid: int) -> bool:
    """A uvicorn worker (spawned by multiprocessing), not its resource tracker."""
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    return "spawn_main" in cmdline and "resource_tracker" not in cmdline


def _churn(url: str, stop: threading.Event, orders: itertools.count[int]) -> int:
    done = 0
    with httpx.Client(base_url=url, timeout=30) as http:
        while not stop.is_set():
            order = f"order-{next(orders)}"
            try:
                assigned = http.post("/api/v1/delivery/assign", json={"order_id": order})
                if assigned.status_code == 200:
                    http.post("/api/v1/delivery/unassign", json={"order_id": order})
                    done += 1
            except httpx.TransportError:
                pass  # the killed worker's connections drop: that is the fault under test
    return done


def test_a_worker_killed_mid_assign_leaves_no_broken_invariant(database_url: str, tmp_path: Path) -> None:
    with start_api(database_url, tmp_path, COURIER_HTTP_WORKERS="2") as api:
        with httpx.Client(base_url=api.url, timeout=30) as http:
            for i in range(COURIERS):
                answer = http.post(
                    "/api/v1/courier",
                    json={"name": "Ivan", "phone": f"+7{i + 1:010d}", "status": "available"},
                )
                assert answer.status_code == 201
        workers = [pid for pid in children(api.process.pid) if _is_worker(pid)]
        assert len(workers) == 2, workers
        stop = threading.Event()
        orders = itertools.count()
        with ThreadPoolExecutor(8) as pool:
            churners = [pool.submit(_churn, api.url, stop, orders) for _ in range(8)]
            time.sleep(3)
            os.kill(workers[0], signal.SIGKILL)
            time.sleep(4)
            assert not Path(f"/proc/{workers[0]}/cmdline").exists() or not _is_worker(workers[0])
            stop.set()
            pairs = sum(c.result() for c in churners)
        assert pairs > 0
        alive = httpx.get(f"{api.url}/api/v1/couriers", timeout=10)
        assert alive.status_code == 200  # the other worker (or a respawned one) still serves
        api.stop()
    assert invariants.check(database_url) == []
