"""Core's :class:`~courier_core.ports.Metrics` port on prometheus-client."""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.multiprocess import MultiProcessCollector

from courier_adapters.metrics.names import NAMESPACE, ExposedRegistry

ASSIGNMENT_RESULTS = ("assigned", "no_courier", "exists", "finished", "waiting")
BREAKER_STATES = ("closed", "open", "half_open")
# Port calls are mostly sub-millisecond database round trips; the buckets start low for that reason.
PORT_CALL_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class PrometheusMetrics:
    """Implements core's ``Metrics`` port; every series lives in the injected ``registry``.

    Works in prometheus-client's multiprocess mode too (``PROMETHEUS_MULTIPROC_DIR`` set before
    ``prometheus_client`` is imported): the values then go to the shared directory and a
    :func:`scrape_registry` gathers every process's.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._assignments = Counter(
            "assignments",
            "Assignment attempts by result",
            ["result"],
            registry=registry,
            namespace=NAMESPACE,
        )
        for result in ASSIGNMENT_RESULTS:
            self._assignments.labels(result)
        self._expired = Counter(
            "deliveries_expired",
            "Deliveries expired by the release worker",
            registry=registry,
            namespace=NAMESPACE,
        )
        self._retries = Counter(
            "gateway_retries",
            "Retried calls to the order service",
            ["method"],
            registry=registry,
            namespace=NAMESPACE,
        )
        self._skipped = Counter(
            "order_verification_skipped",
            "Assignments made without asking the order service (unavailable or breaker open)",
            registry=registry,
            namespace=NAMESPACE,
        )
        self._breaker = Gauge(
            "order_service_breaker_state",
            "1 for the breaker's current state, 0 for the others",
            ["target", "state"],
            registry=registry,
            multiprocess_mode="max",
            namespace=NAMESPACE,
        )
        self._port_calls = Histogram(
            "port_call_duration_seconds",
            "Duration of outgoing port calls (repositories, order gateway, broker)",
            ["port", "method"],
            registry=registry,
            buckets=PORT_CALL_BUCKETS,
            namespace=NAMESPACE,
        )
        # labels() takes a lock and builds a key each call; port calls are hot, so children are kept.
        self._port_children: dict[tuple[str, str], Histogram] = {}

    def assignment(self, result: str) -> None:
        self._assignments.labels(result).inc()

    def deliveries_expired(self, count: int) -> None:
        self._expired.inc(count)

    def gateway_retry(self, method: str) -> None:
        self._retries.labels(method).inc()

    def breaker_state(self, target: str, state: str) -> None:
        for known in BREAKER_STATES:
            self._breaker.labels(target, known).set(1 if known == state else 0)

    def order_verification_skipped(self) -> None:
        self._skipped.inc()

    def port_call(self, port: str, method: str, seconds: float) -> None:
        child = self._port_children.get((port, method))
        if child is None:
            child = self._port_children[(port, method)] = self._port_calls.labels(port, method)
        child.observe(seconds)


def multiprocess_enabled() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def scrape_registry(registry: CollectorRegistry, *, legacy_names: bool = True) -> CollectorRegistry:
    """The registry to expose: ``registry``'s values, or every process's values in multiprocess mode.

    With ``legacy_names`` (``COURIER_METRICS_LEGACY_NAMES``), each renamed series is also exported under
    its name from before the ``courier_`` prefix (see :mod:`courier_adapters.metrics.names`).
    """
    if not multiprocess_enabled():
        return ExposedRegistry(registry, legacy_names=legacy_names)
    gathered = ExposedRegistry(legacy_names=legacy_names)
    MultiProcessCollector(gathered)  # type: ignore[no-untyped-call]
    return gathered
