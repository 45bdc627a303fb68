"""The dashboard and the alert rules use the pool's and hang-ups' metrics by the names courier exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client import CollectorRegistry

from courier_adapters.metrics.pool import PoolMetrics
from courier_http.telemetry import HttpMetrics

ROOT = Path(__file__).resolve().parents[3]
NAME = re.compile(r"\bcourier_(?:db_pool|http_clients)_[a-z_]+")


def exported() -> set[str]:
    registry = CollectorRegistry()
    PoolMetrics(registry)
    HttpMetrics(registry)
    return {sample.name for family in registry.collect() for sample in family.samples}


def test_the_dashboard_shows_the_pool_of_every_process_and_clients_gone() -> None:
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/courier.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    used = {name for expr in exprs for name in NAME.findall(expr)}
    assert used == {
        "courier_db_pool_in_use",
        "courier_db_pool_idle",
        "courier_db_pool_waiting",
        "courier_db_pool_oldest_checkout_seconds",
        "courier_http_clients_gone_total",
    }
    assert used <= exported()
    assert "courier_db_pool_size" in exported()
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_an_alert_fires_when_a_connection_stays_checked_out_far_past_the_statement_timeout() -> None:
    rules = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())["groups"][0]["rules"]
    held = next(r for r in rules if r["alert"] == "CourierDbConnectionHeld")
    assert set(NAME.findall(held["expr"])) == {"courier_db_pool_oldest_checkout_seconds"}
    assert set(NAME.findall(held["expr"])) <= exported()
    threshold = float(held["expr"].rsplit(">", 1)[1])
    assert threshold >= 10 * 5.0  # far past the default statement timeout (5 s), never a busy minute
