"""The dashboard and the alert rules use the outbox's metrics by the names courier exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client import CollectorRegistry

from courier_adapters.metrics.outbox import OutboxMetrics

ROOT = Path(__file__).resolve().parents[3]
OUTBOX_METRIC = re.compile(r"\bcourier_outbox_[a-z_]+")


def exported() -> set[str]:
    registry = CollectorRegistry()
    OutboxMetrics(registry)
    return {sample.name for family in registry.collect() for sample in family.samples}


def test_the_dashboard_shows_every_outbox_metric_by_its_exported_name() -> None:
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/courier.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    used = {name for expr in exprs for name in OUTBOX_METRIC.findall(expr)}
    assert used == {
        "courier_outbox_pending",
        "courier_outbox_oldest_pending_age_seconds",
        "courier_outbox_published_total",
        "courier_outbox_relay_active",
    }
    assert used <= exported()
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_an_alert_fires_when_events_out_are_stuck() -> None:
    rules = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())["groups"][0]["rules"]
    stalled = next(r for r in rules if r["alert"] == "CourierOutboxStalled")
    assert set(OUTBOX_METRIC.findall(stalled["expr"])) == {"courier_outbox_oldest_pending_age_seconds"}
    assert set(OUTBOX_METRIC.findall(stalled["expr"])) <= exported()
