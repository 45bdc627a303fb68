"""The outbox's metrics: what waits to be published, what was published, which relay is active.

``courier_outbox_pending`` and ``courier_outbox_oldest_pending_age_seconds`` describe the database (every
process that reports them reports the same figures: aggregate them with ``max``);
``courier_outbox_published_total`` counts this process's relay; ``courier_outbox_relay_active`` is 1 in
the process whose relay holds the lock.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from courier_adapters.metrics.names import NAMESPACE


class OutboxMetrics:
    """A ``RelayObserver`` (leadership, published events) and the outbox's two gauges."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._published = Counter(
            "outbox_published",
            "Outbox events published and acknowledged by the broker",
            registry=registry,
            namespace=NAMESPACE,
        )
        self._active = Gauge(
            "outbox_relay_active",
            "1 while this process's relay is the active one",
            registry=registry,
            multiprocess_mode="max",
            namespace=NAMESPACE,
        )
        self._pending = Gauge(
            "outbox_pending",
            "Outbox events not yet published",
            registry=registry,
            multiprocess_mode="max",
            namespace=NAMESPACE,
        )
        self._oldest = Gauge(
            "outbox_oldest_pending_age_seconds",
            "Age of the oldest outbox event not yet published (0 when none is pending)",
            registry=registry,
            multiprocess_mode="max",
            namespace=NAMESPACE,
        )

    def active(self, active: bool) -> None:
        self._active.set(1 if active else 0)

    def published(self, count: int) -> None:
        self._published.inc(count)

    def pending(self, count: int, oldest_age: float) -> None:
        self._pending.set(count)
        self._oldest.set(oldest_age)
