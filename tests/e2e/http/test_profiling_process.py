"""Profiling as the README shows it: ``COURIER_ADMIN_ADDR=127.0.0.1:PORT courier-api``, then curl."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.e2e.http.server import free_port, start_api

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("workers", ["1", "2"])
def test_courier_api_serves_profiles_on_its_admin_address(
    database_url: str, tmp_path: Path, workers: str
) -> None:
    port = free_port()
    admin = f"http://127.0.0.1:{port}/debug/profile"
    with start_api(
        database_url, tmp_path, COURIER_ADMIN_ADDR=f"127.0.0.1:{port}", COURIER_HTTP_WORKERS=workers
    ) as api:
        html = httpx.get(f"{admin}?seconds=0.5", timeout=30)
        assert html.status_code == 200
        assert html.headers["content-type"] == "text/html"
        assert b"pyinstrument" in html.content
        speedscope = httpx.get(f"{admin}?seconds=0.5&format=speedscope", timeout=30)
        assert speedscope.status_code == 200
        assert "speedscope" in json.loads(speedscope.content)["$schema"]
        assert httpx.get(f"{admin}?seconds=0", timeout=10).status_code == 400
        assert api.stop() == 0
    assert "Traceback" not in api.stderr.read_text()
