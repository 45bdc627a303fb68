"""GrpcOrderGateway against a real gRPC server on loopback: answers, deadlines, retries, breaker, restarts."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta
from pathlib import Path

import grpc
import pytest

from courier_core.errors import DependencyUnavailable, OrderNotFound
from courier_order_sim.faults import FaultMode
from courier_order_sim.server import Simulator
from tests.integration.grpc.conftest import GatewayMetrics, eventually

pytestmark = pytest.mark.integration


def established_connections_to(port: int) -> int:
    """Client-side TCP connections to ``127.0.0.1:port`` that are ESTABLISHED (from /proc/net/tcp*).

    gRPC may use dual-stack sockets, so the address can also be IPv4-mapped IPv6.
    """
    remotes = {f"0100007F:{port:04X}", f"0000000000000000FFFF00000100007F:{port:04X}"}
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[2] in remotes and fields[3] == "01":
                count += 1
    return count


async def test_get_order_by_id_returns_the_order(simulator, make_gateway):
    order = await simulator.create_order(status="cooking")
    info = await make_gateway().get_order(order.id)
    assert (info.order_id, info.status) == (order.id, "cooking")
    assert info.created_at == order.created_at
    assert info.updated_at == order.updated_at


async def test_get_orders_returns_orders_created_at_or_after_from(simulator, make_gateway):
    old = await simulator.create_order()
    old.created_at -= timedelta(hours=2)
    new = await simulator.create_order(status="pending")
    gateway = make_gateway()
    everything = await gateway.list_orders(since=None)
    assert {o.order_id for o in everything} == {old.id, new.id}
    recent = await gateway.list_orders(since=new.created_at)
    assert [(o.order_id, o.status) for o in recent] == [(new.id, "pending")]


@pytest.mark.parametrize("code", [grpc.StatusCode.UNKNOWN, grpc.StatusCode.NOT_FOUND])
async def test_an_unknown_order_is_order_not_found_whichever_code_the_server_uses(
    simulator, make_gateway, metrics, code
):
    simulator.not_found_code = code
    gateway = make_gateway(breaker_failures=1)
    for _ in range(3):
        with pytest.raises(OrderNotFound):
            await gateway.get_order("00000000-0000-0000-0000-000000000000")
    assert simulator.calls["GetOrderById"] == 3  # not retried, and the breaker stayed closed
    assert metrics.retries == {}
    assert metrics.states == ["closed"]


async def test_a_hanging_server_ends_the_call_at_its_deadline(simulator, make_gateway, metrics):
    order = await simulator.create_order()
    simulator.faults.inject(FaultMode.HANG)
    gateway = make_gateway(timeout=0.2, budget=0.7, max_attempts=10)
    started = time.monotonic()
    with pytest.raises(DependencyUnavailable, match="DEADLINE_EXCEEDED") as raised:
        await asyncio.wait_for(gateway.get_order(order.id), timeout=15)
    assert raised.value.dependency == "order_service"
    # Bounded by the budget, with a generous margin: the point is that it ends, not how fast.
    assert time.monotonic() - started < 5
    assert simulator.calls["GetOrderById"] >= 2  # each attempt had its own deadline, then a retry
    assert metrics.retries["GetOrderById"] == simulator.calls["GetOrderById"] - 1


@pytest.mark.parametrize("fault", [FaultMode.UNAVAILABLE, FaultMode.RESOURCE_EXHAUSTED])
async def test_transient_failures_are_retried_then_the_call_succeeds(simulator, make_gateway, metrics, fault):
    order = await simulator.create_order()
    simulator.faults.inject(fault, count=2)
    info = await make_gateway(max_attempts=3).get_order(order.id)
    assert info.order_id == order.id
    assert simulator.calls["GetOrderById"] == 3
    assert metrics.retries == {"GetOrderById": 2}
    assert metrics.port_calls == [("order_gateway", "GetOrderById")]  # one logical call


async def test_retries_stop_at_max_attempts(simulator, make_gateway, metrics):
    simulator.faults.inject(FaultMode.UNAVAILABLE)
    with pytest.raises(DependencyUnavailable, match="UNAVAILABLE"):
        await make_gateway(max_attempts=3).list_orders(since=None)
    assert simulator.calls["GetOrders"] == 3
    assert metrics.retries == {"GetOrders": 2}


async def test_the_breaker_opens_fails_fast_then_closes_after_a_good_probe(simulator, make_gateway, metrics):
    order = await simulator.create_order()
    gateway = make_gateway(max_attempts=1, breaker_failures=2, breaker_cooldown=0.5)
    simulator.faults.inject(FaultMode.UNAVAILABLE)
    for _ in range(2):
        with pytest.raises(DependencyUnavailable, match="UNAVAILABLE"):
            await gateway.get_order(order.id)
    with pytest.raises(DependencyUnavailable, match="circuit"):
        await gateway.get_order(order.id)
    assert simulator.calls["GetOrderById"] == 2  # the open breaker did not call
    simulator.faults.heal()

    async def answers() -> bool:
        try:
            await gateway.get_order(order.id)
        except DependencyUnavailable:
            return False
        return True

    await eventually(answers, within=10)
    assert metrics.states == ["closed", "open", "half_open", "closed"]


async def test_a_failed_probe_opens_the_breaker_again(simulator, make_gateway, metrics):
    gateway = make_gateway(max_attempts=1, breaker_failures=1, breaker_cooldown=0.3)
    simulator.faults.inject(FaultMode.UNAVAILABLE)
    with pytest.raises(DependencyUnavailable):
        await gateway.list_orders(since=None)
    await asyncio.sleep(0.4)
    with pytest.raises(DependencyUnavailable, match="UNAVAILABLE"):
        await gateway.list_orders(since=None)  # the probe, which fails
    with pytest.raises(DependencyUnavailable, match="circuit"):
        await gateway.list_orders(since=None)
    assert metrics.states == ["closed", "open", "half_open", "open"]


async def test_calls_fail_fast_while_the_service_is_down_and_succeed_after_it_restarts(
    simulator, make_gateway, metrics
):
    order = await simulator.create_order()
    budget = 3.0
    gateway = make_gateway(timeout=1.0, budget=budget, breaker_failures=3, breaker_cooldown=0.5)
    assert (await gateway.get_order(order.id)).order_id == order.id
    port = simulator.port
    await simulator.stop()
    failures = []
    for _ in range(8):
        started = time.monotonic()
        with pytest.raises(DependencyUnavailable):
            await gateway.get_order(order.id)
        failures.append(time.monotonic() - started)
    # Fail fast: a refused connection is not waited on until the budget runs out.
    assert max(failures) < budget
    assert "open" in metrics.states
    await simulator.start()
    assert simulator.port == port

    async def answers() -> bool:
        try:
            return (await gateway.get_order(order.id)).order_id == order.id
        except DependencyUnavailable:
            return False

    await eventually(answers, within=20, every=0.1)  # the same client: no restart
    assert metrics.states[-1] == "closed"


async def test_a_pool_spreads_calls_over_its_channels(simulator, make_gateway):
    order = await simulator.create_order()
    gateway = make_gateway(channels=3)
    for _ in range(6):
        await gateway.get_order(order.id)
    assert established_connections_to(simulator.port) == 3


async def test_close_releases_connections_and_threads_and_later_calls_fail(simulator):
    from courier_adapters.grpc import GrpcOrderGateway

    order = await simulator.create_order()
    threads_before = {t.ident for t in threading.enumerate()}
    gateway = GrpcOrderGateway(simulator.address, channels=2, metrics=GatewayMetrics())
    for _ in range(4):
        await gateway.get_order(order.id)
    assert established_connections_to(simulator.port) == 2
    await gateway.close()

    async def disconnected() -> bool:
        return established_connections_to(simulator.port) == 0

    await eventually(disconnected, within=10)
    assert {t.ident for t in threading.enumerate()} <= threads_before
    with pytest.raises(DependencyUnavailable, match="closed"):
        await gateway.get_order(order.id)


async def test_simulator_restart_keeps_its_orders():
    async with Simulator(seed=1) as sim:
        order = await sim.create_order()
        await sim.stop()
        await sim.start()
        assert sim.book.get(order.id) is order


async def test_get_orders_answers_more_than_the_default_message_size(simulator, make_gateway):
    for _ in range(30_000):  # about 6 MiB of orders: above gRPC's 4 MiB default receive limit
        simulator.book.create(status="pending")
    orders = await make_gateway(timeout=10.0, budget=20.0).list_orders(since=None)
    assert len(orders) == 30_000
