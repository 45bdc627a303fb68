"""Prometheus adapters: core's ``Metrics`` port, port-call timing decorators, database gauges.

The only place in ``courier_adapters`` that imports ``prometheus_client``. Everything takes an injected
``CollectorRegistry`` so tests read ``registry.get_sample_value(...)``.
"""

from courier_adapters.metrics.database import DatabaseCollector, DatabaseSnapshot
from courier_adapters.metrics.outbox import OutboxMetrics
from courier_adapters.metrics.pool import PoolMetrics, PoolWatcher
from courier_adapters.metrics.prometheus import PrometheusMetrics, scrape_registry
from courier_adapters.metrics.timing import TimedPort, TimedUnitOfWork, TimedUnitOfWorkFactory, timed

__all__ = [
    "DatabaseCollector",
    "DatabaseSnapshot",
    "OutboxMetrics",
    "PoolMetrics",
    "PoolWatcher",
    "PrometheusMetrics",
    "TimedPort",
    "TimedUnitOfWork",
    "TimedUnitOfWorkFactory",
    "scrape_registry",
    "timed",
]
