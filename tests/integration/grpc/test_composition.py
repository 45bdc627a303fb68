"""How apps build the gateway (settings, DI resource) and run the simulator (``serve``) in-process."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry

from courier_adapters.grpc import GrpcOrderGateway, order_gateway_from_settings, order_gateway_resource
from courier_adapters.kafka.embedded import free_port
from courier_adapters.metrics import PrometheusMetrics
from courier_adapters.settings import load_settings
from courier_core.errors import DependencyUnavailable
from courier_order_sim.main import parser, serve
from tests.integration.grpc.conftest import GatewayMetrics, eventually

pytestmark = pytest.mark.integration


async def test_settings_configure_the_gateway(simulator):
    settings = load_settings(
        {
            "COURIER_ORDER_SERVICE_ADDR": simulator.address,
            "COURIER_ORDER_SERVICE_TIMEOUT": "250ms",
            "COURIER_ORDER_SERVICE_BUDGET": "1s",
            "COURIER_ORDER_SERVICE_MAX_ATTEMPTS": "2",
            "COURIER_ORDER_SERVICE_CHANNELS": "2",
            "COURIER_BREAKER_FAILURES": "7",
        },
        dotenv=None,
    )
    metrics = GatewayMetrics()
    gateway = order_gateway_from_settings(settings, metrics)
    assert isinstance(gateway, GrpcOrderGateway)
    try:
        order = await simulator.create_order()
        assert (await gateway.get_order(order.id)).order_id == order.id
        simulator.faults.inject("unavailable")
        with pytest.raises(DependencyUnavailable):
            await gateway.get_order(order.id)
        assert simulator.calls["GetOrderById"] == 3  # one answer, then two attempts (max_attempts=2)
    finally:
        await gateway.close()


def test_no_address_means_no_gateway():
    assert order_gateway_from_settings(load_settings({}, dotenv=None)) is None


async def test_the_resource_closes_the_gateway_on_shutdown(simulator):
    settings = load_settings({"COURIER_ORDER_SERVICE_ADDR": simulator.address}, dotenv=None)
    resource = order_gateway_resource(settings, GatewayMetrics())
    gateway = await anext(resource)
    assert gateway is not None
    order = await simulator.create_order()
    assert (await gateway.get_order(order.id)).order_id == order.id
    await resource.aclose()
    with pytest.raises(DependencyUnavailable, match="closed"):
        await gateway.get_order(order.id)


async def test_serve_runs_the_simulator_until_told_to_stop():
    port = free_port()
    args = parser().parse_args(
        ["--port", str(port), "--step-interval", "100ms", "--rate", "20", "--seed", "1"]
    )
    assert args.step_interval == 0.1
    stop = asyncio.Event()
    task = asyncio.create_task(serve(args, stop))
    gateway = GrpcOrderGateway(f"127.0.0.1:{port}", timeout=0.5, budget=2.0, breaker_failures=1000)
    try:
        await eventually(lambda: _has_orders(gateway), within=20)  # created by --rate, served over gRPC
    finally:
        await gateway.close()
        stop.set()
        await asyncio.wait_for(task, timeout=10)


async def _has_orders(gateway: GrpcOrderGateway) -> bool:
    try:
        return bool(await gateway.list_orders(since=None))
    except DependencyUnavailable:
        return False


def test_bad_durations_are_refused():
    with pytest.raises(SystemExit):
        parser().parse_args(["--step-interval", "soon"])


async def test_retries_and_breaker_state_reach_prometheus(simulator):
    registry = CollectorRegistry()
    gateway = GrpcOrderGateway(
        simulator.address,
        timeout=0.5,
        budget=2.0,
        max_attempts=3,
        breaker_failures=1,
        metrics=PrometheusMetrics(registry),
    )
    try:
        order = await simulator.create_order()
        simulator.faults.inject("unavailable", count=2)
        await gateway.get_order(order.id)
        assert registry.get_sample_value("courier_gateway_retries_total", {"method": "GetOrderById"}) == 2
        simulator.faults.inject("unavailable")
        with pytest.raises(DependencyUnavailable):
            await gateway.list_orders(since=None)
        state = {"target": simulator.address, "state": "open"}
        assert registry.get_sample_value("courier_order_service_breaker_state", state) == 1
    finally:
        await gateway.close()
