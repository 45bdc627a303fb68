"""A small HTTP control endpoint for a simulator running as its own process (orders.proto stays pure).

One request per connection, JSON in and out, loopback only::

    GET  /health                      {"status": "ok", "grpc": "127.0.0.1:50051", "paused": false}
    POST /pause, POST /resume         stop (start again) creating random orders and moving orders on
                                      -> {"paused": true|false, "orders": N, "open": N}
    GET  /orders                      every order
    POST /orders                      {"id"?, "status"?, "created_at"?} -> 201 the new order
    POST /orders/{id}/status          {"status": "pending"} -> the order (404 when unknown)
    POST /step                        move every unfinished order on -> the orders changed
    GET  /fault, POST /fault          {"mode": "none|unavailable|hang|resource_exhausted", "count"?: N}
    GET  /calls                       calls received per RPC
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from courier_order_sim.faults import FaultMode
from courier_order_sim.orders import SimOrder
from courier_order_sim.server import Simulator

log = logging.getLogger("courier.order_sim.control")
MAX_BODY = 64 * 1024
MAX_HEADERS = 100
_REASONS = {200: "OK", 201: "Created", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
Handler = Callable[[Simulator, str, dict[str, Any]], Awaitable[tuple[int, object]]]


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def order_json(order: SimOrder) -> dict[str, object]:
    return {
        "id": order.id,
        "status": order.status,
        "created_at": order.created_at.isoformat(),
        "updated_at": order.updated_at.isoformat(),
    }


async def _health(sim: Simulator, _: str, __: dict[str, Any]) -> tuple[int, object]:
    return 200, {"status": "ok", "grpc": sim.address, "paused": sim.paused}


def _pause_state(sim: Simulator) -> dict[str, object]:
    orders = sim.book.all()
    return {"paused": sim.paused, "orders": len(orders), "open": sum(not o.is_terminal for o in orders)}


async def _pause(sim: Simulator, _: str, __: dict[str, Any]) -> tuple[int, object]:
    sim.paused = True
    log.info("order service simulator paused")
    return 200, _pause_state(sim)


async def _resume(sim: Simulator, _: str, __: dict[str, Any]) -> tuple[int, object]:
    sim.paused = False
    log.info("order service simulator resumed")
    return 200, _pause_state(sim)


async def _orders(sim: Simulator, _: str, __: dict[str, Any]) -> tuple[int, object]:
    return 200, [order_json(o) for o in sim.book.all()]


async def _create(sim: Simulator, _: str, body: dict[str, Any]) -> tuple[int, object]:
    created_at = body.get("created_at")
    try:
        order = await sim.create_order(
            order_id=body.get("id"),
            status=body.get("status", "created"),
            created_at=datetime.fromisoformat(created_at) if created_at else None,
        )
    except (ValueError, TypeError) as exc:
        raise ControlError(400, str(exc)) from exc
    return 201, order_json(order)


async def _set_status(sim: Simulator, order_id: str, body: dict[str, Any]) -> tuple[int, object]:
    if sim.book.get(order_id) is None:
        raise ControlError(404, "not found")
    try:
        order = await sim.set_status(order_id, str(body.get("status")))
    except ValueError as exc:
        raise ControlError(400, str(exc)) from exc
    return 200, order_json(order)


async def _step(sim: Simulator, _: str, __: dict[str, Any]) -> tuple[int, object]:
    return 200, [order_json(o) for o in await sim.step()]


async def _get_fault(sim: Simulator, _: str, __: dict[str, Any]) -> tuple[int, object]:
    return 200, sim.faults.describe()


async def _set_fault(sim: Simulator, _: str, body: dict[str, Any]) -> tuple[int, object]:
    try:
        sim.faults.inject(FaultMode(body.get("mode", "none")), count=body.get("count"))
    except (ValueError, TypeError) as exc:
        raise ControlError(400, str(exc)) from exc
    return 200, sim.faults.describe()


async def _calls(sim: Simulator, _: str, __: dict[str, Any]) -> tuple[int, object]:
    return 200, dict(sim.calls)


_ROUTES: dict[tuple[str, str], Handler] = {
    ("GET", "/health"): _health,
    ("POST", "/pause"): _pause,
    ("POST", "/resume"): _resume,
    ("GET", "/orders"): _orders,
    ("POST", "/orders"): _create,
    ("POST", "/orders/*/status"): _set_status,
    ("POST", "/step"): _step,
    ("GET", "/fault"): _get_fault,
    ("POST", "/fault"): _set_fault,
    ("GET", "/calls"): _calls,
}


def route(method: str, path: str) -> tuple[Handler, str]:
    """The handler for ``method path`` and the path's ``*`` part (an order id), if any."""
    parts = path.split("?", 1)[0].rstrip("/").split("/")
    argument = ""
    if len(parts) == 4 and parts[1] == "orders":
        argument, parts[2] = parts[2], "*"
    pattern = "/".join(parts) or "/"
    handler = _ROUTES.get((method, pattern))
    if handler is None:
        known = any(p == pattern for _, p in _ROUTES)
        raise ControlError(405 if known else 404, f"no route {method} {pattern}")
    return handler, argument


class ControlServer:
    """Serves the control routes of ``sim`` on ``host:port`` (0 picks a free port)."""

    def __init__(self, sim: Simulator, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._sim = sim
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, payload = await self._answer(reader)
            body = json.dumps(payload).encode()
            head = (
                f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away; nothing to answer
        finally:
            writer.close()

    async def _answer(self, reader: asyncio.StreamReader) -> tuple[int, object]:
        try:
            method, path, headers = await _read_head(reader)
            length = int(headers.get("content-length", "0"))
            if length > MAX_BODY:
                raise ControlError(400, "body too large")
            raw = await reader.readexactly(length) if length else b"{}"
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ControlError(400, "the body must be a JSON object")
            handler, argument = route(method, path)
            return await handler(self._sim, argument, body)
        except ControlError as exc:
            return exc.status, {"error": str(exc)}
        except (ValueError, UnicodeDecodeError) as exc:
            return 400, {"error": f"bad request: {exc}"}


async def _read_head(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str]]:
    request_line = (await reader.readline()).decode("latin-1").split()
    if len(request_line) != 3:
        raise ControlError(400, "bad request line")
    headers: dict[str, str] = {}
    while (line := (await reader.readline()).decode("latin-1").strip()) != "":
        if len(headers) >= MAX_HEADERS:
            raise ControlError(400, "too many headers")
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return request_line[0].upper(), request_line[1], headers
