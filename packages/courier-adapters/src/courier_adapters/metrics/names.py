"""Metric names: every series is under ``courier_``; the pre-prefix names are exported for one release.

Every metric is defined under its new name only (prometheus-client ``namespace="courier"``). A scrape reads
an :class:`ExposedRegistry`, which, when ``COURIER_METRICS_LEGACY_NAMES`` is on (the default), also yields
each renamed family a second time under its legacy name, so dashboards and alerts written for the old
names keep working while they move. ``courier_assignments_total`` (and the other series that already had
the prefix) keep their names.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

NAMESPACE = "courier"

# Legacy family name → new family name (family names: a counter's samples add ``_total``).
LEGACY_NAMES: dict[str, str] = {
    old: f"{NAMESPACE}_{old}"
    for old in (
        # the database, read at scrape time by the API
        "database_up",
        "db_pool_connections",
        "couriers",
        "deliveries_active",
        "waiting_orders",
        "waiting_orders_oldest_age_seconds",
        "deliveries_at_risk",
        # core's port metrics
        "deliveries_expired",
        "gateway_retries",
        "order_verification_skipped",
        "order_service_breaker_state",
        "port_call_duration_seconds",
        # the outbox
        "outbox_published",
        "outbox_relay_active",
        "outbox_pending",
        "outbox_oldest_pending_age_seconds",
        # the consumer
        "kafka_messages",
        "kafka_consumer_lag",
        # the HTTP API
        "http_requests",
        "http_request_duration_seconds",
        "rate_limit_exceeded",
        "sse_streams_open",
        "sse_events_sent",
        "sse_streams_closed",
    )
}
_OLD_BY_NEW = {new: old for old, new in LEGACY_NAMES.items()}


def legacy_copy(family: Metric) -> Metric | None:
    """``family`` under its legacy name (samples renamed too), or ``None`` when it was never renamed."""
    old = _OLD_BY_NEW.get(family.name)
    if old is None:
        return None
    copy = Metric(old, family.documentation, family.type, family.unit)
    copy.samples = [s._replace(name=old + s.name[len(family.name) :]) for s in family.samples]
    return copy


def with_legacy_names(families: Iterable[Metric]) -> Iterator[Metric]:
    """Each family, followed by its legacy copy when it has one."""
    for family in families:
        yield family
        copy = legacy_copy(family)
        if copy is not None:
            yield copy


class ExposedRegistry(CollectorRegistry):
    """The registry a scrape renders: its collectors (and ``source``'s), plus the legacy names if asked."""

    def __init__(self, source: CollectorRegistry | None = None, *, legacy_names: bool = True) -> None:
        super().__init__(auto_describe=False)
        self.legacy_names = legacy_names
        if source is not None:
            self.register(_Forward(source))

    def collect(self) -> Iterator[Metric]:
        families = super().collect()
        yield from with_legacy_names(families) if self.legacy_names else families


class _Forward(Collector):
    """A collector that reports whatever another registry holds."""

    def __init__(self, source: CollectorRegistry) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        yield from self._source.collect()
