"""Throughput and latency of ``GetOrderById`` through ``GrpcOrderGateway`` against the simulator.

Starts ``courier-order-service`` as its own process (so client and server do not share one event
loop), creates one order through its control endpoint, then for each concurrency level runs that many
callers in a loop for ``--duration`` seconds and prints calls/s and latency percentiles::

    uv run python bench/grpc_client.py --duration 10 --concurrency 1,8,32 --channels 1

The figures depend on the machine (2 shared cores here: client and simulator compete for them).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import urllib.request
from pathlib import Path

from courier_adapters.grpc import GrpcOrderGateway

SCRIPT = Path(sys.executable).parent / "courier-order-service"


async def start_simulator() -> tuple[asyncio.subprocess.Process, str, int]:
    process = await asyncio.create_subprocess_exec(
        str(SCRIPT),
        *("--port", "0", "--control-port", "0", "--step-interval", "0", "--log-level", "info"),
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    async for line in process.stdout:
        entry = json.loads(line)
        if entry.get("message") == "order service simulator ready":
            return process, entry["grpc"], entry["control_port"]
    raise SystemExit("the simulator did not start")


def create_order(control_port: int) -> str:
    request = urllib.request.Request(
        f"http://127.0.0.1:{control_port}/orders", data=b'{"status": "pending"}', method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        order_id: str = json.loads(response.read())["id"]
        return order_id


async def run_level(
    gateway: GrpcOrderGateway, order_id: str, concurrency: int, duration: float
) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + duration

    async def caller() -> None:
        nonlocal errors
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            try:
                await gateway.get_order(order_id)
            except Exception:
                errors += 1
                continue
            latencies.append(time.perf_counter() - started)

    started, cpu_started = time.perf_counter(), time.process_time()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "concurrency": concurrency,
        "calls_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(cuts[49] * 1000, 3),
        "p99_ms": round(cuts[98] * 1000, 3),
        "max_ms": round(max(latencies) * 1000, 3),
        "client_cpu_us_per_call": round(cpu / max(1, len(latencies)) * 1e6, 1),
        "calls": len(latencies),
        "errors": errors,
    }


async def main(args: argparse.Namespace) -> None:
    process, target, control_port = await asyncio.wait_for(start_simulator(), timeout=30)
    try:
        order_id = await asyncio.to_thread(create_order, control_port)
        gateway = GrpcOrderGateway(target, channels=args.channels)
        try:
            await run_level(gateway, order_id, 4, 1.0)  # warm-up: connections, caches
            for level in args.concurrency:
                print(json.dumps(await run_level(gateway, order_id, level, args.duration)), flush=True)
        finally:
            await gateway.close()
    finally:
        process.terminate()
        await process.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 8, 32])
    parser.add_argument("--channels", type=int, default=1)
    asyncio.run(main(parser.parse_args()))
