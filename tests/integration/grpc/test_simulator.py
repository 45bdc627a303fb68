"""The simulator as users run it: its console script, its HTTP control endpoint, its Kafka events."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
import uuid
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

with warnings.catch_warnings():  # kafka-python 3 reads its schemas with a deprecated importlib call
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka import KafkaConsumer

from courier_adapters.grpc import GrpcOrderGateway
from courier_adapters.kafka.admin import ensure_topics
from courier_adapters.kafka.embedded import free_port
from courier_core.errors import DependencyUnavailable, OrderNotFound
from courier_order_sim.control import ControlServer
from courier_order_sim.orders import PROGRESSION
from courier_order_sim.publisher import KafkaPublisher
from courier_order_sim.server import Simulator
from tests.integration.grpc.conftest import eventually

pytestmark = pytest.mark.integration
SCRIPT = Path(sys.executable).parent / "courier-order-service"


@dataclass
class Running:
    ready: dict[str, Any]  # the "ready" log line: grpc address, control port
    process: asyncio.subprocess.Process


@asynccontextmanager
async def simulator_process(*args: str, port: int = 0) -> AsyncIterator[Running]:
    """Run ``courier-order-service`` (free ports unless ``port``); SIGTERM it after, unless already dead."""
    process = await asyncio.create_subprocess_exec(
        str(SCRIPT),
        *("--port", str(port), "--control-port", "0", "--log-level", "info", *args),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        ready = await asyncio.wait_for(_ready_line(process), timeout=30)
        yield Running(ready, process)
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(process.wait(), timeout=15) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def _ready_line(process: asyncio.subprocess.Process) -> dict[str, Any]:
    assert process.stdout is not None
    async for line in process.stdout:
        entry = json.loads(line)
        if entry["message"] == "order service simulator ready":
            return dict(entry)
    raise AssertionError(f"the simulator exited with {await process.wait()} before it was ready")


async def test_console_script_serves_grpc_and_obeys_its_control_endpoint():
    async with simulator_process("--step-interval", "0", "--seed", "5") as running:
        ready = running.ready
        control = f"http://127.0.0.1:{ready['control_port']}"
        gateway = GrpcOrderGateway(ready["grpc"], timeout=0.5, budget=1.5, breaker_failures=100)
        try:
            async with httpx.AsyncClient(base_url=control, timeout=10) as http:
                assert (await http.get("/health")).json()["grpc"] == ready["grpc"]
                created = await http.post("/orders", json={"status": "pending"})
                assert created.status_code == 201
                order_id = created.json()["id"]
                assert (await gateway.get_order(order_id)).status == "pending"
                moved = await http.post(f"/orders/{order_id}/status", json={"status": "canceled"})
                assert moved.json()["status"] == "canceled"
                assert (await gateway.get_order(order_id)).status == "canceled"
                with pytest.raises(OrderNotFound):
                    await gateway.get_order(str(uuid.uuid4()))
                assert (await http.post("/fault", json={"mode": "unavailable"})).status_code == 200
                with pytest.raises(DependencyUnavailable, match="UNAVAILABLE"):
                    await gateway.get_order(order_id)
                await http.post("/fault", json={"mode": "none"})
                assert (await gateway.get_order(order_id)).order_id == order_id
                calls = (await http.get("/calls")).json()
                assert calls["GetOrderById"] >= 6
                assert (await http.post("/orders/nope/status", json={"status": "pending"})).status_code == 404
                assert (await http.post("/fault", json={"mode": "explode"})).status_code == 400
                assert (await http.post("/orders", content=b"not json")).status_code == 400
        finally:
            await gateway.close()


async def test_a_killed_simulator_process_fails_calls_fast_and_its_successor_is_reached(metrics):
    port = free_port()
    gateway = GrpcOrderGateway(
        f"127.0.0.1:{port}",
        timeout=1.0,
        budget=3.0,
        breaker_failures=3,
        breaker_cooldown=0.5,
        metrics=metrics,
    )
    try:
        async with simulator_process("--step-interval", "0", port=port) as first:
            order_id = await _create(first.ready["control_port"])
            assert (await gateway.get_order(order_id)).order_id == order_id
            first.process.kill()  # a crash, not a graceful stop
            await first.process.wait()
            for _ in range(6):
                started = time.monotonic()
                with pytest.raises(DependencyUnavailable):
                    await gateway.get_order(order_id)
                assert time.monotonic() - started < 3.0  # refused at once, not waited on for the budget
        async with simulator_process("--step-interval", "0", port=port) as second:
            order_id = await _create(second.ready["control_port"])

            async def answers() -> bool:
                try:
                    return (await gateway.get_order(order_id)).order_id == order_id
                except DependencyUnavailable:
                    return False

            await eventually(answers, within=20, every=0.1)  # the same client, never restarted
    finally:
        await gateway.close()
    assert "open" in metrics.states
    assert metrics.states[-1] == "closed"


async def _create(control_port: int) -> str:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{control_port}", timeout=10) as http:
        answer = await http.post("/orders", json={"status": "pending"})
        order_id: str = answer.json()["id"]
        return order_id


async def test_control_endpoint_in_process_creates_orders_with_the_given_id():
    async with Simulator(seed=3) as sim:
        control = ControlServer(sim)
        await control.start()
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{control.port}", timeout=10) as http:
                made = await http.post("/orders", json={"id": "order-42", "status": "cooking"})
                assert made.json()["id"] == "order-42"
                assert [o["id"] for o in (await http.get("/orders")).json()] == ["order-42"]
                stepped = (await http.post("/step")).json()
                assert [(o["id"], o["status"]) for o in stepped] == [("order-42", "delivering")]
                assert (await http.delete("/orders")).status_code == 405
        finally:
            await control.stop()


async def test_a_paused_simulator_creates_and_moves_nothing_until_resumed():
    async with Simulator(seed=5, rate=50, step_interval=0.02) as sim:
        control = ControlServer(sim)
        await control.start()
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{control.port}", timeout=10) as http:

                async def more_than(count: int) -> bool:
                    return len(sim.book) > count

                await eventually(lambda: more_than(0))
                paused = (await http.post("/pause")).json()
                assert paused["paused"] is True
                await asyncio.sleep(0.1)  # a timer turn that began before the pause ends
                frozen = [(o["id"], o["status"]) for o in (await http.get("/orders")).json()]
                await asyncio.sleep(0.3)  # 15 creations and 15 steps' worth
                assert [(o["id"], o["status"]) for o in (await http.get("/orders")).json()] == frozen
                assert (await http.get("/health")).json()["paused"] is True
                made = await http.post("/orders", json={"status": "pending"})  # requests still served
                assert made.status_code == 201
                resumed = (await http.post("/resume")).json()
                assert resumed == {"paused": False, "orders": len(frozen) + 1, "open": resumed["open"]}
                await eventually(lambda: more_than(len(frozen) + 1))
        finally:
            await control.stop()


def read_events(bootstrap: str, topic: str, last_status: str) -> list[tuple[bytes | None, dict[str, Any]]]:
    """Every event on ``topic`` up to the first with ``last_status``."""
    consumer = KafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=20_000
    )
    try:
        events = []
        for record in consumer:
            events.append((record.key, json.loads(record.value)))
            if events[-1][1]["status"] == last_status:
                break
        return events
    finally:
        consumer.close()


async def test_status_changes_are_published_as_order_events(broker):
    topic = f"order.status.changed.{uuid.uuid4().hex[:8]}"
    ensure_topics(broker.bootstrap_servers, {topic: 1})
    publisher = await KafkaPublisher.connect(broker.bootstrap_servers, topic)
    async with Simulator(seed=11, step_interval=0.1, publisher=publisher) as sim:
        order = await sim.create_order()

        async def finished() -> bool:
            return order.is_terminal

        await eventually(finished, within=20)  # moved on by the timer alone
    events = await asyncio.to_thread(read_events, broker.bootstrap_servers, topic, order.status)
    assert all(key is None for key, _ in events)
    assert {e["order_id"] for _, e in events} == {order.id}
    assert all(e["created_at"].endswith("Z") for _, e in events)
    statuses = [e["status"] for _, e in events]
    # The real progression, cut short by a cancel or delete, each change published once and in order.
    assert statuses[-1] == order.status
    assert statuses[:-1] == list(PROGRESSION[: len(statuses) - 1])
