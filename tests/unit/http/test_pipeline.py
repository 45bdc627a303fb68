"""Middleware, endpoints, OpenAPI and the expiry worker, driven as plain ASGI (no sockets)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgspec
import pytest
from prometheus_client import CollectorRegistry
from starlette.routing import Mount, Route

from courier_adapters.settings import load_settings
from courier_core.errors import DependencyUnavailable, InvalidInput
from courier_http.app import create_app
from courier_http.exchange import Call, Deadlines, Endpoint, Reply, client_gone
from courier_http.middleware import (
    DroppedAnswerFilter,
    MetricsMiddleware,
    RecoveryMiddleware,
    RequestIdMiddleware,
)
from courier_http.ratelimit import Decision, RateLimitMiddleware, TokenBucketLimiter, global_key
from courier_http.telemetry import HttpMetrics
from courier_http.worker import ExpiryWorker

Message = dict[str, Any]


def scope(method: str = "GET", path: str = "/x", headers: list[tuple[bytes, bytes]] | None = None) -> Message:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "headers": headers or [],
        "client": ("127.0.0.1", 1),
    }


def receiver(*messages: Message) -> Any:
    queue = list(messages)
    gone = asyncio.Event()

    async def receive() -> Message:
        if queue:
            return queue.pop(0)
        await gone.wait()
        return {"type": "http.disconnect"}

    return receive


async def call(app: Any, request: Message, *messages: Message) -> list[Message]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await app(request, receiver(*messages, {"type": "http.request", "body": b""}), send)
    return sent


def body_of(sent: list[Message]) -> Any:
    return msgspec.json.decode(
        b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    )


async def test_recovery_turns_an_unhandled_exception_into_a_logged_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(scope: Message, receive: Any, send: Any) -> None:
        raise RuntimeError("postgresql://user:secret@db/courier exploded")

    with caplog.at_level(logging.ERROR):
        sent = await call(RequestIdMiddleware(RecoveryMiddleware(broken)), scope())
    assert sent[0]["status"] == 500
    assert body_of(sent) == {"error": {"code": "internal", "message": "internal error"}}
    assert b"secret" not in b"".join(m.get("body", b"") for m in sent)
    assert "unhandled error" in caplog.text


async def test_request_id_is_echoed_when_sane_and_made_otherwise() -> None:
    async def ok(scope: Message, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = RequestIdMiddleware(ok)
    sent = await call(app, scope(headers=[(b"x-request-id", b"abc-1")]))
    assert (b"x-request-id", b"abc-1") in sent[0]["headers"]
    sent = await call(app, scope(headers=[(b"x-request-id", b"a b\n")]))
    made = dict(sent[0]["headers"])[b"x-request-id"]
    assert len(made) == 32


async def test_endpoint_maps_errors_deadline_and_body_limit() -> None:
    async def invalid(call: Call) -> Reply:
        raise InvalidInput("phone")

    async def slow(call: Call) -> Reply:
        await asyncio.sleep(10)
        return Reply(200, {})

    async def down(call: Call) -> Reply:
        raise DependencyUnavailable()

    assert body_of(await call(Endpoint(invalid, template="/t", deadlines=Deadlines(5)), scope("POST")))[
        "error"
    ]["code"] == ("invalid_phone")
    deadlines = Deadlines(0.05, tick=0.01)
    timed_out = await call(Endpoint(slow, template="/t", deadlines=deadlines), scope())
    await deadlines.stop()
    assert timed_out[0]["status"] == 503 and (b"retry-after", b"1") in timed_out[0]["headers"]
    assert (await call(Endpoint(down, template="/t", deadlines=Deadlines(5)), scope()))[0]["status"] == 503
    huge = scope("POST", headers=[(b"content-length", str(2 * 1024 * 1024).encode())])
    assert (await call(Endpoint(invalid, template="/t", deadlines=Deadlines(5)), huge))[0]["status"] == 413


async def test_endpoint_without_deadline_does_no_work_for_a_client_already_gone() -> None:
    ran: list[bool] = []

    async def handler(call: Call) -> Reply:
        ran.append(True)
        return Reply(200, {})

    endpoint = Endpoint(handler, template="/t", deadlines=Deadlines(None))
    sent: list[Message] = []
    messages = [{"type": "http.request", "body": b"{}"}, {"type": "http.disconnect"}]

    async def receive() -> Message:
        return messages.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    await endpoint(scope("POST"), receive, send)
    assert ran == [] and sent == []


async def test_client_gone_does_not_wait_for_a_client_still_there() -> None:
    assert client_gone(receiver()) is False
    assert client_gone(receiver({"type": "http.disconnect"})) is True


async def test_rate_limit_middleware_answers_429_and_counts() -> None:
    registry = CollectorRegistry()
    metrics = HttpMetrics(registry)

    async def ok(scope: Message, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    limiter = TokenBucketLimiter(capacity=1, refill_per_second=1, clock=lambda: 0.0)
    app = RateLimitMiddleware(ok, limiter=limiter, key=global_key, on_limited=metrics.rate_limited)
    first = await call(app, scope())
    assert dict(first[0]["headers"])[b"x-ratelimit-remaining"] == b"0"
    second = await call(app, scope())
    assert second[0]["status"] == 429
    assert dict(second[0]["headers"])[b"retry-after"] == b"1"
    assert registry.get_sample_value("courier_rate_limit_exceeded_total") == 1


class SharedStandIn:
    """A shared limiter's answers, in order (the real one is tested on Redis in tests/integration)."""

    capacity = 5

    def __init__(self, *answers: Decision) -> None:
        self.answers = list(answers)
        self.keys: list[str] = []

    async def take(self, key: str) -> Decision:
        self.keys.append(key)
        return self.answers.pop(0)


async def test_a_shared_limiter_gets_the_same_headers_and_a_503_when_it_cannot_decide() -> None:
    async def ok(scope: Message, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    shared = SharedStandIn(Decision(True, 4), Decision(False, 0, 3), Decision(False, 0, 1, unavailable=True))
    app = RateLimitMiddleware(ok, limiter=shared, key=lambda scope: "198.51.100.1")
    allowed, limited, undecided = [await call(app, scope()) for _ in range(3)]
    assert allowed[0]["status"] == 200
    assert dict(allowed[0]["headers"])[b"x-ratelimit-limit"] == b"5"
    assert dict(allowed[0]["headers"])[b"x-ratelimit-remaining"] == b"4"
    assert limited[0]["status"] == 429 and dict(limited[0]["headers"])[b"retry-after"] == b"3"
    assert undecided[0]["status"] == 503 and b"retry-after" in dict(undecided[0]["headers"])
    assert body_of(undecided)["error"]["code"] == "unavailable"
    assert shared.keys == ["198.51.100.1"] * 3


async def test_metrics_use_the_route_template() -> None:
    registry = CollectorRegistry()

    class Matched:
        template = "/courier/{id}"

    async def routed(scope: Message, receive: Any, send: Any) -> None:
        scope["endpoint"] = Matched()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = RequestIdMiddleware(MetricsMiddleware(routed, metrics=HttpMetrics(registry)))
    await call(app, scope(path="/api/v1/courier/5"))
    await call(app, scope(path="/courier/5"))
    labels = {"method": "GET", "status": "200"}
    assert (
        registry.get_sample_value("courier_http_requests_total", {**labels, "path": "/api/v1/courier/{id}"})
        == 1
    )
    assert registry.get_sample_value("courier_http_requests_total", {**labels, "path": "/courier/{id}"}) == 1


def test_openapi_lists_exactly_the_routes_of_the_app() -> None:
    app = create_app(load_settings({"COURIER_DATABASE_URL": "postgresql://nowhere/x"}, dotenv=None))
    served: set[tuple[str, str]] = set()
    for route in app.routes:
        if getattr(route, "path", "").startswith(("/console", "/docs")):
            continue  # the console's and the docs' static pages are not API operations (api.md)
        inner = route.routes if isinstance(route, Mount) else [route]
        prefix = route.path if isinstance(route, Mount) else ""
        for leaf in inner:
            assert isinstance(leaf, Route) and leaf.methods
            if leaf.path.endswith("/") and not prefix:
                continue  # the seed's trailing-slash aliases of the root's paths (not documented twice)
            served |= {(m.lower(), prefix + leaf.path) for m in leaf.methods if m != "HEAD"}
    served.add(("head", "/healthcheck"))  # the one HEAD the spec names
    assert _document_routes(app) == served


def _document_routes(app: Any) -> set[tuple[str, str]]:
    import httpx

    async def fetch() -> Any:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            return (await http.get("/openapi.json")).json()

    document = asyncio.run(fetch())
    return {(method, path) for path, item in document["paths"].items() for method in item}


async def test_expiry_worker_runs_on_its_interval_survives_failures_and_stops() -> None:
    calls: list[int] = []

    async def release() -> int:
        calls.append(1)
        if len(calls) == 2:
            raise DependencyUnavailable()
        if len(calls) == 3:
            raise RuntimeError("bug")
        return 1

    worker = ExpiryWorker(release, interval=0.01)
    worker.start()
    for _ in range(500):
        if len(calls) >= 5:
            break
        await asyncio.sleep(0.01)
    await worker.stop()
    stopped_at = len(calls)
    await asyncio.sleep(0.05)
    assert stopped_at >= 5 and len(calls) == stopped_at


async def test_expiry_worker_off_at_zero_interval() -> None:
    async def release() -> int:
        raise AssertionError("must not run")

    worker = ExpiryWorker(release, interval=0)
    worker.start()
    await asyncio.sleep(0.02)
    await worker.stop()


async def test_work_of_a_client_that_leaves_mid_request_is_cancelled() -> None:
    left = asyncio.Event()
    cancelled: list[bool] = []
    messages = [{"type": "http.request", "body": b""}]

    async def receive() -> Message:
        if messages:
            return messages.pop()
        await left.wait()
        return {"type": "http.disconnect"}

    async def slow(call: Call) -> Reply:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return Reply(200, {})

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    deadlines = Deadlines(30, tick=0.01)
    request = asyncio.create_task(Endpoint(slow, template="/t", deadlines=deadlines)(scope(), receive, send))
    await asyncio.sleep(0.05)
    assert not request.done()
    left.set()
    await asyncio.wait_for(request, 5)
    await deadlines.stop()
    assert cancelled == [True] and sent == []


async def test_recovery_cannot_replace_an_answer_already_started() -> None:
    async def half(scope: Message, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("after the start")

    with pytest.raises(RuntimeError):
        await call(RequestIdMiddleware(RecoveryMiddleware(half)), scope())


async def test_an_answer_the_client_left_before_is_counted_and_logged_at_debug_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A pipelined request whose connection closed: the server's write fails (uvloop: RuntimeError)."""
    registry = CollectorRegistry()
    metrics = HttpMetrics(registry)

    async def ok(scope: Message, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def closed(message: Message) -> None:
        raise RuntimeError("unable to perform operation on <TCPTransport closed=True>; the handler is closed")

    app = RequestIdMiddleware(MetricsMiddleware(RecoveryMiddleware(ok), metrics=metrics))
    server_log = logging.getLogger("uvicorn.error")
    quiet = DroppedAnswerFilter()
    server_log.addFilter(quiet)
    try:

        async def served() -> None:  # one task, as uvicorn serves each request
            await app(scope(), receiver({"type": "http.request", "body": b""}), closed)
            server_log.error("ASGI callable returned without completing response.")

        with caplog.at_level(logging.INFO):
            await asyncio.create_task(served())
            server_log.error("another request's real error")  # outside that task: still an error
    finally:
        server_log.removeFilter(quiet)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert errors == ["another request's real error"]
    gone = registry.get_sample_value("courier_http_clients_gone_total", {"when": "answering"})
    assert gone == 1.0
    assert (
        registry.get_sample_value(
            "courier_http_requests_total", {"method": "GET", "path": "unmatched", "status": "200"}
        )
        is None
    )
