"""``GET /api/v1/stream``: the outbox's events as server-sent events, as they commit.

Each message is ``id: <outbox position>``, ``event: <type>``, ``data: <the published JSON value>``.
Positions are stamped after commit, in order, by one stamper (:mod:`courier_adapters.postgres.stamper`),
so "everything after *n*" never misses an event committed later: a client that
reconnects with ``Last-Event-ID: n`` (or ``?after=n``) first gets the events after *n* that the outbox
still holds, then live ones, with no gap and no duplicate. Without it, a client gets only new events.

One poller task per process reads the outbox every ``COURIER_STREAM_POLL_INTERVAL`` while at least
one client listens, encodes each event once, and hands the batch to every client's buffer. A client
that falls :data:`CLIENT_BUFFER` events behind (it reads too slowly) is disconnected rather than
buffered without bound; it reconnects with ``Last-Event-ID`` and catches up from the outbox. At most
``COURIER_STREAM_MAX_CLIENTS`` streams are open per process (503 with ``Retry-After`` past that).

A stream is a business route (tokens apply, a ``read`` token suffices; the rate limiter counts the
opening request once) but not an ordinary one: the request deadline does not apply; the request
metrics record the time it took to open (``STREAM_OPENED``), not its whole life; its access log line is
written when it ends, with its duration. On SIGTERM/SIGINT every stream ends at once (uvicorn waits for
open connections before it stops), and new ones are refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any, cast
from urllib.parse import parse_qsl

import msgspec
from prometheus_client import CollectorRegistry, Counter, Gauge
from starlette.types import Message, Receive, Scope, Send

from courier_adapters.metrics.names import NAMESPACE
from courier_adapters.settings import Settings
from courier_core.errors import CourierError
from courier_core.model import MAX_ID, StoredEvent
from courier_core.ports import OutboxRepository
from courier_http.errors import ApiError, from_core, unavailable
from courier_http.exchange import Handler, send_error
from courier_http.middleware import STREAM_OPENED, AnswerDropped
from courier_http.routing import Operation, QueryParam

log = logging.getLogger("courier.http.stream")

PATH = "/stream"
HEARTBEAT = 15.0  # seconds of silence before a comment line keeps proxies from closing the stream
RETRY_MS = 2000  # how long an EventSource waits before reconnecting
BATCH = 500  # events per outbox read
CLIENT_BUFFER = 2000  # events a client may fall behind before it is disconnected
MAX_BACKOFF = 5.0  # seconds between outbox reads while the database fails
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),  # nginx: pass each event on at once
]
KEEP_ALIVE = b": keep-alive\n\n"
_encode = msgspec.json.Encoder().encode

Batch = Sequence[tuple[int, bytes]]


def encode(stored: StoredEvent) -> bytes:
    """One SSE message: ``id``, ``event`` and a one-line JSON ``data``."""
    event = stored.event
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (
        stored.position,
        event.type.value.encode(),
        _encode(event.message()),
    )


class Listener:
    """One client's place in the stream: its last position and what the poller handed it since."""

    __slots__ = ("_batches", "_pending", "_wake", "capacity", "last", "reason")

    def __init__(self, *, capacity: int = CLIENT_BUFFER) -> None:
        self.last = 0
        self.capacity = capacity
        self.reason: str | None = None  # why it was closed (``None``: open)
        self._batches: deque[Batch] = deque()
        self._pending = 0
        self._wake = asyncio.Event()

    def offer(self, batch: Batch) -> None:
        """Called by the poller; a client that cannot keep up is closed (``slow``), its buffer dropped."""
        if self.reason is not None:
            return
        self._pending += len(batch)
        if self._pending > self.capacity:
            self.close("slow")
            return
        self._batches.append(batch)
        self._wake.set()

    def close(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
            self._batches.clear()
            self._pending = 0
        self._wake.set()

    def take(self) -> bytes:
        """What arrived since the last take, skipping what the client already has (catch-up overlap)."""
        chunks: list[bytes] = []
        last = self.last
        while self._batches:
            for position, data in self._batches.popleft():
                if position > last:
                    chunks.append(data)
                    last = position
        self.last = last
        self._pending = 0
        return b"".join(chunks)

    async def next(self, timeout: float) -> bytes | None:
        """The next events (or a keep-alive after ``timeout`` seconds of silence); ``None`` once closed."""
        while True:
            if self.reason is not None:
                return None
            if self._batches:
                data = self.take()
                if data:
                    return data
                continue
            self._wake.clear()
            try:
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            except TimeoutError:
                return KEEP_ALIVE


class StreamMetrics:
    """Streams: ``courier_sse_streams_open``, ``..._events_sent_total``, ``..._closed_total``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.open = Gauge(
            "sse_streams_open",
            "Live streams open",
            registry=registry,
            multiprocess_mode="livesum",
            namespace=NAMESPACE,
        )
        self.sent = Counter(
            "sse_events_sent", "Events sent on live streams", registry=registry, namespace=NAMESPACE
        )
        self.closed = Counter(
            "sse_streams_closed",
            "Live streams ended, by why: client (it left), slow (it fell too far behind), shutdown, error",
            ["reason"],
            registry=registry,
            namespace=NAMESPACE,
        )
        for reason in ("client", "slow", "shutdown", "error"):
            self.closed.labels(reason)


class TooManyStreams(Exception):
    pass


class LiveStream:
    """The stream's endpoint, its clients and their one poller (see the module's docstring)."""

    def __init__(
        self,
        *,
        max_clients: int,
        interval: float,
        registry: CollectorRegistry,
        heartbeat: float = HEARTBEAT,
        buffer: int = CLIENT_BUFFER,
    ) -> None:
        self.max_clients = max_clients
        self.interval = interval
        self.heartbeat = heartbeat
        self.buffer = buffer
        self.metrics = StreamMetrics(registry)
        self._outbox: OutboxRepository | None = None
        self._listeners: set[Listener] = set()
        self._position = 0
        self._poller: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._closing = False
        self._restore_signals: Callable[[], None] | None = None

    @classmethod
    def create(cls, settings: Settings, registry: CollectorRegistry) -> LiveStream:
        return cls(
            max_clients=settings.stream_max_clients, interval=settings.stream_poll_interval, registry=registry
        )

    # --- lifecycle ---------------------------------------------------------------------------------

    def open(self, outbox: OutboxRepository) -> None:
        """At the app's start: read from ``outbox``; end every stream on SIGTERM/SIGINT."""
        self._outbox = outbox
        self._closing = False
        self._restore_signals = self._hook_stop_signals()

    def shutdown(self) -> None:
        """End every stream now and refuse new ones (the server is stopping)."""
        self._closing = True
        for listener in list(self._listeners):
            listener.close("shutdown")

    async def close(self) -> None:
        """At the app's stop: end the streams, stop the poller, give the signals back."""
        self.shutdown()
        if self._restore_signals is not None:
            self._restore_signals()
            self._restore_signals = None
        poller, self._poller = self._poller, None
        if poller is not None:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller

    def _hook_stop_signals(self) -> Callable[[], None] | None:
        """Chain onto the server's SIGTERM/SIGINT handlers so that streams end when it starts stopping.

        uvicorn stops gracefully: it waits for open connections before its lifespan shutdown, and a
        stream would keep it waiting until ``COURIER_SHUTDOWN_TIMEOUT``. It installs its handlers with
        ``signal.signal`` in the main thread before the app starts (and restores its own afterwards);
        ours end the streams and then call its. Nothing is hooked outside the main thread.
        """
        if threading.current_thread() is not threading.main_thread():
            return None
        loop = asyncio.get_running_loop()
        previous: dict[int, Any] = {}

        def handler(sig: int, frame: FrameType | None) -> None:
            loop.call_soon_threadsafe(self.shutdown)
            chained = previous.get(sig)
            if callable(chained):
                chained(sig, frame)
            elif chained == signal.SIG_DFL and sig == signal.SIGINT:
                raise KeyboardInterrupt

        for sig in STOP_SIGNALS:
            current = signal.getsignal(sig)
            if current in (None, signal.SIG_IGN):
                continue
            previous[sig] = current
            signal.signal(sig, handler)

        def restore() -> None:
            for sig, chained in previous.items():
                if signal.getsignal(sig) is handler:
                    signal.signal(sig, chained)

        return restore

    # --- the poller --------------------------------------------------------------------------------

    async def subscribe(self, after: int | None) -> Listener:
        """A new client, positioned after ``after`` (``None``: after the newest event)."""
        outbox = self._outbox
        if outbox is None or self._closing:
            raise ApiError(503, "unavailable", "the server is stopping", headers=unavailable().headers)
        listener = Listener(capacity=self.buffer)
        async with self._lock:
            if len(self._listeners) >= self.max_clients:
                raise TooManyStreams
            if self._poller is None:
                # Before any client's start is read: then nothing committed after it escapes the poller.
                self._position = await outbox.last_position()
            self._listeners.add(listener)
            self.metrics.open.inc()
            if self._poller is None:
                self._poller = asyncio.create_task(self._poll(outbox), name="courier-stream-poller")
        try:
            newest = await outbox.last_position()
        except BaseException:
            self.unsubscribe(listener)
            raise
        # An id past the newest one is from another database (restored, recreated): start afresh.
        listener.last = newest if after is None or after > newest else after
        return listener

    def unsubscribe(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.discard(listener)
            self.metrics.open.dec()

    async def _poll(self, outbox: OutboxRepository) -> None:
        failures = 0
        try:
            while self._listeners:
                try:
                    events = await outbox.after(self._position, limit=BATCH)
                except Exception as exc:
                    failures += 1
                    if failures == 1:
                        log.warning("live stream: the outbox cannot be read: %s", exc)
                    await asyncio.sleep(min(self.interval * 2**failures, MAX_BACKOFF))
                    continue
                if failures:
                    log.info("live stream: the outbox can be read again")
                    failures = 0
                if events:
                    batch = [(e.position, encode(e)) for e in events]
                    self._position = events[-1].position
                    for listener in list(self._listeners):
                        listener.offer(batch)
                if len(events) < BATCH:
                    await asyncio.sleep(self.interval)
        finally:
            if self._poller is asyncio.current_task():
                self._poller = None

    # --- the endpoint ------------------------------------------------------------------------------

    async def stream(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI endpoint of ``GET /api/v1/stream``."""
        head = scope["method"] == "HEAD"
        try:
            after = resume_position(scope)
            if head:
                await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
                await send({"type": "http.response.body", "body": b""})
                return
            listener = await self.subscribe(after)
        except TooManyStreams:
            error = ApiError(503, "unavailable", "too many open streams, try again later")
            error.headers = unavailable().headers
            await send_error(send, error)
            return
        except CourierError as exc:
            await send_error(send, from_core(exc), head=head)
            return
        except ApiError as error:
            await send_error(send, error, head=head)
            return
        try:
            reason = await self._serve(scope, receive, send, listener, after)
        finally:
            self.unsubscribe(listener)
        self.metrics.closed.labels(reason).inc()

    async def _serve(
        self, scope: Scope, receive: Receive, send: Send, listener: Listener, after: int | None
    ) -> str:
        start = listener.last
        scope[STREAM_OPENED] = time.perf_counter()
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        hello = b"retry: %d\n: courier live stream, events after %d\n\n" % (RETRY_MS, start)
        await send({"type": "http.response.body", "body": hello, "more_body": True})
        watcher = asyncio.create_task(_watch_disconnect(receive, listener))
        try:
            if after is not None:
                await self._catch_up(send, listener, after)
            while True:
                data = await listener.next(self.heartbeat)
                if data is None:
                    break
                await send({"type": "http.response.body", "body": data, "more_body": True})
                if data is not KEEP_ALIVE:
                    self.metrics.sent.inc(data.count(b"\nevent: "))
        except (OSError, AnswerDropped):
            listener.close("client")  # the connection went away under a write
        except Exception:
            log.exception("live stream failed")
            listener.close("error")
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        reason = listener.reason or "client"
        if reason != "client":
            with contextlib.suppress(OSError):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        return reason

    async def _catch_up(self, send: Send, listener: Listener, after: int) -> None:
        """What the client missed that the outbox still holds, straight from the outbox."""
        assert self._outbox is not None
        first = listener.last == after  # (else the id was from another database: nothing to catch up)
        while listener.reason is None:
            events = await self._outbox.after(listener.last, limit=BATCH)
            if first and events and events[0].position > after + 1:
                # Retention may have pruned some (or they were never committed): say so, send the rest.
                gap = b": events after %d up to %d are not in the outbox\n\n" % (
                    after,
                    events[0].position - 1,
                )
                await send({"type": "http.response.body", "body": gap, "more_body": True})
            first = False
            if events:
                data = b"".join(encode(e) for e in events)
                listener.last = events[-1].position
                await send({"type": "http.response.body", "body": data, "more_body": True})
                self.metrics.sent.inc(len(events))
            if len(events) < BATCH:
                return

    def operations(self) -> list[Operation]:
        return [
            Operation(
                "GET",
                PATH,
                cast(Handler, self.stream),  # an ASGI app (raw=True), not a Handler
                "Live stream of courier's events (server-sent events): `id` is the event's outbox "
                "position, `event` its type, `data` the published JSON; reconnect with `Last-Event-ID` "
                "(or `after`) to get what was missed",
                errors=(400,),
                query=(
                    QueryParam(
                        "after",
                        "start after this position (the Last-Event-ID header, when sent, takes precedence)",
                        {"type": "integer", "minimum": 0, "maximum": MAX_ID},
                    ),
                    QueryParam(
                        "Last-Event-ID",
                        "resume after this event id (what an EventSource sends when it reconnects)",
                        {"type": "integer", "minimum": 0, "maximum": MAX_ID},
                        where="header",
                    ),
                ),
                content_type="text/event-stream",
                raw=True,
            )
        ]


async def _watch_disconnect(receive: Receive, listener: Listener) -> None:
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            listener.close("client")
            return


def _position(text: str, name: str) -> int:
    text = text.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 19) or int(text) > MAX_ID:
        raise ApiError.of(
            "invalid_request", message=f"{name}: an event id from this stream (an integer)", field=name
        )
    return int(text)


def resume_position(scope: Scope) -> int | None:
    """Where a client resumes: ``Last-Event-ID`` (what an EventSource sends), else ``?after=``."""
    for key, value in scope["headers"]:
        if key == b"last-event-id":
            text = value.decode("latin-1")
            return _position(text, "Last-Event-ID") if text.strip() else None
    raw: bytes = scope.get("query_string", b"")
    after: int | None = None
    if raw:
        for name, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
            if name != "after":
                raise ApiError.of(
                    "invalid_request", message=f"bad query parameter {name!r}: unknown parameter", field=name
                )
            after = _position(value, "after")
    return after
