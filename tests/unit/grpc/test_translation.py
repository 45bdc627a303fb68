"""gRPC errors become core's errors at the adapter's boundary; orders become ``OrderInfo``."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
import pytest

from courier_adapters.grpc.gateway import counts_as_failure, is_retryable, order_info, translate
from courier_adapters.grpc.gen.orders.v1 import orders_pb2
from courier_adapters.grpc.resilience import CircuitOpen
from courier_core.errors import DependencyUnavailable, OrderNotFound


def rpc_error(code: grpc.StatusCode, details: str = "") -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details=details)


@pytest.mark.parametrize(
    ("code", "details"),
    [
        (grpc.StatusCode.NOT_FOUND, ""),
        (grpc.StatusCode.NOT_FOUND, "no such order"),
        (grpc.StatusCode.UNKNOWN, "not found"),
        (grpc.StatusCode.UNKNOWN, "order Not Found"),
    ],
)
def test_unknown_orders_become_order_not_found(code, details):
    error = rpc_error(code, details)
    assert isinstance(translate(error, "GetOrderById"), OrderNotFound)
    assert not is_retryable(error)
    assert not counts_as_failure(error)


@pytest.mark.parametrize(
    "code",
    [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED],
)
def test_transient_errors_are_retried_and_become_dependency_unavailable(code):
    error = rpc_error(code, "down")
    translated = translate(error, "GetOrders")
    assert is_retryable(error)
    assert counts_as_failure(error)
    assert isinstance(translated, DependencyUnavailable)
    assert translated.dependency == "order_service"
    assert code.name in str(translated)


@pytest.mark.parametrize(
    "code", [grpc.StatusCode.INTERNAL, grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.PERMISSION_DENIED]
)
def test_other_failures_are_not_retried_but_open_the_breaker(code):
    error = rpc_error(code, "boom")
    assert not is_retryable(error)
    assert counts_as_failure(error)
    assert isinstance(translate(error, "GetOrders"), DependencyUnavailable)


def test_an_unknown_error_that_is_not_not_found_is_a_failure():
    error = rpc_error(grpc.StatusCode.UNKNOWN, "exception in handler")
    assert isinstance(translate(error, "GetOrderById"), DependencyUnavailable)
    assert counts_as_failure(error)


def test_an_invalid_argument_is_an_answer_not_a_breaker_failure():
    error = rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "bad id")
    assert not counts_as_failure(error)
    assert isinstance(translate(error, "GetOrderById"), DependencyUnavailable)


def test_an_open_circuit_is_dependency_unavailable():
    translated = translate(CircuitOpen("circuit to x is open"), "GetOrderById")
    assert isinstance(translated, DependencyUnavailable)
    assert translated.dependency == "order_service"


def test_order_info_carries_id_status_and_utc_times():
    created = datetime(2026, 11, 24, 10, 15, 30, 123000, tzinfo=UTC)
    order = orders_pb2.Order(id="f819526d", status="cooking")
    order.created_at.FromDatetime(created)
    info = order_info(order)
    assert (info.order_id, info.status, info.created_at, info.updated_at) == (
        "f819526d",
        "cooking",
        created,
        None,
    )
    order.updated_at.FromDatetime(datetime(2026, 11, 24, 10, 20, tzinfo=UTC))
    assert order_info(order).updated_at == datetime(2026, 11, 24, 10, 20, tzinfo=UTC)
