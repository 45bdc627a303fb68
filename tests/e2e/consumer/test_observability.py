"""Every metric the Grafana dashboard and the alert rules use is one the running apps expose."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import yaml

from tests.e2e.consumer.conftest import ConsumerProcess
from tests.e2e.http.server import start_api

ROOT = Path(__file__).resolve().parents[3]
FUNCTIONS_AND_KEYWORDS = {
    "sum",
    "max",
    "min",
    "avg",
    "count",
    "rate",
    "increase",
    "deriv",
    "irate",
    "histogram_quantile",
    "clamp_min",
    "clamp_max",
    "by",
    "without",
    "and",
    "or",
    "unless",
    "on",
    "ignoring",
    "bool",
    "offset",
}
PROMETHEUS_OWN = {"up"}


def queried_metrics() -> set[str]:
    exprs = [
        t["expr"]
        for panel in json.loads((ROOT / "deploy/grafana/dashboards/courier.json").read_text())["panels"]
        for t in panel["targets"]
    ]
    rules = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
    exprs += [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    names: set[str] = set()
    for expr in exprs:
        expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\"[^\"]*\"", " ", expr)  # label matchers, ranges, strings
        expr = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", " ", expr)  # grouping labels
        names |= set(re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", expr))
    return {n for n in names if n not in FUNCTIONS_AND_KEYWORDS | PROMETHEUS_OWN and not n[0].isdigit()}


def exposed(text: str) -> set[str]:
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            names.add(name)
            if kind == "histogram":
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def test_dashboard_and_alerts_query_only_metrics_the_apps_expose(
    database_url: str, start_consumer: Callable[..., ConsumerProcess], tmp_path: Path
) -> None:
    consumer = start_consumer()
    consumer.wait_ready()
    with start_api(database_url, tmp_path / "api") as api:
        httpx.get(f"{api.url}/api/v1/couriers", timeout=10)  # so request metrics have samples
        scraped = exposed(httpx.get(f"{api.url}/metrics", timeout=10).text) | exposed(consumer.metrics())
        assert api.stop() == 0
    missing = queried_metrics() - scraped
    assert not missing, f"the dashboard or alerts query metrics nobody exposes: {sorted(missing)}"


def test_the_parser_finds_the_metric_names() -> None:
    assert {
        "courier_http_requests_total",
        "courier_kafka_consumer_lag",
        "courier_http_request_duration_seconds_bucket",
    } <= queried_metrics()
    assert "sum" not in queried_metrics() and "path" not in queried_metrics()


pytestmark = pytest.mark.e2e
