"""The worked examples of api.md, verbatim, on a fresh database (so the first courier is id 1)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.e2e.http.helpers import PREFIX_IDS, PREFIXES
from tests.e2e.http.server import ApiProcess, start_api

pytestmark = pytest.mark.e2e
ORDER = "f819526d-6a7c-48eb-b535-43989469d1ca"


@pytest.fixture
def fresh(database_url: str, tmp_path: Path) -> Iterator[ApiProcess]:
    with start_api(database_url, tmp_path) as api:
        yield api
        assert api.stop() == 0


@pytest.mark.parametrize("p", PREFIXES, ids=PREFIX_IDS)
def test_the_examples_of_the_spec(fresh: ApiProcess, p: str) -> None:
    with httpx.Client(base_url=fresh.url) as http:
        body = {"name": "Ivan", "phone": "+79990001122", "status": "available", "transport_type": "car"}
        created = http.post(f"{p}/courier", json=body)
        assert (created.status_code, created.json()) == (
            201,
            {"id": 1, "message": "courier's profile created successfully"},
        )
        again = http.post(f"{p}/courier", json=body)
        assert (again.status_code, again.json()) == (
            409, {"error": {"code": "courier_exists", "message": "courier with this parameters already exists"}},
        )  # fmt: skip
        bad = http.get(f"{p}/courier/abc")
        assert bad.status_code == 400
        assert bad.json()["error"] == {"code": "invalid_id", "message": "invalid courier's id", "field": "id"}
        assigned = http.post(f"{p}/delivery/assign", json={"order_id": ORDER})
        answer = assigned.json()
        assert assigned.status_code == 200
        assert {k: answer[k] for k in ("courier_id", "order_id", "transport_type")} == {
            "courier_id": 1, "order_id": ORDER, "transport_type": "car",
        }  # fmt: skip
        deadline = datetime.fromisoformat(answer["delivery_deadline"].replace("Z", "+00:00"))
        assigned_at = datetime.fromisoformat(
            http.get(f"{p}/delivery/{ORDER}").json()["assigned_at"].replace("Z", "+00:00")
        )
        assert deadline - assigned_at == timedelta(minutes=5)
        assert answer["delivery_deadline"].endswith("Z")
        unassigned = http.post(f"{p}/delivery/unassign", json={"order_id": ORDER})
        assert (unassigned.status_code, unassigned.json()) == (
            200, {"order_id": ORDER, "status": "unassigned", "courier_id": 1},
        )  # fmt: skip
