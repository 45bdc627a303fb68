"""The HTTP app's own Prometheus series (requests, durations, 429s), in the app's registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from courier_adapters.metrics.names import NAMESPACE

# Reads take about a millisecond; the buckets resolve that and the request deadline's range.
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class HttpMetrics:
    """``courier_http_requests_total``, ``courier_http_request_duration_seconds`` and the rate limit's.

    Label children are cached per (method, route template, status): a request costs two dict lookups
    and two updates, not a ``labels()`` call each.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self._requests = Counter(
            "http_requests",
            "HTTP requests",
            ["method", "path", "status"],
            registry=registry,
            namespace=NAMESPACE,
        )
        self._duration = Histogram(
            "http_request_duration_seconds",
            "HTTP request duration",
            ["method", "path", "status"],
            registry=registry,
            buckets=DURATION_BUCKETS,
            namespace=NAMESPACE,
        )
        self._rate_limited = Counter(
            "rate_limit_exceeded",
            "Requests refused by the rate limiter",
            registry=registry,
            namespace=NAMESPACE,
        )
        self._rate_limited.inc(0)
        self._gone = Counter(
            "courier_http_clients_gone",
            "Requests whose client hung up: before its answer (working) or while it was written (answering)",
            ["when"],
            registry=registry,
        )
        for when in ("working", "answering"):
            self._gone.labels(when)
        self._redis_up = Gauge(
            "courier_rate_limit_redis_up",
            "1 while the shared rate limit's Redis answers (absent without COURIER_RATE_LIMIT_REDIS_URL)",
            registry=registry,
            multiprocess_mode="livemin",
        )
        self._redis_outages = Counter(
            "courier_rate_limit_redis_outages",
            "Times the shared rate limit's Redis became unreachable (requests then pass or get 503)",
            registry=registry,
        )
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def request(self, method: str, path: str, status: int, seconds: float) -> None:
        key = (method, path, status)
        children = self._children.get(key)
        if children is None:
            labels = (method, path, str(status))
            children = self._children[key] = (
                self._requests.labels(*labels),
                self._duration.labels(*labels),
            )
        children[0].inc()
        children[1].observe(seconds)

    def rate_limited(self) -> None:
        self._rate_limited.inc()

    def rate_limit_redis(self, up: bool) -> None:
        """The shared limiter's Redis answers (``up``) or stopped answering."""
        self._redis_up.set(1 if up else 0)
        if not up:
            self._redis_outages.inc()

    def client_gone(self, when: str) -> None:
        self._gone.labels(when).inc()
