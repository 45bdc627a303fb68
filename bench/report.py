"""The results: ``bench/results/latest.json`` and the markdown of ``docs/benchmarks.md``."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.markdown import render

ROOT = Path(__file__).resolve().parent.parent
API_SETTINGS = {
    "COURIER_HTTP_WORKERS": "1, then 2",
    "COURIER_RATE_LIMIT_SCOPE": "off (the only change from the defaults)",
    "scale-out's limiter rows": "COURIER_RATE_LIMIT_SCOPE=ip, CAPACITY and REFILL_PER_SECOND 10⁹ "
    "(nothing refused), in each process or COURIER_RATE_LIMIT_REDIS_URL (the run's own redis-server)",
    "COURIER_LOG_LEVEL / COURIER_LOG_FORMAT": "INFO / json (access log on, to a file)",
    "COURIER_DB_POOL_MIN / MAX": "1 / 10",
    "COURIER_DB_STATEMENT_TIMEOUT": "5s",
    "metrics": "on (GET /metrics, prometheus-client)",
}


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _cpu_model() -> str:
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 2**20, 1)
    return 0.0


def _git(*args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip()


def _wrk_version() -> str:
    try:
        done = subprocess.run(["wrk", "--version"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    words = (done.stdout or done.stderr).split()
    return " ".join(words[:2])


def meta(*, command: str, postgres: str, load_before: str) -> dict[str, Any]:
    """Machine, commit, versions and settings of this run."""
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "command": command,
        "commit": _git("rev-parse", "--short", "HEAD"),
        "dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "machine": {
            "cpu": _cpu_model(),
            "cores": os.cpu_count(),
            "memory_gib": _memory_gib(),
            "kernel": platform.release(),
            "load_average_before": load_before,
        },
        "python": platform.python_version(),
        "postgresql": postgres,
        "wrk": _wrk_version(),
        "settings": API_SETTINGS,
    }


def load_average() -> str:
    return " ".join(_read("/proc/loadavg").split()[:3])


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target of the issue with the figure measured and whether it is met."""
    out: list[dict[str, Any]] = []
    for key, what in (("ratios", "the ceiling"), ("plain_ratios", "the plain ceiling")):
        for ratio in results.get(key, []):
            if ratio["target"] is not None:
                out.append(
                    {
                        "target": f"{ratio['case']} ≥ {ratio['target']:.2f} of {what} ({ratio['workers']} worker(s))",
                        "measured": f"{ratio['ratio']:.2f}",
                        "met": ratio["met"],
                    }
                )
    scale = results.get("scale", {})
    sizes = [scale.get("assign", {}).get(k, {}).get("couriers", 0) for k in ("small", "large")]
    if "assign_p50_growth" in scale:
        out.append(
            {
                "target": f"assign p50 grows < 1.3x from {sizes[0]:,} to {sizes[1]:,} couriers",
                "measured": f"{scale['assign_p50_growth']:.2f}x",
                "met": scale["assign_met"],
            }
        )
    if "pages_p50_growth" in scale:
        out.append(
            {
                "target": "list p50 flat deep into the table (< 1.3x)",
                "measured": f"{scale['pages_p50_growth']:.2f}x",
                "met": scale["pages_met"],
            }
        )
    events = results.get("events")
    if events:
        two = next((r for r in events["runs"] if r["consumers"] == 2), None)
        out.append(
            {
                "target": "≥ 2,500 events/s with 2 consumers, exactly once in effect",
                "measured": "not run"
                if two is None
                else f"{two['events_per_s']:.0f}/s, exactly once: {two['exactly_once']}",
                "met": events["met"],
            }
        )
    for case in results.get("cli_startup", {}).values():
        if not isinstance(case, dict):
            continue
        out.append(
            {
                "target": f"`{case['command']}` within {case['target_s']} s (median)",
                "measured": f"{case['median_s']:.3f} s",
                "met": case["met"],
            }
        )
    memory = results.get("memory")
    if memory:
        growth = ", ".join(f"{w['growth_mib']:+.1f} MiB" for w in memory["workers"])
        out.append(
            {
                "target": f"no RSS growth beyond noise over {memory['requests']:,} more requests",
                "measured": growth,
                "met": memory["met"],
            }
        )
    return out


def merge(earlier: dict[str, Any], partial: dict[str, Any], sections: list[str]) -> dict[str, Any]:
    """A run of some sections (``--only``) folded into the full run it completes: its sections replace
    the earlier ones, each saying which run measured it; everything else (the full run's meta, its other
    sections) is kept, so that a partial run never loses the figures it did not measure."""
    merged = dict(earlier)
    measured_by = f"{partial['meta']['command']}, {partial['meta']['date'][:10]}"
    for section in sections:
        value = partial[section]
        merged[section] = {**value, "measured_by": measured_by} if isinstance(value, dict) else value
    merged["failures"] = [*earlier.get("failures", []), *partial["failures"]]
    merged["skipped"] = [*earlier.get("skipped", []), *partial["skipped"]]
    return merged


def write(results: dict[str, Any], *, json_path: Path, markdown_path: Path) -> None:
    import json

    results["targets"] = targets(results)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n")
    markdown_path.parent.mkdir(parents=True, exist_ok=True)
    markdown_path.write_text(render(results))
