"""Gauges that describe the database, read at scrape time by one collector.

Every API worker could count couriers itself, but then a multiprocess scrape would add the workers'
numbers up. Instead the process that serves ``/metrics`` asks the database once per scrape
(:meth:`DatabaseCollector.refresh`, one round trip) and the collector reports that one answer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from courier_adapters.metrics.names import NAMESPACE
from courier_adapters.postgres.database import PoolSession, PostgresDatabase
from courier_core.errors import CourierError
from courier_core.model import CourierStatus, TransportType

log = logging.getLogger(__name__)

# One statement, one round trip: every figure comes from the same snapshot of the database.
_SNAPSHOT_SQL = """
SELECT
  (SELECT count(*) FROM couriers WHERE deleted_at IS NULL AND status = 'available'),
  (SELECT count(*) FROM couriers WHERE deleted_at IS NULL AND status = 'busy'),
  (SELECT count(*) FROM couriers WHERE deleted_at IS NULL AND status = 'paused'),
  (SELECT count(*) FROM deliveries WHERE status = 'active'),
  (SELECT count(*) FROM waiting_orders),
  (SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(since)), 0)::float8 FROM waiting_orders),
  (SELECT count(*) FROM deliveries d JOIN couriers c ON c.id = d.courier_id
     WHERE d.status = 'active' AND c.transport_type = 'on_foot'
       AND now() >= d.assigned_at + (d.deadline - d.assigned_at) * 0.8),
  (SELECT count(*) FROM deliveries d JOIN couriers c ON c.id = d.courier_id
     WHERE d.status = 'active' AND c.transport_type = 'scooter'
       AND now() >= d.assigned_at + (d.deadline - d.assigned_at) * 0.8),
  (SELECT count(*) FROM deliveries d JOIN couriers c ON c.id = d.courier_id
     WHERE d.status = 'active' AND c.transport_type = 'car'
       AND now() >= d.assigned_at + (d.deadline - d.assigned_at) * 0.8)
"""


@dataclass(frozen=True, slots=True)
class DatabaseSnapshot:
    """What the database holds at one moment."""

    couriers: dict[str, int] = field(default_factory=dict)
    deliveries_active: int = 0
    waiting_orders: int = 0
    waiting_oldest_age: float = 0.0
    at_risk: dict[str, int] = field(default_factory=dict)


async def read_snapshot(database: PostgresDatabase) -> DatabaseSnapshot:
    row = await PoolSession(database.pool).fetch_one(_SNAPSHOT_SQL)
    assert row is not None
    statuses = [s.value for s in CourierStatus]
    transports = [t.value for t in TransportType]
    return DatabaseSnapshot(
        couriers=dict(zip(statuses, (int(v) for v in row[0:3]), strict=True)),
        deliveries_active=int(row[3]),
        waiting_orders=int(row[4]),
        waiting_oldest_age=float(row[5]),
        at_risk=dict(zip(transports, (int(v) for v in row[6:9]), strict=True)),
    )


class DatabaseCollector(Collector):
    """Prometheus collector of the database gauges and this process's pool usage.

    Call :meth:`refresh` (async) right before rendering a scrape; ``collect`` only reports the last
    snapshot. When the database does not answer, ``courier_database_up`` is 0 and the other gauges are absent.
    """

    def __init__(self, database: PostgresDatabase) -> None:
        self._database = database
        self._snapshot: DatabaseSnapshot | None = None

    async def refresh(self) -> DatabaseSnapshot | None:
        try:
            self._snapshot = await read_snapshot(self._database)
        except CourierError as exc:
            log.warning("database gauges unavailable: %s", exc)
            self._snapshot = None
        return self._snapshot

    def forget(self) -> None:
        """The database did not answer in time: report it down until the next refresh."""
        self._snapshot = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from self._pool_gauges()
        up = GaugeMetricFamily(f"{NAMESPACE}_database_up", "1 when the last scrape could read the database")
        up.add_metric([], 0 if self._snapshot is None else 1)
        yield up
        if self._snapshot is not None:
            yield from _snapshot_gauges(self._snapshot)

    def _pool_gauges(self) -> Iterator[GaugeMetricFamily]:
        stats = self._database.stats()
        size, idle = stats.get("pool_size", 0), stats.get("pool_available", 0)
        pool = GaugeMetricFamily(
            f"{NAMESPACE}_db_pool_connections", "Connections of this process's pool", labels=["state"]
        )
        pool.add_metric(["in_use"], max(0, size - idle))
        pool.add_metric(["idle"], idle)
        yield pool


def _snapshot_gauges(snapshot: DatabaseSnapshot) -> Iterator[GaugeMetricFamily]:
    couriers = GaugeMetricFamily(
        f"{NAMESPACE}_couriers", "Couriers (not deleted) by status", labels=["status"]
    )
    for status, count in snapshot.couriers.items():
        couriers.add_metric([status], count)
    yield couriers
    yield GaugeMetricFamily(
        f"{NAMESPACE}_deliveries_active", "Active deliveries", value=snapshot.deliveries_active
    )
    yield GaugeMetricFamily(
        f"{NAMESPACE}_waiting_orders", "Orders waiting for a courier", value=snapshot.waiting_orders
    )
    yield GaugeMetricFamily(
        f"{NAMESPACE}_waiting_orders_oldest_age_seconds",
        "Age of the oldest waiting order (0 when none waits)",
        value=snapshot.waiting_oldest_age,
    )
    risk = GaugeMetricFamily(
        f"{NAMESPACE}_deliveries_at_risk",
        "Active deliveries past 80% of their window",
        labels=["transport_type"],
    )
    for transport, count in snapshot.at_risk.items():
        risk.add_metric([transport], count)
    yield risk
