"""The middleware chain, outermost first: request id → access log → metrics → recovery.

A client may hang up at any moment, also while its answer is written (a pipelined request whose
connection closed): the write fails in the server. The one ``send`` wrapper turns that into
:class:`AnswerDropped`, which the recovery layer counts (``courier_http_clients_gone_total``) and logs
at debug: a client leaving is not an error of courier's.

Pure ASGI, no task per request, and one ``send`` wrapper for the whole chain (the outermost layer
records the answer's status in the scope for the others). The route template for the
metrics comes from the matched endpoint (``scope["endpoint"].template``), never from the raw path.
"""

from __future__ import annotations

import contextvars
import itertools
import logging
import os
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from courier_adapters.logs import bind
from courier_http.accesslog import LOGGER, AccessLogWriter, LoggingAccessLog
from courier_http.errors import internal
from courier_http.exchange import send_error
from courier_http.telemetry import HttpMetrics

access_log = logging.getLogger(LOGGER)
error_log = logging.getLogger("courier.http")
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")
API_PREFIX = "/api/v1"
UNMATCHED = "unmatched"


def route_template(scope: Scope) -> str:
    """``/api/v1/courier/{id}`` for a request to ``/api/v1/courier/7``; ``unmatched`` for no route."""
    template: str | None = getattr(scope.get("endpoint"), "template", None)
    if template is None:
        return UNMATCHED
    if scope["path"].startswith(API_PREFIX + "/"):
        return API_PREFIX + template
    return template


STATUS = "courier.status"  # the answer's status, recorded once by the outermost layer
GONE = "courier.client_gone"  # set when the client left: WORKING before its answer, ANSWERING during it
WORKING, ANSWERING = "working", "answering"
# Set in the request's task when its answer was dropped: uvicorn then says, in the same task, that the
# app "returned without completing response"; DroppedAnswerFilter turns that line into a debug one.
_ANSWER_DROPPED: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "courier_answer_dropped", default=False
)


class AnswerDropped(Exception):
    """The answer could not be written: the client's connection is gone."""


class DroppedAnswerFilter(logging.Filter):
    """On ``uvicorn.error``: the server's complaint about an answer courier dropped is a debug line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _ANSWER_DROPPED.get() and record.levelno >= logging.WARNING:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


def quiet_dropped_answers() -> None:
    """Install :class:`DroppedAnswerFilter` on uvicorn's error logger (once per process)."""
    server_log = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, DroppedAnswerFilter) for f in server_log.filters):
        server_log.addFilter(DroppedAnswerFilter())


STREAM_OPENED = "courier.stream_opened"  # perf_counter() when a live stream's headers went out


class RequestIdMiddleware:
    """Take ``X-Request-ID`` (when it is sane) or make one; echo it and bind it to every log line.

    Its ``send`` wrapper is the only one of the chain: it also records the answer's status in the scope
    (``courier.status``), which the inner layers read after the call instead of each wrapping ``send``.
    Made ids are a random per-process prefix and a counter: unique without a ``urandom`` system call per
    request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._prefix = uuid.uuid4().hex[:16].encode()
        self._counter = itertools.count(1)

    def _next_id(self) -> bytes:
        return b"%s%016x" % (self._prefix, next(self._counter))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = b""
        for key, value in scope["headers"]:
            if key == b"x-request-id" and _REQUEST_ID.fullmatch(value):
                request_id = value
                break
        if not request_id:
            request_id = self._next_id()
        header = (b"x-request-id", request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
                scope[STATUS] = message["status"]
            try:
                await send(message)
            except (OSError, RuntimeError) as exc:  # uvloop: RuntimeError on a closed transport
                scope[GONE] = ANSWERING
                raise AnswerDropped(str(exc)) from exc

        with bind(request_id=request_id.decode()):
            await self.app(scope, receive, send_with_id)


class AccessLogMiddleware:
    """One line per request (JSON by default): method, path, status, duration, client, pid."""

    def __init__(self, app: ASGIApp, *, fmt: str = "json") -> None:
        self.app = app
        self.pid = os.getpid()  # which worker served it, when there are several
        self.writer: AccessLogWriter | LoggingAccessLog = (
            AccessLogWriter() if fmt == "json" else LoggingAccessLog()
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not access_log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            client = scope.get("client")
            method, path, status = scope["method"], scope["path"], scope.get(STATUS, 0)
            self.writer.write(
                f"{method} {path} {status}",
                {
                    "method": method,
                    "path": path,
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                    "client": client[0] if client else None,
                    "pid": self.pid,
                },
            )


class MetricsMiddleware:
    """``courier_http_requests_total``, ``courier_http_request_duration_seconds``: method, route, status."""

    def __init__(self, app: ASGIApp, *, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            gone = scope.get(GONE)
            if gone:
                self.metrics.client_gone(ANSWERING if gone == ANSWERING else WORKING)
            else:
                # A live stream counts the time it took to open, not its whole life.
                seconds = scope.get(STREAM_OPENED, time.perf_counter()) - started
                self.metrics.request(scope["method"], route_template(scope), scope.get(STATUS, 500), seconds)


class RecoveryMiddleware:
    """An unhandled exception becomes a logged 500 ``internal`` answer, never a traceback.

    An answer dropped because the client left is neither: it is logged at debug (and counted by the
    metrics layer, which sees ``courier.client_gone``).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        except AnswerDropped as dropped:
            _ANSWER_DROPPED.set(True)  # not reset: uvicorn logs about it after we return, in this task
            error_log.debug("client gone while its answer was written: %s", dropped)
        except Exception:
            error_log.exception("unhandled error in %s %s", scope["method"], scope["path"])
            if STATUS in scope:
                raise  # the answer is half sent: the server closes the connection
            await send_error(send, internal(), head=scope["method"] == "HEAD")
