"""The order-service simulator: ``orders.v1.OrdersService`` on loopback, served from memory.

:class:`Simulator` runs in-process (tests: ``async with Simulator() as sim``) and behind the console
script ``courier-order-service``. It creates orders on request (:meth:`Simulator.create_order`) or at a
steady ``rate``, moves them on every ``step_interval`` seconds, publishes each change to Kafka when given
a publisher, and can be told to fail (:attr:`Simulator.faults`; over HTTP with ``control_port``). It can be
paused (no new random order, no status moved on: the orders stand still until resumed) and stopped and
started again on the same port, keeping its orders.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Protocol, Self

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from courier_adapters.grpc.gen.orders.v1 import orders_pb2, orders_pb2_grpc
from courier_order_sim.faults import FaultMode, Faults
from courier_order_sim.orders import OrderBook, SimOrder

log = logging.getLogger("courier.order_sim")
# How long a "hanging" call waits when no client deadline ends it first.
HANG_SECONDS = 3600.0
SERVER_OPTIONS = (
    # Clients ping every 30 s (courier's keepalive); allow it instead of answering "too many pings".
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.so_reuseport", 0),
)


class Publisher(Protocol):
    """Where status changes go (Kafka in ``courier_order_sim.publisher``)."""

    async def publish(self, order: SimOrder) -> None: ...

    async def close(self) -> None: ...


def _timestamp(moment: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(moment)
    return ts


def to_proto(order: SimOrder) -> orders_pb2.Order:
    message = orders_pb2.Order(
        id=order.id,
        user_id=order.user_id,
        order_number=order.order_number,
        fio=order.fio,
        restaurant_id=order.restaurant_id,
        items=[orders_pb2.Item(name=i.name, price=i.price, quantity=i.quantity) for i in order.items],
        total_price=order.total_price,
        address=orders_pb2.DeliveryAddress(street=order.street, house=order.house),
        status=order.status,
        created_at=_timestamp(order.created_at),
        updated_at=_timestamp(order.updated_at),
    )
    if order.estimated_delivery is not None:
        message.estimated_delivery.CopyFrom(_timestamp(order.estimated_delivery))
    return message


class OrdersServicer(orders_pb2_grpc.OrdersServiceServicer):
    """Answers from the simulator's order book, after showing the injected fault, if any."""

    def __init__(self, sim: Simulator) -> None:
        self._sim = sim

    async def GetOrders(
        self, request: orders_pb2.GetOrdersRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> orders_pb2.GetOrdersResponse:
        await self._sim.enter("GetOrders", context)
        since = getattr(request, "from").ToDatetime(tzinfo=UTC) if request.HasField("from") else None
        orders = self._sim.book.created_since(since)
        return orders_pb2.GetOrdersResponse(orders=[to_proto(o) for o in orders])

    async def GetOrderById(
        self, request: orders_pb2.GetOrderByIdRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> orders_pb2.GetOrderByIdResponse:
        await self._sim.enter("GetOrderById", context)
        order = self._sim.book.get(request.id)
        if order is None:
            # The real service answers UNKNOWN "not found"; NOT_FOUND when told to (both are accepted).
            await context.abort(self._sim.not_found_code, "not found")
        return orders_pb2.GetOrderByIdResponse(order=to_proto(order))


class Simulator:
    """An in-memory order service on ``host:port`` (port 0 picks a free one, kept across restarts)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int | None = None,
        rate: float = 0.0,
        step_interval: float = 0.0,
        publisher: Publisher | None = None,
        not_found_code: grpc.StatusCode = grpc.StatusCode.UNKNOWN,
    ) -> None:
        self.host = host
        self.port = port
        self.rate = rate
        self.step_interval = step_interval
        self.book = OrderBook(rng=random.Random(seed))  # noqa: S311 - reproducible fake data
        self.faults = Faults()
        self.calls: Counter[str] = Counter()
        self.not_found_code = not_found_code
        self.paused = False  # the timers skip their turn; requests are still served
        self._publisher = publisher
        self._server: grpc.aio.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        """Serve (again); the first start fixes the port when it was 0."""
        if self._server is not None:
            return
        server = grpc.aio.server(options=SERVER_OPTIONS)
        orders_pb2_grpc.add_OrdersServiceServicer_to_server(OrdersServicer(self), server)
        bound = server.add_insecure_port(f"{self.host}:{self.port}")
        if bound == 0:
            raise OSError(f"cannot listen on {self.host}:{self.port}")
        self.port = bound
        await server.start()
        self._server = server
        self._start_timers()
        log.info("order service simulator listening", extra={"address": self.address})

    async def stop(self, grace: float | None = 0.5) -> None:
        """Stop serving (calls in flight get ``grace`` seconds); orders are kept for a restart."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        server, self._server = self._server, None
        if server is not None:
            await server.stop(grace)
            log.info("order service simulator stopped", extra={"address": self.address})

    async def close(self) -> None:
        """Stop, and close the publisher."""
        await self.stop()
        if self._publisher is not None:
            await self._publisher.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def create_order(
        self, *, order_id: str | None = None, status: str = "created", created_at: datetime | None = None
    ) -> SimOrder:
        """Create an order (and publish its status)."""
        order = self.book.create(order_id=order_id, status=status, created_at=created_at)
        await self._publish(order)
        return order

    async def set_status(self, order_id: str, status: str) -> SimOrder:
        """Move an order to ``status`` (and publish it); ``KeyError`` for an unknown id."""
        order = self.book.set_status(order_id, status)
        await self._publish(order)
        return order

    async def step(self) -> list[SimOrder]:
        """Move every unfinished order on by one status (what the timer does)."""
        changed = self.book.step()
        for order in changed:
            await self._publish(order)
        return changed

    async def enter(self, method: str, context: grpc.aio.ServicerContext[object, object]) -> None:
        """Count the call and show the injected fault, if any."""
        self.calls[method] += 1
        fault = self.faults.take()
        if fault is FaultMode.UNAVAILABLE:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "simulated outage")
        if fault is FaultMode.RESOURCE_EXHAUSTED:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "simulated overload")
        if fault is FaultMode.HANG:
            # Cancelled when the client's deadline passes or the server stops.
            await asyncio.sleep(HANG_SECONDS)

    async def _publish(self, order: SimOrder) -> None:
        if self._publisher is not None:
            await self._publisher.publish(order)

    def _start_timers(self) -> None:
        if self.step_interval > 0:
            self._tasks.append(asyncio.create_task(self._every(self.step_interval, self.step)))
        if self.rate > 0:
            self._tasks.append(asyncio.create_task(self._every(1.0 / self.rate, self.create_order)))

    async def _every(self, interval: float, action: Callable[[], Awaitable[object]]) -> None:
        while True:
            await asyncio.sleep(interval)
            if self.paused:
                continue
            try:
                await action()
            except Exception:  # a failed publish must not stop the simulation
                log.exception("order service simulator: timer action failed")
