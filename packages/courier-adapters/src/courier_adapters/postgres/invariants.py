"""Invariants of courier's data that must hold after anything (a crash, a kill -9, a bug): each query
returns the rows that break one. Used by ``courier db check`` and the fault tests."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

CHECKS: dict[str, str] = {
    "busy courier without an active delivery": """
        SELECT c.id FROM couriers c
        WHERE c.status = 'busy' AND c.deleted_at IS NULL AND NOT EXISTS
          (SELECT 1 FROM deliveries d WHERE d.courier_id = c.id AND d.status = 'active')""",
    "active delivery of a courier that is not busy": """
        SELECT d.order_id FROM deliveries d JOIN couriers c ON c.id = d.courier_id
        WHERE d.status = 'active' AND (c.status <> 'busy' OR c.deleted_at IS NOT NULL)""",
    "courier with two active deliveries": """
        SELECT courier_id FROM deliveries WHERE status = 'active'
        GROUP BY courier_id HAVING count(*) > 1""",
    "delivery counter that does not match the deliveries": """
        SELECT c.id FROM couriers c
        WHERE c.total_deliveries <> (SELECT count(*) FROM deliveries d WHERE d.courier_id = c.id)""",
    "waiting order that already has a delivery": """
        SELECT w.order_id FROM waiting_orders w JOIN deliveries d ON d.order_id = w.order_id""",
}


@dataclass(frozen=True)
class Violation:
    invariant: str
    keys: list[str]  # the couriers' ids or orders' ids that break it (at most 20)

    def __str__(self) -> str:
        return f"{self.invariant}: {', '.join(self.keys)}"


def check(url: str) -> list[Violation]:
    """Every broken invariant of the database at ``url`` (an empty list when all hold)."""
    violations = []
    with psycopg.connect(url, connect_timeout=5) as conn:
        for name, query in CHECKS.items():
            rows = conn.execute(f"{query} LIMIT 20").fetchall()
            if rows:
                violations.append(Violation(name, [str(r[0]) for r in rows]))
    return violations
