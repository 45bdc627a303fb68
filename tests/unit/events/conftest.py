"""Fixtures for the unit tests of applying order events: core's in-memory fakes, no sockets."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import pytest

with warnings.catch_warnings():  # kafka-python 3 reads its schemas with a deprecated importlib call
    warnings.simplefilter("ignore", DeprecationWarning)
    import kafka  # noqa: F401

from courier_core.model import OrderInfo
from courier_core.testing import FakeOrderGateway, RecordingMetrics, Services, build_services
from courier_core.usecases.events import OrderEventService, OrderVerifier, default_handlers


@pytest.fixture
def services() -> Services:
    return build_services()


def event_service(services: Services, gateway: FakeOrderGateway | None = None) -> OrderEventService:
    metrics = services.metrics
    assert isinstance(metrics, RecordingMetrics)
    return OrderEventService(
        uow=services.uow,
        handlers=default_handlers(services.deliveries),
        verifier=OrderVerifier(gateway, metrics=metrics),
    )


@pytest.fixture
def events(services: Services) -> OrderEventService:
    return event_service(services)


def gateway_with(orders: Sequence[OrderInfo]) -> FakeOrderGateway:
    return FakeOrderGateway(orders)
