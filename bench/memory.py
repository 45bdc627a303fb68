"""Case 5: RSS of each API worker after the run, and after another N requests (a leak shows here)."""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any

from bench import wrk
from bench.processes import Server, rss_mib
from bench.runner import Context, load

log = logging.getLogger("bench.memory")
NOISE_MIB = 4.0
NOISE_SHARE = 0.05


def within_noise(before: float, after: float) -> bool:
    """Growth of at most 4 MiB or 5 %, whichever is larger, is noise (allocator, caches)."""
    return after - before <= max(NOISE_MIB, NOISE_SHARE * before)


def _time_left(started: float, done: int, plan: Any) -> bool:
    """Within the budget, or one more round finishes the count (the budget is a guard, not a goal)."""
    elapsed = time.monotonic() - started
    if elapsed < plan.soak_budget:
        return True
    rate = done / elapsed if elapsed else 0.0
    return rate > 0 and (plan.soak_requests - done) / rate <= plan.soak_round


def soak(ctx: Context, server: Server) -> dict[str, Any]:
    """Mixed requests in rounds until ``plan.soak_requests`` (bounded by ``plan.soak_budget``)."""
    plan = ctx.plan
    pids = server.workers()
    after_run = {pid: rss_mib(pid) for pid in pids}
    middle: dict[int, float] = {}
    total = non_2xx = socket_errors = 0
    statuses: Counter[str] = Counter()
    started = time.monotonic()
    while total < plan.soak_requests and _time_left(started, total, plan):
        try:
            result = wrk.run(
                server.base_url, load(ctx, "mixed", args=(str(plan.couriers),), duration=plan.soak_round)
            )
        except wrk.WrkError as exc:
            ctx.fail(f"memory soak on {server.name}: {exc}")
            break
        total += result.requests
        non_2xx += result.non_2xx
        statuses.update(result.statuses)
        socket_errors += result.socket_errors
        if not middle and total >= plan.soak_requests / 2:
            middle = {pid: rss_mib(pid) for pid in pids}
    seconds = time.monotonic() - started
    after_soak = {pid: rss_mib(pid) for pid in pids}
    if non_2xx:
        ctx.fail(f"memory soak: {non_2xx} non-2xx answers (statuses {dict(statuses)})")
    if total < plan.soak_requests:
        ctx.fail(
            f"memory soak: only {total} of {plan.soak_requests} requests within {plan.soak_budget:.0f} s"
        )
    workers = [
        {
            "pid": pid,
            "rss_after_run_mib": after_run[pid],
            "rss_middle_mib": middle.get(pid),
            "rss_after_soak_mib": after_soak[pid],
            "growth_mib": round(after_soak[pid] - after_run[pid], 1),
            "within_noise": within_noise(after_run[pid], after_soak[pid]),
        }
        for pid in pids
    ]
    log.info("memory soak: %d requests in %.0f s; %s", total, seconds, workers)
    return {
        "server": server.name,
        "requests": total,
        "seconds": round(seconds, 1),
        "non_2xx": non_2xx,
        "statuses": dict(statuses),
        "socket_errors": socket_errors,
        "workers": workers,
        "met": all(w["within_noise"] for w in workers) and total >= plan.soak_requests,
    }
