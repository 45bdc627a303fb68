"""The dashboard and the alert rules query only metrics courier defines, by their ``courier_`` names."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import generate_latest

from courier_adapters.metrics import scrape_registry
from courier_adapters.metrics.names import LEGACY_NAMES
from tests.e2e.consumer.test_observability import exposed, queried_metrics
from tests.unit.http.test_metric_names import every_metric


def defined() -> set[str]:
    """Every sample name courier exports with ``COURIER_METRICS_LEGACY_NAMES=false``."""
    return exposed(generate_latest(scrape_registry(every_metric(), legacy_names=False)).decode())


def test_the_dashboard_and_alerts_query_only_metrics_that_exist() -> None:
    missing = queried_metrics() - defined()
    assert not missing, f"the dashboard or alerts query metrics courier does not define: {sorted(missing)}"


def test_the_dashboard_and_alerts_use_no_legacy_name() -> None:
    queried = queried_metrics()
    legacy = {
        name
        for name in queried
        for old in LEGACY_NAMES
        if name == old
        or (
            name.startswith(f"{old}_") and name.removeprefix(f"{old}_") in {"total", "bucket", "sum", "count"}
        )
    }
    assert not legacy, f"legacy names in the dashboard or alerts: {sorted(legacy)}"
    assert all(name.startswith("courier_") for name in queried), sorted(queried)
    assert {"courier_couriers", "courier_waiting_orders", "courier_http_requests_total"} <= queried


def test_the_readme_lists_every_rename() -> None:
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    kinds = {family.name: family.type for family in every_metric().collect()}
    for old, new in LEGACY_NAMES.items():
        suffix = "_total" if kinds[new] == "counter" else ""
        assert f"| `{old}{suffix}` | `{new}{suffix}` |" in readme, old
