"""The consumer's /metrics: the courier_ names, and the legacy ones only while the setting is on."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client import CollectorRegistry

from courier_adapters.metrics import OutboxMetrics, PrometheusMetrics
from courier_consumer.telemetry import ConsumerMetrics, MetricsServer

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("legacy", [True, False])
def test_the_consumers_endpoint_follows_the_legacy_names_setting(legacy: bool) -> None:
    registry = CollectorRegistry()
    ConsumerMetrics(registry).message("created", "applied")
    OutboxMetrics(registry).published(2)
    PrometheusMetrics(registry).assignment("assigned")
    server = MetricsServer(registry, lambda: True, host="127.0.0.1", port=0, legacy_names=legacy)
    server.start()
    try:
        text = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=10).text
    finally:
        server.stop()
    assert 'courier_kafka_messages_total{result="applied",status="created"} 1.0' in text
    assert "courier_outbox_published_total 2.0" in text
    assert 'courier_assignments_total{result="assigned"} 1.0' in text
    lines = text.splitlines()
    assert ('kafka_messages_total{result="applied",status="created"} 1.0' in lines) is legacy
    assert ("outbox_published_total 2.0" in lines) is legacy
