"""What every case shares: the plan, the database server, where logs go, and one measured wrk run."""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import processes, wrk
from bench.database import BenchPostgres
from bench.plan import Plan
from bench.processes import Server

log = logging.getLogger("bench")


@dataclass
class Context:
    """One benchmark run in progress."""

    plan: Plan
    pg: BenchPostgres
    work_dir: Path
    results_dir: Path
    results: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    _tags: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def log_dir(self) -> Path:
        path = self.work_dir / "logs"
        path.mkdir(parents=True, exist_ok=True)  # whichever section runs first (``--only``) finds it
        return path

    @property
    def profile_dir(self) -> Path:
        """py-spy's raw stacks (collapsed format, for flame graph tools)."""
        path = self.results_dir / ("profiles-smoke" if self.plan.smoke else "profiles")
        path.mkdir(parents=True, exist_ok=True)
        return path

    def tag(self) -> str:
        """A number that keeps the ids (orders, phones) of one wrk run apart from every other's."""
        return str(next(self._tags))

    def courier_api(self, database_url: str, workers: int, env: dict[str, str] | None = None) -> Server:
        return processes.courier_api(
            database_url=database_url,
            workers=workers,
            log_dir=self.log_dir,
            data_dir=self.work_dir / "data",
            env=env,
        )

    def ceiling(self, database_url: str, workers: int, *, plain: bool = False) -> Server:
        return processes.ceiling(
            database_url=database_url, workers=workers, log_dir=self.log_dir, plain=plain
        )

    def fail(self, what: str) -> None:
        log.error("FAILED: %s", what)
        self.failures.append(what)


def load(
    ctx: Context, script: str, *, args: tuple[str, ...], duration: float | None = None, **kw: Any
) -> wrk.Load:
    """A wrk load of ``script`` with a fresh tag; ``args`` follow the tag (max_id, extra)."""
    return wrk.Load(
        script=script,
        duration=ctx.plan.duration if duration is None else duration,
        connections=kw.pop("connections", ctx.plan.connections),
        args=(ctx.tag(), *args),
        **kw,
    )


def measure(ctx: Context, server: Server, script: str, *, args: tuple[str, ...], **kw: Any) -> dict[str, Any]:
    """Warm up, then one measured run; adds the workers' CPU µs per request to wrk's figures."""
    warmup = kw.pop("warmup", ctx.plan.warmup)
    duration = kw.pop("duration", None)
    if warmup > 0:
        wrk.run(server.base_url, load(ctx, script, args=args, duration=warmup, **dict(kw)))
    pids = server.workers()
    before = sum(processes.cpu_seconds(p) for p in pids)
    result = wrk.run(server.base_url, load(ctx, script, args=args, duration=duration, **kw))
    used = sum(processes.cpu_seconds(p) for p in pids) - before
    figures = result.to_json()
    figures["cpu_us_per_request"] = round(used / result.requests * 1e6, 1) if result.requests else None
    figures["connections"] = kw.get("connections", ctx.plan.connections)
    log.info(
        "%-18s %-9s %8.0f req/s  p50 %6.2f ms  p99 %7.2f ms  non-2xx %d  socket errors %d  cpu %s µs/req",
        script,
        server.name,
        result.rps,
        result.p50_ms,
        result.p99_ms,
        result.non_2xx,
        result.socket_errors,
        figures["cpu_us_per_request"],
    )
    return figures
