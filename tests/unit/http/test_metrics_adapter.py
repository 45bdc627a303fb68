"""PrometheusMetrics and the port-call timing decorator, on a private registry."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from courier_adapters.metrics import PrometheusMetrics, TimedPort, scrape_registry
from courier_core.errors import CourierNotFound


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def test_counts_assignments_by_result_starting_at_zero(registry: CollectorRegistry) -> None:
    metrics = PrometheusMetrics(registry)
    metrics.assignment("assigned")
    metrics.assignment("assigned")
    assert registry.get_sample_value("courier_assignments_total", {"result": "assigned"}) == 2
    assert registry.get_sample_value("courier_assignments_total", {"result": "no_courier"}) == 0


def test_records_expiries_retries_skips_and_breaker_state(registry: CollectorRegistry) -> None:
    metrics = PrometheusMetrics(registry)
    metrics.deliveries_expired(3)
    metrics.gateway_retry("GetOrder")
    metrics.order_verification_skipped()
    metrics.breaker_state("orders", "open")
    assert registry.get_sample_value("courier_deliveries_expired_total") == 3
    assert registry.get_sample_value("courier_gateway_retries_total", {"method": "GetOrder"}) == 1
    assert registry.get_sample_value("courier_order_verification_skipped_total") == 1
    labels = {"target": "orders", "state": "open"}
    assert registry.get_sample_value("courier_order_service_breaker_state", labels) == 1
    metrics.breaker_state("orders", "closed")
    assert registry.get_sample_value("courier_order_service_breaker_state", labels) == 0


class _Repository:
    name = "repo"

    async def get(self, courier_id: int) -> int:
        return courier_id * 2

    async def missing(self) -> None:
        raise CourierNotFound()


async def test_timed_port_reports_every_coroutine_call_even_failing_ones(registry: CollectorRegistry) -> None:
    metrics = PrometheusMetrics(registry)
    port = TimedPort(_Repository(), port="couriers", metrics=metrics)
    assert await port.get(21) == 42
    assert await port.get(1) == 2
    with pytest.raises(CourierNotFound):
        await port.missing()
    assert port.name == "repo"
    count = "courier_port_call_duration_seconds_count"
    assert registry.get_sample_value(count, {"port": "couriers", "method": "get"}) == 2
    assert registry.get_sample_value(count, {"port": "couriers", "method": "missing"}) == 1


def test_scrape_registry_reports_the_registry_itself_without_multiprocess(
    registry: CollectorRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    PrometheusMetrics(registry).deliveries_expired(2)
    scrape = scrape_registry(registry, legacy_names=False)
    assert scrape.get_sample_value("courier_deliveries_expired_total") == 2
    assert {f.name for f in scrape.collect()} == {f.name for f in registry.collect()}


async def test_timed_unit_of_work_times_repositories_and_commit(registry: CollectorRegistry) -> None:
    from courier_adapters.metrics import TimedUnitOfWorkFactory
    from courier_core.testing import InMemoryStore, InMemoryUnitOfWorkFactory

    metrics = PrometheusMetrics(registry)
    factory = TimedUnitOfWorkFactory(InMemoryUnitOfWorkFactory(InMemoryStore()), metrics=metrics)
    async with factory() as uow:
        assert await uow.couriers.get(1) is None
        await uow.commit()
    count = "courier_port_call_duration_seconds_count"
    assert registry.get_sample_value(count, {"port": "couriers", "method": "get"}) == 1
    assert registry.get_sample_value(count, {"port": "uow", "method": "commit"}) == 1
    assert registry.get_sample_value(count, {"port": "uow", "method": "begin"}) == 1
