"""Case 1, 2, 5 and 6: the HTTP cases against courier-api and the ceiling, their ratios, the memory
soak, and the per-layer profile, all from one pass over the servers (1 worker, then 2)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from bench import memory, profile, wrk
from bench.processes import Server, ServerError, cpu_seconds, http_get
from bench.runner import Context, load, measure

log = logging.getLogger("bench.http")


@dataclass(frozen=True)
class Case:
    name: str
    title: str
    script: str
    ceiling_target: float | None = None
    plain_target: float | None = None  # against the plain ceiling (the seed's SQL, no journal)


CASES = (
    Case("read", "GET /api/v1/courier/{id} (random ids)", "read", 0.90),
    Case("list", "GET /api/v1/couriers?limit=50", "list"),
    Case("assign_unassign", "POST /api/v1/delivery/assign, then unassign", "assign_unassign", 0.80, 0.75),
    Case("create", "POST /api/v1/courier (distinct phones)", "create"),
)
PLAIN_CASES = ("assign_unassign",)  # what the plain ceiling serves differently from the ceiling
PROFILED = ("read", "assign_unassign")


def run(ctx: Context, url: str) -> None:
    """Every HTTP case on both servers, for each worker count; fills ``ctx.results``."""
    rows: list[dict[str, Any]] = []
    profiles: dict[str, dict[str, Any]] = {}
    for workers in ctx.plan.workers:
        for target in ("ceiling", "plain", "courier"):
            if target == "courier":
                server = ctx.courier_api(url, workers)
            else:
                server = ctx.ceiling(url, workers, plain=target == "plain")
            try:
                server.start()
            except ServerError as exc:
                ctx.fail(f"{server.name} did not start: {exc}")
                continue
            try:
                if _serves(ctx, server):
                    rows += _cases(ctx, server, target=target, workers=workers)
                    if workers == min(ctx.plan.workers) and target != "plain":
                        profiles[target] = _profile(ctx, server)
                    if target == "courier" and workers == max(ctx.plan.workers):
                        ctx.results["memory"] = memory.soak(ctx, server)
            finally:
                server.stop()
    ctx.results["http"] = rows
    ctx.results["ratios"] = ratios(rows)
    ctx.results["plain_ratios"] = ratios(rows, against="plain")
    ctx.results["profile"] = profiles


def _serves(ctx: Context, server: Server) -> bool:
    status, body = http_get(server.base_url + "/api/v1/courier/1")
    if status != 200:
        ctx.fail(f"{server.name} answers GET /api/v1/courier/1 with {status}: {body[:200]!r}")
        return False
    return True


def _cases(ctx: Context, server: Server, *, target: str, workers: int) -> list[dict[str, Any]]:
    rows = []
    for case in CASES:
        if target == "plain" and case.name not in PLAIN_CASES:
            continue
        try:
            figures = measure(ctx, server, case.script, args=(str(ctx.plan.couriers), "0"))
        except wrk.WrkError as exc:
            ctx.fail(f"{case.name} on {server.name}: {exc}")
            continue
        if figures["non_2xx"]:
            ctx.fail(
                f"{case.name} on {server.name}: {figures['non_2xx']} non-2xx answers {figures['statuses']}"
            )
        rows.append({"case": case.name, "title": case.title, "target": target, "workers": workers, **figures})
    return rows


def ratios(rows: list[dict[str, Any]], against: str = "ceiling") -> list[dict[str, Any]]:
    """courier's req/s over the ceiling's (or the plain ceiling's), per case and worker count,
    against the case's target."""
    by_key = {(r["case"], r["target"], r["workers"]): r for r in rows}
    out = []
    for case in CASES:
        goal = case.ceiling_target if against == "ceiling" else case.plain_target
        for (name, target, workers), row in by_key.items():
            if name != case.name or target != "courier":
                continue
            ceiling = by_key.get((name, against, workers))
            if ceiling is None or not ceiling["rps"]:
                continue
            ratio = round(row["rps"] / ceiling["rps"], 3)
            out.append(
                {
                    "case": name,
                    "workers": workers,
                    "courier_rps": row["rps"],
                    "ceiling_rps": ceiling["rps"],
                    "ratio": ratio,
                    "target": goal,
                    "met": None if goal is None else ratio >= goal,
                    "cpu_us_courier": row.get("cpu_us_per_request"),
                    "cpu_us_ceiling": ceiling.get("cpu_us_per_request"),
                }
            )
    return out


def _profile(ctx: Context, server: Server) -> dict[str, Any]:
    """py-spy over one worker while a case runs; the layers' µs per request."""
    out: dict[str, Any] = {}
    if profile.py_spy_command() is None:
        ctx.skipped.append("per-layer profile: py-spy (or uvx) is missing")
        return out
    pid = server.workers()[0]
    for name in PROFILED:
        before = cpu_seconds(pid)
        try:
            raw, result = profile.record(
                pid,
                ctx.plan.profile_duration,
                lambda name=name: wrk.run(  # type: ignore[misc]
                    server.base_url,
                    load(ctx, name, args=(str(ctx.plan.couriers), "0"), duration=ctx.plan.profile_duration),
                ),
            )
        except (RuntimeError, wrk.WrkError) as exc:
            ctx.fail(f"profile of {name} on {server.name}: {exc}")
            continue
        cpu_us = (cpu_seconds(pid) - before) / max(1, result.requests) * 1e6
        samples = profile.breakdown(raw)
        (ctx.profile_dir / f"{server.name.split()[0]}-{name}.txt").write_text(raw)
        out[name] = {
            "requests": result.requests,
            "rps_while_profiled": result.rps,
            "cpu_us_per_request": round(cpu_us, 1),
            "samples": sum(samples.values()),
            "layers": profile.per_request(samples, cpu_us),
        }
    return out
