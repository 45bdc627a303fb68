"""CPU cost of each middleware layer of courier-api, in process (no sockets, no database).

``python apps/http/bench/layers.py``: reads one courier through the full ASGI stack with the use case
replaced by an in-memory answer, adding the layers one by one, and compares with a bare Starlette
route doing the same. CPU time (``process_time``), so other load on the machine barely matters.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from courier_adapters.logs import configure_logging
from courier_adapters.settings import load_settings
from courier_core.model import Courier, CourierStatus, TransportType
from courier_http.app import create_app

LAYERS = ["RequestIdMiddleware", "AccessLogMiddleware", "MetricsMiddleware", "RecoveryMiddleware"]
NOW = datetime.now(UTC)
COURIER = Courier(1, "Ivan", "+79990001122", CourierStatus.AVAILABLE, TransportType.CAR, NOW, NOW)


class InMemoryCouriers:
    async def get(self, courier_id: object) -> Courier:
        return COURIER


def courier_api(layers: Sequence[str]) -> Starlette:
    env = {"COURIER_DATABASE_URL": "postgresql://unused/x", "COURIER_RATE_LIMIT_SCOPE": "off"}
    settings = load_settings(env, dotenv=None)
    app = create_app(settings)
    # Starlette builds its middleware stack on the first call, from this list.
    app.user_middleware = [m for m in app.user_middleware if getattr(m.cls, "__name__", "") in layers]
    app.state.runtime.couriers = InMemoryCouriers()
    return app


def bare() -> Starlette:
    async def endpoint(request: Request) -> Response:
        c = await InMemoryCouriers().get(int(request.path_params["id"]))
        return JSONResponse(
            {
                "id": c.id, "name": c.name, "phone": c.phone, "status": c.status.value,
                "transport_type": c.transport_type.value, "created_at": c.created_at.isoformat(),
                "updated_at": c.updated_at.isoformat(),
            }
        )  # fmt: skip

    return Starlette(routes=[Route("/api/v1/courier/{id}", endpoint)])


async def request(app: Any) -> None:
    path = "/api/v1/courier/1"
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"bench"), (b"user-agent", b"wrk")], "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8080),
    }  # fmt: skip
    body = [{"type": "http.request", "body": b"", "more_body": False}]
    never = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if body:
            return body.pop()
        await never.wait()
        return {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        pass

    await app(scope, receive, send)


async def measure(app: Any, n: int) -> float:
    for _ in range(200):
        await request(app)
    started = time.process_time()
    for _ in range(n):
        await request(app)
    return (time.process_time() - started) / n * 1e6


async def main(rounds: int = 5, n: int = 5000) -> None:
    variants = [("bare Starlette", bare())] + [
        (
            " + ".join(["routes"] + [name.removesuffix("Middleware") for name in LAYERS[:i]]),
            courier_api(LAYERS[:i]),
        )
        for i in range(len(LAYERS) + 1)
    ]
    results: dict[str, list[float]] = {name: [] for name, _ in variants}
    for _ in range(rounds):
        for name, app in variants:
            results[name].append(await measure(app, n))
    for name, values in results.items():
        print(f"{sorted(values)[len(values) // 2]:7.1f} us CPU/request  {name}", file=sys.stderr)


if __name__ == "__main__":
    configure_logging("INFO", "json")
    sys.stdout = open("/dev/null", "w")  # noqa: SIM115 - the access lines are not the point here
    logging.getLogger().handlers[0].setStream(sys.stdout)  # type: ignore[attr-defined]
    asyncio.run(main())
