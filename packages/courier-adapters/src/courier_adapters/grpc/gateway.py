"""``GrpcOrderGateway``: core's ``OrderGateway`` port over the order service's gRPC contract.

One long-lived ``grpc.aio`` channel per target (or a small pool, used round-robin), created by the
composition root inside its event loop and closed on shutdown with :meth:`GrpcOrderGateway.close`.
Every call goes through one :class:`~courier_adapters.grpc.resilience.ResilientCaller` (deadline per
attempt, total budget, retries with jittered back-off, circuit breaker); gRPC errors are translated into
core's error tree here and nowhere else.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from courier_adapters.grpc.gen.orders.v1 import orders_pb2
from courier_adapters.grpc.gen.orders.v1.orders_pb2_grpc import OrdersServiceStub
from courier_adapters.grpc.resilience import (
    Backoff,
    CircuitBreaker,
    CircuitOpen,
    ResilientCaller,
    RetryPolicy,
)
from courier_adapters.settings import Settings
from courier_core.errors import DependencyUnavailable, OrderNotFound
from courier_core.metrics import NullMetrics
from courier_core.model import OrderInfo
from courier_core.ports import Metrics

if TYPE_CHECKING:  # the async stub type exists only in the generated .pyi
    from courier_adapters.grpc.gen.orders.v1.orders_pb2_grpc import OrdersServiceAsyncStub

T = TypeVar("T")
DEPENDENCY = "order_service"
PORT = "order_gateway"

CHANNEL_OPTIONS: tuple[tuple[str, int], ...] = (
    # Keepalive finds a dead connection before a call waits on it (the server must permit 30 s pings).
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.http2.max_pings_without_data", 0),
    # Reconnect soon after the service comes back instead of backing off for up to two minutes.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2_000),
    # Each channel of a pool gets its own connection instead of sharing the global subchannel.
    ("grpc.use_local_subchannel_pool", 1),
    # Retries live in one place (ResilientCaller), where they are counted and bounded by the budget.
    ("grpc.enable_retries", 0),
    # GetOrders answers every order of the reconciliation window at once: more than the 4 MiB default.
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
)
_RETRYABLE = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED}
)
# Answers about the request itself: the service is alive, so the breaker does not count them.
_ANSWERS = frozenset(
    {
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.ALREADY_EXISTS,
    }
)


def is_not_found(exc: BaseException) -> bool:
    """NOT_FOUND, or UNKNOWN with "not found": how the real service answers an unknown id."""
    if not isinstance(exc, grpc.aio.AioRpcError):
        return False
    code = exc.code()
    return code is grpc.StatusCode.NOT_FOUND or (
        code is grpc.StatusCode.UNKNOWN and "not found" in (exc.details() or "").lower()
    )


def is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, grpc.aio.AioRpcError) and exc.code() in _RETRYABLE


def counts_as_failure(exc: BaseException) -> bool:
    if isinstance(exc, grpc.aio.AioRpcError):
        return exc.code() not in _ANSWERS and not is_not_found(exc)
    return True


def translate(exc: Exception, method: str) -> Exception:
    """The core error for a failed call (the caller raises it ``from exc``)."""
    if is_not_found(exc):
        return OrderNotFound()
    if isinstance(exc, CircuitOpen):
        return DependencyUnavailable(f"order service: {exc}", dependency=DEPENDENCY)
    if isinstance(exc, grpc.aio.AioRpcError):
        detail = f"order service {method}: {exc.code().name}: {exc.details()}"
        return DependencyUnavailable(detail, dependency=DEPENDENCY)
    return DependencyUnavailable(f"order service {method}: {exc}", dependency=DEPENDENCY)


def _datetime(ts: Timestamp) -> datetime:
    return ts.ToDatetime(tzinfo=UTC)


def order_info(order: orders_pb2.Order) -> OrderInfo:
    """What core needs of an order: id, status and times (UTC)."""
    return OrderInfo(
        order_id=order.id,
        status=order.status,
        created_at=_datetime(order.created_at),
        updated_at=_datetime(order.updated_at) if order.HasField("updated_at") else None,
    )


class GrpcOrderGateway:
    """The order service over gRPC (``orders.v1.OrdersService``), with retries and a circuit breaker.

    Build it inside the running event loop (``grpc.aio`` channels belong to one loop) and ``await
    close()`` on shutdown. Raises ``OrderNotFound`` and ``DependencyUnavailable(dependency="order_service")``.
    """

    def __init__(
        self,
        target: str,
        *,
        timeout: float = 1.0,
        budget: float = 3.0,
        max_attempts: int = 3,
        channels: int = 1,
        breaker_failures: int = 5,
        breaker_cooldown: float = 10.0,
        metrics: Metrics | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        if channels < 1:
            raise ValueError("at least one channel is needed")
        self.target = target
        self._metrics = metrics or NullMetrics()
        self._channels = [grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS) for _ in range(channels)]
        self._stubs: Callable[[], OrdersServiceAsyncStub] = itertools.cycle(
            [OrdersServiceStub(channel) for channel in self._channels]
        ).__next__
        policy = RetryPolicy(
            timeout=timeout, budget=budget, max_attempts=max_attempts, backoff=backoff or Backoff()
        )
        self.breaker = CircuitBreaker(
            target=target, failures=breaker_failures, cooldown=breaker_cooldown, metrics=self._metrics
        )
        self._caller = ResilientCaller(
            policy=policy,
            breaker=self.breaker,
            metrics=self._metrics,
            retryable=is_retryable,
            counts_as_failure=counts_as_failure,
        )
        self._closed = False

    async def get_order(self, order_id: str) -> OrderInfo:
        request = orders_pb2.GetOrderByIdRequest(id=order_id)

        async def attempt(timeout: float) -> orders_pb2.GetOrderByIdResponse:
            return await self._stubs().GetOrderById(request, timeout=timeout)

        response = await self._call("GetOrderById", attempt)
        if not response.HasField("order"):
            raise OrderNotFound()
        return order_info(response.order)

    async def list_orders(self, *, since: datetime | None) -> list[OrderInfo]:
        """Orders created at or after ``since`` (all when ``None``)."""
        request = orders_pb2.GetOrdersRequest()
        if since is not None:
            # ``from`` is a Python keyword: set the field through getattr.
            getattr(request, "from").FromDatetime(since)

        async def attempt(timeout: float) -> orders_pb2.GetOrdersResponse:
            return await self._stubs().GetOrders(request, timeout=timeout)

        response = await self._call("GetOrders", attempt)
        return [order_info(order) for order in response.orders]

    async def _call(self, method: str, attempt: Callable[[float], Awaitable[T]]) -> T:
        if self._closed:
            raise DependencyUnavailable("order service client is closed", dependency=DEPENDENCY)
        started = time.perf_counter()
        try:
            return await self._caller.call(method, attempt)
        except (grpc.RpcError, grpc.aio.UsageError, CircuitOpen) as exc:
            raise translate(exc, method) from exc
        finally:
            self._metrics.port_call(PORT, method, time.perf_counter() - started)

    async def close(self) -> None:
        """Close every channel; calls in flight are cancelled, later calls fail fast."""
        self._closed = True
        for channel in self._channels:
            await channel.close(grace=None)


def order_gateway_from_settings(
    settings: Settings, metrics: Metrics | None = None
) -> GrpcOrderGateway | None:
    """The gateway configured by ``COURIER_ORDER_SERVICE_*`` (``None`` when no address is set).

    Call it inside the running event loop; the caller owns the result and closes it on shutdown.
    """
    if settings.order_service_addr is None:
        return None
    return GrpcOrderGateway(
        settings.order_service_addr,
        timeout=settings.order_service_timeout,
        budget=settings.order_service_budget,
        max_attempts=settings.order_service_max_attempts,
        channels=settings.order_service_channels,
        breaker_failures=settings.breaker_failures,
        breaker_cooldown=settings.breaker_cooldown,
        metrics=metrics,
    )


async def order_gateway_resource(
    settings: Settings, metrics: Metrics
) -> AsyncIterator[GrpcOrderGateway | None]:
    """The gateway as a dependency-injector ``providers.Resource``: built on init, closed on shutdown."""
    gateway = order_gateway_from_settings(settings, metrics)
    try:
        yield gateway
    finally:
        if gateway is not None:
            await gateway.close()
