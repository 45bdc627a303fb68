"""Case 3: assignment latency with few vs many couriers, and list paging deep into the table."""

from __future__ import annotations

import logging
from typing import Any

from bench import wrk
from bench.processes import ServerError
from bench.runner import Context, measure

log = logging.getLogger("bench.scale")
GROWTH_TARGET = 1.3


def run(ctx: Context) -> None:
    plan = ctx.plan
    sizes = {"small": plan.scale_small, "large": plan.scale_large}
    assign: dict[str, Any] = {}
    pages: list[dict[str, Any]] = []
    # Both databases first, so that seeding one never runs while the other is measured.
    urls = {label: ctx.pg.database(f"bench_scale_{label}", couriers=n) for label, n in sizes.items()}
    for label, couriers in sizes.items():
        url = urls[label]
        server = ctx.courier_api(url, 1)
        try:
            server.start()
        except ServerError as exc:
            ctx.fail(f"scale ({couriers} couriers): {exc}")
            continue
        try:
            assign[label] = {"couriers": couriers, **_assign(ctx, server)}
            if label == "large":
                pages = _pages(ctx, server, couriers)
        except wrk.WrkError as exc:
            ctx.fail(f"scale ({couriers} couriers): {exc}")
        finally:
            server.stop()
    ctx.results["scale"] = {"assign": assign, "pages": pages, **_verdicts(assign, pages)}


def _assign(ctx: Context, server: Any) -> dict[str, Any]:
    plan = ctx.plan
    figures = measure(
        ctx,
        server,
        "assign_unassign",
        args=("1", "0"),
        connections=plan.scale_connections,
        duration=plan.scale_duration,
    )
    if figures["non_2xx"]:
        ctx.fail(f"scale assign on {server.name}: {figures['non_2xx']} non-2xx {figures['statuses']}")
    return figures


def _pages(ctx: Context, server: Any, couriers: int) -> list[dict[str, Any]]:
    """The same page size at the start, the middle and the end of the table (keyset: flat)."""
    plan = ctx.plan
    out = []
    for after in (0, couriers // 2, couriers - 100):
        figures = measure(
            ctx,
            server,
            "list",
            args=(str(couriers), str(after)),
            connections=plan.scale_connections,
            duration=plan.page_duration,
        )
        if figures["non_2xx"]:
            ctx.fail(f"deep paging after {after}: {figures['non_2xx']} non-2xx")
        out.append({"after_id": after, **figures})
    return out


def _verdicts(assign: dict[str, Any], pages: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "small" in assign and "large" in assign and assign["small"]["p50_ms"]:
        growth = assign["large"]["p50_ms"] / assign["small"]["p50_ms"]
        out["assign_p50_growth"] = round(growth, 3)
        out["assign_met"] = growth < GROWTH_TARGET
    if pages and min(p["p50_ms"] for p in pages):
        growth = max(p["p50_ms"] for p in pages) / min(p["p50_ms"] for p in pages)
        out["pages_p50_growth"] = round(growth, 3)
        out["pages_met"] = growth < GROWTH_TARGET
    return out
