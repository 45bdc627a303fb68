"""Pure parts of the benchmark harness: wrk's summary, the ceiling's pool, the report, the verdicts."""

from __future__ import annotations

import json

import pytest

from bench import ceiling, http_cases, lock_waits, markdown, memory, report, wrk
from bench.plan import FULL, SMOKE
from courier_adapters.postgres.database import PostgresDatabase

SUMMARY = {
    "requests": 1000,
    "duration_us": 2_000_000,
    "bytes": 1,
    "p50_us": 1500,
    "p90_us": 2000,
    "p99_us": 9000,
    "max_us": 12000,
    "mean_us": 1600.0,
    "errors": {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 2},
    "statuses": {"200": 990, "409": 10},
}


def test_reads_wrks_summary_line_among_its_other_output() -> None:
    result = wrk.parse("Running 2s test\n" + wrk.MARKER + json.dumps(SUMMARY) + "\nRequests/sec: 500\n")

    assert (result.requests, result.rps, result.p50_ms, result.p99_ms) == (1000, 500.0, 1.5, 9.0)
    assert result.non_2xx == 10
    assert result.socket_errors == 2


def test_without_counted_statuses_non_2xx_is_wrks_status_errors() -> None:
    result = wrk.parse(wrk.MARKER + json.dumps({**SUMMARY, "statuses": {}, "errors": {"status": 7}}))

    assert result.non_2xx == 7


def test_a_run_without_summary_is_an_error() -> None:
    with pytest.raises(wrk.WrkError, match="no summary"):
        wrk.parse("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_every_case_script_is_common_lua_plus_its_own() -> None:
    for case in http_cases.CASES:
        text = wrk.script_text(case.script)
        assert "function done(" in text
        assert "function request()" in text


def test_ceiling_pool_is_built_like_postgres_database() -> None:
    url = "postgresql://bench@127.0.0.1:1/bench"
    ours = PostgresDatabase(url).pool
    theirs = ceiling.pool_arguments(url)

    assert (ours.min_size, ours.max_size, ours.timeout, ours.reconnect_timeout, ours.name) == (
        theirs["min_size"],
        theirs["max_size"],
        theirs["timeout"],
        theirs["reconnect_timeout"],
        theirs["name"],
    )
    assert ours.kwargs == theirs["kwargs"]


def test_ratios_compare_courier_with_the_ceiling_of_the_same_workers() -> None:
    rows = [
        {"case": "read", "target": "ceiling", "workers": 1, "rps": 1000.0, "cpu_us_per_request": 200.0},
        {"case": "read", "target": "courier", "workers": 1, "rps": 900.0, "cpu_us_per_request": 220.0},
        {"case": "read", "target": "ceiling", "workers": 2, "rps": 2000.0, "cpu_us_per_request": 210.0},
        {"case": "read", "target": "courier", "workers": 2, "rps": 1000.0, "cpu_us_per_request": 400.0},
    ]

    found = {(r["workers"], r["ratio"], r["met"]) for r in http_cases.ratios(rows)}

    assert found == {(1, 0.9, True), (2, 0.5, False)}


def test_memory_growth_within_noise_is_four_mib_or_five_percent() -> None:
    assert memory.within_noise(50.0, 54.0)  # 4 MiB is more than 5 % of 50
    assert not memory.within_noise(50.0, 54.5)
    assert memory.within_noise(200.0, 210.0)  # 5 % of 200
    assert not memory.within_noise(200.0, 210.5)


def test_smoke_plan_is_a_shorter_full_plan() -> None:
    assert SMOKE.smoke and not FULL.smoke
    assert SMOKE.duration < FULL.duration
    assert FULL.duration >= 10 and FULL.connections == 64
    assert FULL.scale_small == 1_000 and FULL.scale_large == 1_000_000
    assert FULL.soak_requests == 1_000_000


def test_report_renders_partial_results_and_lists_failures() -> None:
    results = {
        "meta": report.meta(command="make bench", postgres="18", load_before="0.1 0.1 0.1"),
        "plan": SMOKE.to_json(),
        "ratios": [
            {
                "case": "read",
                "workers": 1,
                "courier_rps": 900.0,
                "ceiling_rps": 1000.0,
                "ratio": 0.9,
                "target": 0.85,
                "met": True,
                "cpu_us_courier": 1.0,
                "cpu_us_ceiling": 1.0,
            },
        ],
        "failures": ["events with 2 consumer(s): 10 of 300 events applied within 40 s"],
        "skipped": [],
    }
    results["targets"] = report.targets(results)

    text = markdown.render(results)

    assert "| read ≥ 0.85 of the ceiling (1 worker(s)) | 0.90 | ✅ met |" in text
    assert "events with 2 consumer(s): 10 of 300" in text
    assert "## Method" in text


def test_soak_may_overrun_its_budget_by_one_round_only_to_finish_the_count() -> None:
    import time
    from dataclasses import replace

    plan = replace(SMOKE, soak_requests=100, soak_budget=10.0, soak_round=2.0)
    eleven_seconds_ago = time.monotonic() - 11

    assert memory._time_left(time.monotonic(), 0, plan)  # within the budget
    assert memory._time_left(eleven_seconds_ago, 95, plan)  # 5 left at ~8.6/s: one round does it
    assert not memory._time_left(eleven_seconds_ago, 10, plan)  # 90 left at ~0.9/s: stop


def test_a_partial_run_replaces_its_sections_and_keeps_the_full_runs_figures() -> None:
    full = {
        "meta": {"command": "make bench", "date": "2026-11-25T01:58:32Z"},
        "http": {"rows": [1, 2]},
        "cli_startup": {"get": {"median_s": 1.0}},
        "failures": ["an old failure"],
        "skipped": [],
    }
    partial = {
        "meta": {"command": "python -m bench run --only cli", "date": "2026-12-04T00:52:50Z"},
        "cli_startup": {"get": {"median_s": 0.5}},
        "failures": [],
        "skipped": ["a skipped case"],
    }
    merged = report.merge(full, partial, ["cli_startup"])
    assert merged["meta"] == full["meta"] and merged["http"] == full["http"]
    assert merged["cli_startup"] == {
        "get": {"median_s": 0.5},
        "measured_by": "python -m bench run --only cli, 2026-12-04",
    }
    assert (merged["failures"], merged["skipped"]) == (["an old failure"], ["a skipped case"])


def test_lock_waits_are_mean_backends_per_sample_and_rendered_per_run() -> None:
    sampler = lock_waits.Sampler("postgresql://unused")
    sampler.samples = 4
    sampler.counts.update({"CPU": 6, "Lock:advisory": 2, "IO:WALSync": 1})
    assert sampler.to_json() == {
        "samples": 4,
        "mean_backends": {"CPU": 1.5, "Lock:advisory": 0.5, "IO:WALSync": 0.25},
    }
    results = {
        "locks": {
            "workers": 2,
            "runs": {"on": {"rps": 900.0, "p50_ms": 60.0, "p99_ms": 90.0, **sampler.to_json()}},
            "stream_latency_ms": {"samples": 5, "p50": 150.0, "p90": 240.0, "max": 260.0},
        }
    }
    text = markdown.render(results)
    assert "## Where writers wait" in text
    assert (
        "| synchronous_commit=on | 900.0 | 60.0 | 90.0 | 4 | CPU 1.5; IO:WALSync 0.25; Lock:advisory 0.5 |"
        in text
    )
    assert "p50 150.0 ms, p90 240.0 ms" in text


def test_the_plain_ceiling_has_its_own_ratios_and_targets() -> None:
    row = {"title": "t", "p50_ms": 1.0, "p99_ms": 2.0, "non_2xx": 0, "socket_errors": 0}
    rows = [
        {**row, "case": "assign_unassign", "target": "courier", "workers": 1, "rps": 600.0},
        {**row, "case": "assign_unassign", "target": "ceiling", "workers": 1, "rps": 700.0},
        {**row, "case": "assign_unassign", "target": "plain", "workers": 1, "rps": 1000.0},
    ]
    [plain] = http_cases.ratios(rows, against="plain")
    assert (plain["ratio"], plain["target"], plain["met"]) == (0.6, 0.75, False)
    [own] = http_cases.ratios(rows)
    assert (own["ratio"], own["target"], own["met"]) == (0.857, 0.8, True)
    results = {"http": rows, "ratios": [own], "plain_ratios": [plain]}
    assert "assign_unassign ≥ 0.75 of the plain ceiling (1 worker(s))" in {
        t["target"] for t in report.targets(results)
    }
    assert "### courier against the plain ceiling" in markdown.render(results)


def test_a_cell_that_is_not_text_stays_text() -> None:
    assert markdown.table(("a",), [("other (\x00\x07x|y)",)]).splitlines()[-1] == "| other (??x\\|y) |"
