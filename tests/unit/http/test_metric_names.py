"""Metric names under ``courier_``; the legacy names too while ``COURIER_METRICS_LEGACY_NAMES`` is on."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from courier_adapters.metrics import OutboxMetrics, PoolMetrics, PrometheusMetrics, scrape_registry
from courier_adapters.metrics.database import DatabaseCollector, DatabaseSnapshot
from courier_adapters.metrics.names import LEGACY_NAMES, ExposedRegistry
from courier_adapters.settings import load_settings
from courier_consumer.telemetry import ConsumerMetrics
from courier_http.app import create_app
from courier_http.stream import StreamMetrics
from courier_http.telemetry import HttpMetrics

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)", re.MULTILINE)
# Series that had the prefix before the rename: they keep their names and have no legacy twin.
ALREADY_PREFIXED = {
    "courier_assignments",
    "courier_db_pool_size",
    "courier_db_pool_in_use",
    "courier_db_pool_idle",
    "courier_db_pool_waiting",
    "courier_db_pool_oldest_checkout_seconds",
    "courier_leader",
    "courier_http_clients_gone",
    "courier_rate_limit_redis_up",
    "courier_rate_limit_redis_outages",
}


class _Database:
    def stats(self) -> dict[str, int]:
        return {"pool_size": 2, "pool_available": 1}


def every_metric() -> CollectorRegistry:
    """A registry holding every series courier defines (the apps' and the adapters'), each with a sample."""
    registry = CollectorRegistry()
    core = PrometheusMetrics(registry)
    core.deliveries_expired(1)
    core.gateway_retry("GetOrderById")
    core.order_verification_skipped()
    core.breaker_state("orders", "closed")
    core.port_call("couriers", "get", 0.001)
    outbox = OutboxMetrics(registry)
    outbox.pending(1, 2.0)
    outbox.active(True)
    outbox.published(1)
    PoolMetrics(registry)
    http = HttpMetrics(registry)
    http.request("GET", "/ping", 200, 0.001)
    http.rate_limit_redis(True)
    StreamMetrics(registry).sent.inc()
    consumer = ConsumerMetrics(registry)
    consumer.message("created", "applied")
    consumer.lag("orders", 0, 3)
    collector = DatabaseCollector(_Database())  # type: ignore[arg-type]
    collector._snapshot = DatabaseSnapshot(couriers={"available": 1}, at_risk={"car": 0})
    registry.register(collector)
    return registry


def families(registry: CollectorRegistry) -> set[str]:
    return {family.name for family in registry.collect()}


def names_in(text: str) -> set[str]:
    return set(SAMPLE.findall(text))


def test_every_metric_is_under_the_courier_prefix() -> None:
    defined = families(every_metric())
    assert all(name.startswith("courier_") for name in defined), sorted(defined)
    assert defined - ALREADY_PREFIXED == set(LEGACY_NAMES.values())
    assert "courier_assignments" in defined  # courier_assignments_total keeps its name
    assert {"courier_couriers", "courier_waiting_orders", "courier_http_requests"} <= defined


def test_with_legacy_names_on_both_names_are_exported_with_the_same_samples() -> None:
    text = generate_latest(scrape_registry(every_metric(), legacy_names=True)).decode()
    exported = names_in(text)
    for old, new in LEGACY_NAMES.items():
        new_lines = [
            line for line in text.splitlines() if line.startswith((f"{new} ", f"{new}{{", f"{new}_"))
        ]
        old_lines = [line[len("courier_") :] for line in new_lines]
        assert old_lines and set(old_lines) <= set(text.splitlines()), old
    assert {"couriers", "waiting_orders", "http_requests_total", "courier_http_requests_total"} <= exported
    assert 'kafka_messages_total{result="applied",status="created"} 1.0' in text
    assert "# TYPE http_request_duration_seconds histogram" in text
    assert "courier_assignments_total" in text and "\nassignments_total" not in text


def test_with_legacy_names_off_only_the_new_names_are_exported() -> None:
    text = generate_latest(scrape_registry(every_metric(), legacy_names=False)).decode()
    assert all(name.startswith("courier_") for name in names_in(text))
    assert not set(LEGACY_NAMES) & {name.removesuffix("_total") for name in names_in(text)}


def test_a_collector_registered_on_the_exposed_registry_gets_its_legacy_names_too() -> None:
    exposed = ExposedRegistry(CollectorRegistry(), legacy_names=True)
    collector = DatabaseCollector(_Database())  # type: ignore[arg-type]
    exposed.register(collector)  # what the API does with its database gauges
    text = generate_latest(exposed).decode()
    assert "courier_database_up 0.0" in text and "\ndatabase_up 0.0" in text
    exposed.unregister(collector)
    assert "database_up" not in generate_latest(exposed).decode()


def test_the_setting_is_on_by_default_and_can_be_turned_off() -> None:
    assert load_settings({}, dotenv=None).metrics_legacy_names is True
    off = load_settings({"COURIER_METRICS_LEGACY_NAMES": "false"}, dotenv=None)
    assert off.metrics_legacy_names is False


def _scrape(environ: dict[str, str]) -> str:
    app = create_app(
        load_settings({"COURIER_DATABASE_URL": "postgresql://nowhere/x", **environ}, dotenv=None)
    )

    async def fetch() -> Any:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            await http.get("/ping")
            return (await http.get("/metrics")).text

    text: str = asyncio.run(fetch())
    return text


@pytest.mark.parametrize("legacy", ["true", "false"])
def test_the_apis_metrics_follow_the_setting(legacy: str) -> None:
    text = _scrape({"COURIER_METRICS_LEGACY_NAMES": legacy})
    assert 'courier_http_requests_total{method="GET",path="/ping",status="200"} 1.0' in text
    old = '\nhttp_requests_total{method="GET",path="/ping",status="200"} 1.0'
    assert (old in text) is (legacy == "true")
