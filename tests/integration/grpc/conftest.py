"""Fixtures for the order-service client against a real gRPC server on loopback (the simulator)."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

with warnings.catch_warnings():  # kafka-python 3 reads its schemas with a deprecated importlib call
    warnings.simplefilter("ignore", DeprecationWarning)
    import kafka  # noqa: F401

from courier_adapters.grpc import GrpcOrderGateway
from courier_core.testing import RecordingMetrics
from courier_order_sim.server import Simulator
from tests.integration.kafka.helpers import session_broker

pytestmark = pytest.mark.integration


class GatewayMetrics(RecordingMetrics):
    """Remembers retries (inherited), breaker states and port calls."""

    def __init__(self) -> None:
        super().__init__()
        self.states: list[str] = []
        self.port_calls: list[tuple[str, str]] = []

    def breaker_state(self, target: str, state: str) -> None:
        self.states.append(state)

    def port_call(self, port: str, method: str, seconds: float) -> None:
        self.port_calls.append((port, method))


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    """A simulator on a free loopback port; no timers (tests move orders by hand)."""
    async with Simulator(seed=7) as sim:
        yield sim


@pytest.fixture(scope="session")
def broker() -> Iterator[Any]:
    """A Kafka-protocol broker for the tests that publish (``COURIER_TEST_KAFKA_BOOTSTRAP_SERVERS`` or Tansu)."""
    with session_broker() as running:
        yield running


@pytest.fixture
def metrics() -> GatewayMetrics:
    return GatewayMetrics()


GatewayFactory = Callable[..., GrpcOrderGateway]


@pytest.fixture
async def make_gateway(simulator: Simulator, metrics: GatewayMetrics) -> AsyncIterator[GatewayFactory]:
    """Build gateways to the simulator (short deadlines unless told otherwise); all closed afterwards."""
    made: list[GrpcOrderGateway] = []

    def build(**options: Any) -> GrpcOrderGateway:
        defaults: dict[str, Any] = {"timeout": 0.5, "budget": 2.0, "metrics": metrics}
        gateway = GrpcOrderGateway(simulator.address, **{**defaults, **options})
        made.append(gateway)
        return gateway

    yield build
    for gateway in made:
        await gateway.close()


async def eventually(
    check: Callable[[], Awaitable[bool]], *, within: float = 20.0, every: float = 0.05
) -> None:
    """Wait until ``check()`` is true; fail after ``within`` seconds (a generous bound, not a timing)."""
    async with asyncio.timeout(within):
        while True:
            if await check():
                return
            await asyncio.sleep(every)
