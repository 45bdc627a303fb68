"""The live stream's parts without sockets: a client's buffer, the poller, the endpoint as plain ASGI.

The real process, the database and the commit order are ``tests/e2e/http/test_stream.py``'s.
"""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import MutableMapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import msgspec
import pytest
from prometheus_client import CollectorRegistry
from starlette.routing import Mount, Route

from courier_adapters.settings import load_settings
from courier_core.errors import DependencyUnavailable
from courier_core.model import EventType, OutboxEvent, StoredEvent
from courier_http.app import create_app
from courier_http.middleware import STREAM_OPENED, MetricsMiddleware
from courier_http.stream import KEEP_ALIVE, Listener, LiveStream, encode, resume_position
from courier_http.telemetry import HttpMetrics

Message = MutableMapping[str, Any]
WAIT = 10.0  # bound on any wait here (things happen within a few milliseconds)


def stored(position: int, kind: EventType = EventType.COURIER_CREATED) -> StoredEvent:
    event = OutboxEvent(
        event_id=str(uuid.uuid4()),
        type=kind,
        key=str(position),
        occurred_at=datetime(2026, 11, 25, 12, 0, tzinfo=UTC),
        data={"courier_id": position},
    )
    return StoredEvent(position, event)


class FakeOutbox:
    """The stream's side of the outbox port, with a switch to fail like a database that is down."""

    def __init__(self, positions: Sequence[int] = ()) -> None:
        self.events = [stored(p) for p in positions]
        self.failures = 0  # reads of events that fail from now on
        self.down = False  # whether reading the newest position fails
        self.reads = 0

    def add(self, *positions: int) -> None:
        self.events.extend(stored(p) for p in positions)

    async def after(self, position: int, *, limit: int) -> list[StoredEvent]:
        self.reads += 1
        if self.failures:
            self.failures -= 1
            raise DependencyUnavailable("database unavailable")
        return [e for e in self.events if e.position > position][:limit]

    async def last_position(self) -> int:
        if self.down:
            raise DependencyUnavailable("database unavailable")
        return max((e.position for e in self.events), default=0)

    async def add_event(self, event: OutboxEvent) -> None:  # pragma: no cover - not the stream's
        raise NotImplementedError


def live(outbox: FakeOutbox, **options: Any) -> LiveStream:
    stream = LiveStream(
        max_clients=options.pop("max_clients", 5),
        interval=options.pop("interval", 0.005),
        registry=CollectorRegistry(),
        **options,
    )
    stream.open(outbox)  # type: ignore[arg-type]
    return stream


def request(method: str = "GET", headers: Sequence[tuple[bytes, bytes]] = (), query: bytes = b"") -> Message:
    return {
        "type": "http",
        "method": method,
        "path": "/api/v1/stream",
        "headers": list(headers),
        "query_string": query,
    }


class Client:
    """One ASGI call of the endpoint, running in a task; ``leave()`` is the client disconnecting."""

    def __init__(self, stream: LiveStream, scope: Message) -> None:
        self.scope = scope
        self.sent: list[Message] = []
        self.arrived = asyncio.Event()
        self._gone = asyncio.Event()
        self._requested = False
        self.stuck: asyncio.Event | None = None
        self.task = asyncio.create_task(stream.stream(scope, self._receive, self._send))

    async def _receive(self) -> Message:
        if not self._requested:
            self._requested = True
            return {"type": "http.request", "body": b""}
        await self._gone.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: Message) -> None:
        if self.stuck is not None:
            await self.stuck.wait()  # a client that reads nothing: the write does not finish
        self.sent.append(message)
        self.arrived.set()

    def leave(self) -> None:
        self._gone.set()

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent[1:])

    def ids(self) -> list[int]:
        return [int(line[4:]) for line in self.body.decode().splitlines() if line.startswith("id: ")]

    async def until(self, check: Any) -> None:
        async with asyncio.timeout(WAIT):
            while not check():
                self.arrived.clear()
                await self.arrived.wait()

    async def ended(self) -> None:
        async with asyncio.timeout(WAIT):
            await self.task


def test_an_event_is_one_sse_message_with_the_published_json() -> None:
    event = stored(42, EventType.DELIVERY_ASSIGNED)
    lines = encode(event).decode().split("\n")
    assert lines[:2] == ["id: 42", "event: delivery.assigned"]
    assert lines[3:] == ["", ""]
    data = msgspec.json.decode(lines[2].removeprefix("data: "))
    assert data == {
        "event_id": event.event.event_id,
        "type": "delivery.assigned",
        "occurred_at": "2026-11-25T12:00:00Z",
        "courier_id": 42,
    }


async def test_a_listener_skips_what_it_has_and_a_slow_one_is_closed() -> None:
    listener = Listener(capacity=3)
    listener.last = 1
    listener.offer([(1, b"a"), (2, b"b")])
    assert await listener.next(WAIT) == b"b"
    listener.offer([(2, b"b"), (3, b"c")])
    assert await listener.next(WAIT) == b"c"
    assert await listener.next(0.001) == KEEP_ALIVE  # silence: a keep-alive
    listener.offer([(4, b"d"), (5, b"e")])
    listener.offer([(6, b"f"), (7, b"g")])  # 4 waiting events: more than it may fall behind
    assert listener.reason == "slow"
    assert await listener.next(WAIT) is None
    listener.offer([(8, b"h")])
    listener.close("shutdown")
    assert listener.reason == "slow"  # the first reason stays


async def test_new_clients_get_new_events_and_one_poller_serves_them_all() -> None:
    outbox = FakeOutbox([1, 2, 3])
    stream = live(outbox)
    first, second = Client(stream, request()), Client(stream, request())
    await first.until(lambda: len(first.sent) >= 2)
    await second.until(lambda: len(second.sent) >= 2)
    assert first.status == 200
    assert (b"content-type", b"text/event-stream; charset=utf-8") in first.sent[0]["headers"]
    assert b"events after 3" in first.body
    assert STREAM_OPENED in first.scope
    outbox.add(4, 5)
    await first.until(lambda: first.ids() == [4, 5])
    await second.until(lambda: second.ids() == [4, 5])
    first.leave()
    await first.ended()
    outbox.add(6)
    await second.until(lambda: second.ids() == [4, 5, 6])
    assert first.ids() == [4, 5]
    second.leave()
    await second.ended()
    await asyncio.sleep(0.05)
    reads = outbox.reads
    await asyncio.sleep(0.05)
    assert outbox.reads == reads  # nobody listens: the outbox is not read
    await stream.close()


async def test_a_client_resuming_gets_the_missed_events_then_live_ones() -> None:
    outbox = FakeOutbox(range(1, 1201))  # more than one outbox read
    stream = live(outbox)
    client = Client(stream, request(headers=[(b"last-event-id", b"7")], query=b"after=1000"))
    await client.until(lambda: len(client.ids()) == 1193)
    outbox.add(1201)
    await client.until(lambda: len(client.ids()) == 1194)
    assert client.ids() == list(range(8, 1202))  # the header wins over ?after=
    client.leave()
    await client.ended()
    by_query = Client(stream, request(query=b"after=1199"))
    await by_query.until(lambda: by_query.ids() == [1200, 1201])
    await stream.close()
    await by_query.ended()


async def test_what_retention_pruned_is_said_and_an_unknown_id_starts_afresh() -> None:
    outbox = FakeOutbox([5, 6])
    stream = live(outbox)
    pruned = Client(stream, request(headers=[(b"last-event-id", b"2")]))
    await pruned.until(lambda: pruned.ids() == [5, 6])
    assert b": events after 2 up to 4 are not in the outbox" in pruned.body
    unknown = Client(stream, request(headers=[(b"last-event-id", b"99")]))
    await unknown.until(lambda: b"events after 6" in unknown.body)
    outbox.add(7)
    await unknown.until(lambda: unknown.ids() == [7])
    await stream.close()
    await pruned.ended()
    await unknown.ended()


async def test_a_slow_client_is_disconnected_and_others_go_on() -> None:
    outbox = FakeOutbox([1])
    stream = live(outbox, buffer=2)
    slow, fine = Client(stream, request()), Client(stream, request())
    await slow.until(lambda: len(slow.sent) >= 2)
    await fine.until(lambda: len(fine.sent) >= 2)
    slow.stuck = blocked = asyncio.Event()
    outbox.add(2)
    await fine.until(lambda: fine.ids() == [2])
    outbox.add(3, 4)
    await fine.until(lambda: fine.ids() == [2, 3, 4])
    outbox.add(5)
    await fine.until(lambda: fine.ids() == [2, 3, 4, 5])
    blocked.set()  # its last write goes through: it finds itself closed
    await slow.ended()
    assert stream.metrics.closed.labels("slow")._value.get() == 1
    await stream.close()
    await fine.ended()


async def test_past_the_limit_503_and_bad_positions_400() -> None:
    outbox = FakeOutbox()
    stream = live(outbox, max_clients=1)
    first = Client(stream, request())
    await first.until(lambda: len(first.sent) >= 2)
    second = Client(stream, request())
    await second.ended()
    assert second.status == 503
    assert (b"retry-after", b"1") in second.sent[0]["headers"]
    assert b"too many open streams" in second.body
    for scope in (
        request(headers=[(b"last-event-id", b"x")]),
        request(query=b"after=-1"),
        request(query=b"after=99999999999999999999"),
        request(query=b"since=1"),
    ):
        bad = Client(stream, scope)
        await bad.ended()
        assert bad.status == 400, scope
    head = Client(stream, request("HEAD"))
    await head.ended()
    assert (head.status, head.body) == (200, b"")
    await stream.close()
    await first.ended()
    assert first.sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    after = Client(stream, request())  # stopping: no new stream
    await after.ended()
    assert after.status == 503


def test_resume_position_ignores_an_empty_header() -> None:
    assert resume_position(request(headers=[(b"last-event-id", b" ")])) is None
    assert resume_position(request(query=b"after=3")) == 3


async def test_the_poller_outlives_a_database_outage() -> None:
    outbox = FakeOutbox([1])
    stream = live(outbox)
    client = Client(stream, request())
    await client.until(lambda: len(client.sent) >= 2)
    outbox.failures = 3
    outbox.add(2)
    await client.until(lambda: client.ids() == [2])
    outbox.down = True  # a new client while the database is down: 503
    refused = Client(stream, request())
    await refused.ended()
    assert refused.status == 503
    await stream.close()
    await client.ended()


async def test_a_heartbeat_keeps_a_quiet_stream_open() -> None:
    stream = live(FakeOutbox(), heartbeat=0.01)
    client = Client(stream, request())
    await client.until(lambda: client.body.count(KEEP_ALIVE) >= 2)
    await stream.close()
    await client.ended()


async def test_sigterm_ends_the_streams_and_is_passed_on() -> None:
    received: list[int] = []
    original = signal.signal(signal.SIGTERM, lambda sig, _frame: received.append(sig))
    try:
        stream = live(FakeOutbox())
        client = Client(stream, request())
        await client.until(lambda: len(client.sent) >= 2)
        os.kill(os.getpid(), signal.SIGTERM)
        await client.ended()
        assert received == [signal.SIGTERM]  # the server's own handler still ran
        assert stream.metrics.closed.labels("shutdown")._value.get() == 1
        await stream.close()
        assert signal.getsignal(signal.SIGTERM) is not None
        assert getattr(signal.getsignal(signal.SIGTERM), "__name__", "") == "<lambda>"  # given back
    finally:
        signal.signal(signal.SIGTERM, original)


def test_the_route_is_mounted_under_api_v1_without_the_ordinary_endpoint() -> None:
    app = create_app(load_settings({}, dotenv=None), registry=CollectorRegistry())
    live_stream = app.state.runtime.live
    mount = next(r for r in app.routes if isinstance(r, Mount) and r.path == "/api/v1")
    route = next(r for r in mount.routes if isinstance(r, Route) and r.path == "/stream")
    assert cast(Any, route.endpoint)._endpoints["GET"] == live_stream.stream  # no deadline, no body read
    assert not any(isinstance(r, Route) and r.path == "/stream" for r in app.routes)  # not at the root


async def test_the_request_metrics_count_a_stream_until_it_opened(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([100.0, 5000.0])  # the middleware's start, then its end: over an hour later
    monkeypatch.setattr("courier_http.middleware.time.perf_counter", lambda: next(clock))
    registry = CollectorRegistry()
    metrics = HttpMetrics(registry)

    async def streamed(scope: Message, receive: Any, send: Any) -> None:
        scope[STREAM_OPENED] = 100.25  # its headers went out a quarter of a second in
        await send({"type": "http.response.start", "status": 200, "headers": []})
        scope["courier.status"] = 200

    async def ignore(message: Message) -> None:
        return None

    async def nothing() -> Message:
        return {"type": "http.request", "body": b""}

    await MetricsMiddleware(streamed, metrics=metrics)(request(), nothing, ignore)
    labels = {"method": "GET", "path": "unmatched", "status": "200"}
    assert registry.get_sample_value("courier_http_request_duration_seconds_sum", labels) == 0.25
