"""Pure parts of the scale-out case: spreading wrk over processes, the derived figures, the report."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import markdown, redis_server, scale_out, wrk
from bench.__main__ import SECTIONS
from bench.plan import FULL, SMOKE


@pytest.mark.parametrize(
    ("connections", "processes", "threads", "opened", "per_process"),
    [
        (64, 1, 2, 64, 64),  # like every other case: 2 threads
        (64, 2, 2, 64, 32),
        (64, 3, 3, 63, 21),  # wrk opens 64 // 3 a thread: the remainder is dropped, not put on one
        (8, 3, 3, 6, 2),
    ],
)
def test_connections_divide_evenly_over_the_processes(
    connections: int, processes: int, threads: int, opened: int, per_process: int
) -> None:
    found = scale_out.spread(connections, processes)

    assert (found.threads, found.connections, found.per_process) == (threads, opened, per_process)
    assert found.threads % processes == 0


def test_more_threads_stay_a_multiple_of_the_processes() -> None:
    assert scale_out.spread(64, 3, min_threads=4).threads == 6
    assert scale_out.spread(64, 2, min_threads=3).threads == 4


def test_too_few_connections_for_the_threads_is_an_error() -> None:
    with pytest.raises(ValueError, match="cannot spread"):
        scale_out.spread(2, 3)
    with pytest.raises(ValueError, match="at least 1"):
        scale_out.spread(64, 0)


def test_a_spread_script_lists_the_ports_and_wraps_the_common_setup() -> None:
    text = wrk.script_text("read", (4101, 4102, 4103))

    assert text.startswith('bench_host = "127.0.0.1"\nbench_ports = {4101, 4102, 4103}\n')
    common, hosts = text.index("function setup("), text.rindex("function setup(")
    assert common < text.index("function request()") < hosts  # hosts.lua comes last, wrapping setup
    assert "thread.addr = wrk.lookup(bench_host" in text[hosts:]
    assert "bench_ports" not in wrk.script_text("read")  # the other cases are unchanged


def test_speedup_is_against_the_fewest_processes_per_case() -> None:
    rows = [
        {"case": "read", "processes": 2, "rps": 3000.0},
        {"case": "read", "processes": 1, "rps": 2000.0},
        {"case": "assign_unassign", "processes": 1, "rps": 0.0},  # no base: left out
    ]

    found = scale_out.speedups(rows)

    assert [(x["processes"], x["speedup"], x["per_process_rps"]) for x in found] == [
        (1, 1.0, 2000.0),
        (2, 1.5, 1500.0),
    ]


def _row(
    limiter: str, processes: int, rps: float, cpu: float, redis: float | None = None
) -> dict[str, object]:
    return {
        "case": "read",
        "limiter": limiter,
        "processes": processes,
        "rps": rps,
        "cpu_us_per_request": cpu,
        "redis_cpu_us_per_request": redis,
    }


def test_limiter_costs_are_differences_of_cpu_and_of_one_over_throughput() -> None:
    rows = [
        _row("off", 1, 4000.0, 250.0),
        _row("in-process", 1, 3200.0, 260.0),
        _row("redis", 1, 2000.0, 400.0, redis=30.0),
        _row("in-process", 3, 5000.0, 300.0),  # Redis missing at 3: its columns are empty
    ]

    one, three = scale_out.limiter_costs(rows)

    assert one == {
        "processes": 1,
        "in_process_cpu_us": 10.0,
        "in_process_wall_us": 62.5,  # 1e6/3200 - 1e6/4000
        "redis_cpu_us": 140.0,
        "redis_wall_us": 187.5,  # 1e6/2000 - 1e6/3200
        "redis_server_cpu_us": 30.0,
        "redis_rps_ratio": 0.625,
    }
    assert three["processes"] == 3
    assert three["in_process_cpu_us"] is None
    assert three["redis_cpu_us"] is three["redis_wall_us"] is three["redis_rps_ratio"] is None


def _figures(rps: float, connections: int, threads: int, shares: list[float]) -> dict[str, object]:
    return {
        "rps": rps,
        "p50_ms": 2.0,
        "p99_ms": 9.0,
        "non_2xx": 0,
        "connections": connections,
        "threads": threads,
        "cpu_us_per_request": 250.0,
        "cpu_shares": shares,
        "redis_cpu_us_per_request": None,
    }


def test_report_has_a_scale_out_section_with_the_limiters() -> None:
    rows = [
        {
            "case": "read",
            "title": "GET /api/v1/courier/{id}",
            "processes": 1,
            **_figures(2000.0, 64, 2, [1.0]),
        },
        {
            "case": "read",
            "title": "GET /api/v1/courier/{id}",
            "processes": 3,
            **_figures(3000.0, 63, 3, [0.33, 0.34, 0.33]),
        },
    ]
    limiter = [
        {**rows[0], "limiter": "off"},
        {**rows[0], "limiter": "in-process", "rps": 1900.0},
        {**rows[0], "limiter": "redis", "rps": 1500.0, "redis_cpu_us_per_request": 30.0},
    ]
    results = {
        "scale_out": {
            "processes": rows,
            "speedup": scale_out.speedups(rows),
            "limiter": limiter,
            "limiter_cost": scale_out.limiter_costs(limiter),
        }
    }

    text = markdown.render(results)

    assert "## Scale-out (courier-api processes of 1 worker each, one database)" in text
    assert (
        "| GET /api/v1/courier/{id} | 3 | 63 (3 threads) | 3,000.0 | 1.50 | 2.00 | 9.00 | 0 | 250.0 | 33% / 34% / 33% |"
        in text
    )
    assert "| redis | 1 | 1,500.0 | 2.00 | 9.00 | 0 | 250.0 | 30.0 |" in text
    assert "| 1 | 0.00 | 26.3 | 0.00 | 140.4 | 30.0 | 0.79 |" in text
    assert "**Scale-out**" in text  # the method says how the load is spread
    assert "## Scale-out" not in markdown.render({})


def test_scale_out_runs_in_the_full_and_the_smoke_run() -> None:
    assert "scale-out" in SECTIONS
    for plan in (FULL, SMOKE):
        assert plan.scale_out_processes == (1, 2, 3)
        assert plan.scale_out_limiter_processes == (1, 3)
    assert SMOKE.duration <= 2 and SMOKE.warmup == 0


def test_the_benchmarks_redis_keeps_nothing_on_disk_and_listens_on_loopback_only() -> None:
    command = redis_server.command("redis-server", 4242, Path("/tmp/x"))

    assert command[:3] == ["redis-server", "--port", "4242"]
    pairs = dict(zip(command[1::2], command[2::2], strict=True))
    assert pairs == {
        "--port": "4242",
        "--bind": "127.0.0.1",
        "--save": "",
        "--appendonly": "no",
        "--dir": "/tmp/x",
    }
    assert scale_out.NEVER_REFUSED["COURIER_RATE_LIMIT_SCOPE"] == "ip"
    assert int(scale_out.NEVER_REFUSED["COURIER_RATE_LIMIT_CAPACITY"]) >= 10**9
