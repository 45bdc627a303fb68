"""Picking a courier costs the same with 100 or 1,000,000 couriers: the plan reads the partial index."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from courier_adapters.postgres import statements

pytestmark = pytest.mark.integration


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def explain(conn: psycopg.Connection, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    row = conn.execute(f"EXPLAIN (FORMAT JSON) {sql}", params).fetchone()
    assert row is not None
    return list(nodes(row[0][0]["Plan"]))


@pytest.fixture
def many_couriers(database_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            """
            INSERT INTO couriers (name, phone, status, transport_type, total_deliveries)
            SELECT 'Courier', '+7' || lpad(g::text, 10, '0'),
                   CASE WHEN g % 10 = 0 THEN 'paused' WHEN g % 10 = 1 THEN 'busy' ELSE 'available' END,
                   'car', (g * 7919) % 500
            FROM generate_series(1, 100000) AS g
            """
        )
        conn.execute("ANALYZE couriers")
        yield conn


@pytest.mark.parametrize("plan_mode", ["force_custom_plan", "force_generic_plan"])
@pytest.mark.parametrize("excluding", [False, True])
def test_pick_reads_the_partial_index_and_sorts_nothing(
    many_couriers: psycopg.Connection, plan_mode: str, excluding: bool
) -> None:
    many_couriers.execute(f"SET plan_cache_mode = {plan_mode}")
    stmt = statements.courier_pick(excluding)
    params = stmt.params(exclude=[1, 2, 3]) if excluding else dict(stmt.defaults)
    plan = explain(many_couriers, stmt.sql, params)
    kinds = [n["Node Type"] for n in plan]
    assert "Sort" not in kinds and "Incremental Sort" not in kinds, kinds
    assert "Seq Scan" not in kinds, kinds
    scans = [n for n in plan if n["Node Type"] in ("Index Scan", "Index Only Scan")]
    # the pick, and the decision's two capped counts (candidates, tied): all walk the pick index
    assert [s["Index Name"] for s in scans] == ["couriers_pick_idx"] * 3, json.dumps(plan)[:2000]


def test_the_pick_on_many_couriers_returns_the_least_loaded(many_couriers: psycopg.Connection) -> None:
    stmt = statements.courier_pick(False)
    row = many_couriers.execute(stmt.sql, dict(stmt.defaults)).fetchone()
    expected = many_couriers.execute(
        "SELECT id FROM couriers WHERE status = 'available' ORDER BY total_deliveries, id LIMIT 1"
    ).fetchone()
    assert row is not None and expected is not None
    assert row[0] == expected[0]


def test_expiry_and_listing_use_their_indexes(many_couriers: psycopg.Connection) -> None:
    expire = statements.delivery_expire_due()
    kinds = [n.get("Index Name") for n in explain(many_couriers, expire.sql, expire.params(limit=500))]
    assert "deliveries_due_idx" in kinds
    page = statements.courier_list(False, False)
    plan = explain(many_couriers, page.sql, page.params(after=90000, limit=50))
    assert "Sort" not in [n["Node Type"] for n in plan]
