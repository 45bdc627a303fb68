"""The invariant checker finds each kind of broken data (written behind the use cases' back)."""

from __future__ import annotations

import psycopg
import pytest

from courier_adapters.postgres import invariants

pytestmark = pytest.mark.integration


def test_a_clean_database_breaks_nothing(database_url: str) -> None:
    assert invariants.check(database_url) == []


def test_finds_every_kind_of_broken_invariant(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO couriers (id, name, phone, status, transport_type, total_deliveries)"
            " OVERRIDING SYSTEM VALUE VALUES"
            " (1, 'A', '+70000000001', 'busy', 'car', 0), (2, 'B', '+70000000002', 'available', 'car', 1)"
        )
        conn.execute(
            "INSERT INTO deliveries (order_id, courier_id, status, assigned_at, deadline)"
            " VALUES ('o1', 2, 'active', now(), now())"
        )
        conn.execute("INSERT INTO waiting_orders (order_id) VALUES ('o1')")
    found = {v.invariant: v.keys for v in invariants.check(database_url)}
    assert found == {
        "busy courier without an active delivery": ["1"],
        "active delivery of a courier that is not busy": ["o1"],
        "waiting order that already has a delivery": ["o1"],
    }
