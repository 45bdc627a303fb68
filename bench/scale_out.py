"""Case 7: scale-out. 1, 2 and 3 courier-api processes (1 worker each, each its own port, all on one
database) for a read and an assign+unassign pair; then the rate limit on, so high that nothing is
refused, kept in each process or shared in Redis (a redis-server of the run's own), for the read.

One wrk drives all the processes of a run: its threads are spread over their ports (``bench/lua/
hosts.lua``: thread i connects to process i mod N), so connections divide evenly and p50/p99 come
from one histogram. Processes are started one by one as N grows (no idle process during a run).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from bench import processes, wrk
from bench.processes import Server, ServerError, http_get
from bench.redis_server import RedisError, RedisServer, redis_server
from bench.runner import Context, load

log = logging.getLogger("bench.scale_out")

CASES = (
    ("read", "GET /api/v1/courier/{id}"),
    ("assign_unassign", "POST /api/v1/delivery/assign, then unassign"),
)
LIMITED_CASE = "read"
# Nothing is ever refused: what is measured is the limiter's cost, not 429s.
NEVER_REFUSED = {
    "COURIER_RATE_LIMIT_SCOPE": "ip",
    "COURIER_RATE_LIMIT_CAPACITY": "1000000000",
    "COURIER_RATE_LIMIT_REFILL_PER_SECOND": "1000000000",
}


@dataclass(frozen=True)
class Spread:
    """One wrk over ``processes`` servers: ``threads`` threads, ``connections`` opened in all."""

    processes: int
    threads: int
    connections: int

    @property
    def per_process(self) -> int:
        return self.connections // self.processes


def spread(connections: int, processes: int, min_threads: int = 2) -> Spread:
    """The fewest threads that are a multiple of ``processes`` and at least ``min_threads`` (the other
    cases' 2), each with the same share of ``connections`` (wrk opens connections // threads a thread,
    so a remainder is dropped, never put on one process)."""
    if processes < 1 or min_threads < 1:
        raise ValueError("processes and min_threads must be at least 1")
    threads = processes * -(-min_threads // processes)
    if connections < threads:
        raise ValueError(f"{connections} connections cannot spread over {threads} threads")
    return Spread(processes=processes, threads=threads, connections=connections // threads * threads)


def run(ctx: Context) -> None:
    url = ctx.pg.database("bench_scale_out", couriers=ctx.plan.couriers)
    rows = _processes(ctx, url)
    limiter = _limiters(ctx, url, rows)
    ctx.results["scale_out"] = {
        "processes": rows,
        "speedup": speedups(rows),
        "limiter": limiter,
        "limiter_cost": limiter_costs(limiter),
        "rate_limit": NEVER_REFUSED,
    }


@contextmanager
def _fleet() -> Iterator[list[Server]]:
    """The servers of one variant, started by :func:`_grow`; all stopped at the end."""
    servers: list[Server] = []
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()


def _grow(ctx: Context, servers: list[Server], n: int, url: str, label: str, env: dict[str, str]) -> None:
    """Start processes (1 worker each) until there are ``n``; raises ServerError when one does not serve."""
    while len(servers) < n:
        server = ctx.courier_api(url, 1, env=env)
        server.name = f"courier-api #{len(servers) + 1} ({label})"
        server.start()
        servers.append(server)
        status, body = http_get(server.base_url + "/api/v1/courier/1")
        if status != 200:
            raise ServerError(f"{server.name} answers GET /api/v1/courier/1 with {status}: {body[:200]!r}")


def _processes(ctx: Context, url: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    label = "rate limit off"
    with _fleet() as servers:
        for n in ctx.plan.scale_out_processes:
            try:
                _grow(ctx, servers, n, url, label, {})
            except ServerError as exc:
                ctx.fail(f"scale-out with {n} process(es): {exc}")
                break
            for script, title in CASES:
                figures = _measure(ctx, servers[:n], script, label)
                if figures is not None:
                    rows.append({"case": script, "title": title, "processes": n, **figures})
    return rows


def _limiters(ctx: Context, url: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The read with the rate limit off (the rows above), in each process, and in Redis."""
    wanted = ctx.plan.scale_out_limiter_processes
    out = [{**r, "limiter": "off"} for r in rows if r["case"] == LIMITED_CASE and r["processes"] in wanted]
    out += _limited(ctx, url, "in-process", NEVER_REFUSED, None)
    try:
        with redis_server(ctx.log_dir) as redis:
            env = {**NEVER_REFUSED, "COURIER_RATE_LIMIT_REDIS_URL": redis.url}
            out += _limited(ctx, url, "redis", env, redis)
    except RedisError as exc:
        ctx.skipped.append(f"scale-out with the Redis rate limit: {exc}")
    return out


def _limited(
    ctx: Context, url: str, limiter: str, env: dict[str, str], redis: RedisServer | None
) -> list[dict[str, Any]]:
    rows = []
    label = f"rate limit {limiter}"
    with _fleet() as servers:
        for n in ctx.plan.scale_out_limiter_processes:
            try:
                _grow(ctx, servers, n, url, label, env)
            except ServerError as exc:
                ctx.fail(f"scale-out {label} with {n} process(es): {exc}")
                break
            figures = _measure(ctx, servers[:n], LIMITED_CASE, label, redis=redis)
            if figures is not None:
                rows.append({"case": LIMITED_CASE, "processes": n, "limiter": limiter, **figures})
    return rows


def _measure(
    ctx: Context, servers: Sequence[Server], script: str, label: str, *, redis: RedisServer | None = None
) -> dict[str, Any] | None:
    """Warm up, then one measured wrk over all ``servers``; CPU µs per request of all their workers
    (and of redis-server, when given). None (and a failure) when wrk fails."""
    plan = ctx.plan
    layout = spread(plan.connections, len(servers))
    ports = tuple(s.port for s in servers)
    what = f"scale-out {script} on {len(servers)} process(es), {label}"
    kw: dict[str, Any] = {"connections": layout.connections, "threads": layout.threads, "ports": ports}
    args = (str(plan.couriers), "0")
    try:
        if plan.warmup > 0:
            wrk.run(servers[0].base_url, load(ctx, script, args=args, duration=plan.warmup, **kw))
        pids = [p for s in servers for p in s.workers()]
        before = [processes.cpu_seconds(p) for p in pids]
        redis_before = processes.cpu_seconds(redis.pid) if redis else 0.0
        result = wrk.run(servers[0].base_url, load(ctx, script, args=args, **kw))
        used = [processes.cpu_seconds(p) - b for p, b in zip(pids, before, strict=True)]
        redis_used = processes.cpu_seconds(redis.pid) - redis_before if redis else 0.0
    except (wrk.WrkError, OSError) as exc:
        ctx.fail(f"{what}: {exc}")
        return None
    figures = result.to_json()
    figures["connections"] = layout.connections
    figures["threads"] = layout.threads
    figures["cpu_us_per_request"] = per_request(sum(used), result.requests)
    # Each process's share of the CPU used: shows whether the load was spread evenly.
    figures["cpu_shares"] = [round(u / sum(used), 3) if sum(used) else None for u in used]
    figures["redis_cpu_us_per_request"] = per_request(redis_used, result.requests) if redis else None
    if figures["non_2xx"]:
        ctx.fail(f"{what}: {figures['non_2xx']} non-2xx answers {figures['statuses']}")
    log.info(
        "%-40s %8.0f req/s  p50 %6.2f ms  p99 %7.2f ms  non-2xx %d  cpu %s µs/req  redis %s µs/req",
        what,
        result.rps,
        result.p50_ms,
        result.p99_ms,
        result.non_2xx,
        figures["cpu_us_per_request"],
        figures["redis_cpu_us_per_request"],
    )
    return figures


def per_request(cpu_seconds: float, requests: int) -> float | None:
    return round(cpu_seconds / requests * 1e6, 1) if requests else None


def speedups(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """req/s with N processes over req/s with the fewest, per case."""
    out = []
    for case, _ in CASES:
        mine = sorted((r for r in rows if r["case"] == case), key=lambda r: r["processes"])
        if not mine or not mine[0]["rps"]:
            continue
        base = mine[0]
        out += [
            {
                "case": case,
                "processes": r["processes"],
                "rps": r["rps"],
                "speedup": round(r["rps"] / base["rps"], 2),
                "per_process_rps": round(r["rps"] / r["processes"], 1),
            }
            for r in mine
        ]
    return out


def _us(rps: float) -> float:
    return 1e6 / rps


def limiter_costs(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per process count: what the in-process limiter adds to no limit, and what Redis adds to the
    in-process limiter, as courier CPU µs per request (the workers' CPU over the requests served),
    as wall µs per request (difference of 1/throughput), and redis-server's own CPU µs per request."""
    by = {(r["limiter"], r["processes"]): r for r in rows}
    out = []
    for n in sorted({r["processes"] for r in rows}):
        off, local, shared = by.get(("off", n)), by.get(("in-process", n)), by.get(("redis", n))
        out.append(
            {
                "processes": n,
                "in_process_cpu_us": _difference(local, off, "cpu_us_per_request"),
                "in_process_wall_us": _wall(local, off),
                "redis_cpu_us": _difference(shared, local, "cpu_us_per_request"),
                "redis_wall_us": _wall(shared, local),
                "redis_server_cpu_us": shared.get("redis_cpu_us_per_request") if shared else None,
                "redis_rps_ratio": round(shared["rps"] / local["rps"], 3)
                if shared and local and local["rps"]
                else None,
            }
        )
    return out


def _difference(a: dict[str, Any] | None, b: dict[str, Any] | None, key: str) -> float | None:
    if a is None or b is None or a.get(key) is None or b.get(key) is None:
        return None
    return round(float(a[key]) - float(b[key]), 1)


def _wall(a: dict[str, Any] | None, b: dict[str, Any] | None) -> float | None:
    if a is None or b is None or not a["rps"] or not b["rps"]:
        return None
    return round(_us(a["rps"]) - _us(b["rps"]), 1)
