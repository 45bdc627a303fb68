"""The consumer's own metrics (``courier_kafka_messages_total``, ``courier_kafka_consumer_lag``...).

``GET /metrics`` serves the injected registry (core's port metrics from ``PrometheusMetrics`` and these),
with the legacy names too while ``COURIER_METRICS_LEGACY_NAMES`` is on;
``GET /readyz`` answers 200 once every consumer has joined its group and the database pool is open.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest

from courier_adapters.metrics.names import NAMESPACE, ExposedRegistry
from courier_core.usecases.events import status_label

log = logging.getLogger("courier.consumer.metrics")
INVALID = "invalid"
RESULTS = ("applied", "duplicate", "ignored", "dead_lettered", "retried")


class ConsumerMetrics:
    """Counters and gauges only the consumer has, in the same registry as core's metrics."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._messages = Counter(
            "kafka_messages",
            "Order events consumed, by order status and result",
            ["status", "result"],
            registry=registry,
            namespace=NAMESPACE,
        )
        self._lag = Gauge(
            "kafka_consumer_lag",
            "Messages behind the partition's end",
            ["topic", "partition"],
            registry=registry,
            namespace=NAMESPACE,
        )

        self._leader = Gauge(
            "courier_leader",
            "1 while this process leads the cluster-wide job (one leader per job in the cluster)",
            ["job"],
            registry=registry,
        )
        for job in ("reconcile", "prune"):
            self._leader.labels(job)

    def leading(self, job: str, leading: bool) -> None:
        self._leader.labels(job).set(1 if leading else 0)

    def message(self, status: str, result: str) -> None:
        """Count a message; ``status`` is the order status, or ``invalid`` for a value that has none."""
        label = status if status == INVALID else status_label(status)
        self._messages.labels(label, result).inc()

    def lag(self, topic: str, partition: int, behind: int) -> None:
        self._lag.labels(topic, str(partition)).set(behind)

    def forget_partition(self, topic: str, partition: int) -> None:
        with contextlib.suppress(KeyError):  # never reported
            self._lag.remove(topic, str(partition))


class MetricsServer:
    """A tiny threaded HTTP server for ``/metrics`` and ``/readyz`` (no framework needed for two routes)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        ready: Callable[[], bool],
        *,
        host: str,
        port: int,
        legacy_names: bool = True,
    ) -> None:
        handler = _handler(ExposedRegistry(registry, legacy_names=legacy_names), ready)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics-http", daemon=True)

    @property
    def port(self) -> int:
        port: int = self._server.server_address[1]
        return port

    def start(self) -> None:
        self._thread.start()
        log.info("metrics endpoint listening", extra={"port": self.port})

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def _handler(registry: CollectorRegistry, ready: Callable[[], bool]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] == "/metrics":
                self._send(HTTPStatus.OK, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif self.path.split("?")[0] == "/readyz":
                is_ready = ready()
                status = HTTPStatus.OK if is_ready else HTTPStatus.SERVICE_UNAVAILABLE
                body = b'{"status":"ready"}' if is_ready else b'{"status":"starting"}'
                self._send(status, body, "application/json")
            else:
                self._send(HTTPStatus.NOT_FOUND, b'{"error":"not_found"}', "application/json")

        def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Scrapes are not worth a log line each."""

    return Handler
