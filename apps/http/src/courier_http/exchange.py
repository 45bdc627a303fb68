"""The request/answer plumbing of every route, kept to plain ASGI for speed.

An :class:`Endpoint` reads the body (1 MiB at most), checks that the client is still there, runs the
handler under the request's deadline, and sends its :class:`Reply` — or the error answer that
:mod:`courier_http.errors` maps from whatever the handler raised.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from starlette.types import Message, Receive, Scope, Send

from courier_core.actor import acting_as
from courier_core.errors import CourierError
from courier_http.errors import ApiError, from_core, render, unavailable

MAX_BODY = 1024 * 1024
BODYLESS = frozenset({"GET", "HEAD"})
JSON = (b"content-type", b"application/json")
_encode = msgspec.json.Encoder().encode

Headers = Sequence[tuple[bytes, bytes]]


class Reply:
    """A successful answer: status, a JSON-able payload (``None``: empty body), extra headers.

    A ``bytes`` payload is sent as it is, with ``content_type``.
    """

    __slots__ = ("content_type", "headers", "payload", "status")

    def __init__(
        self, status: int, payload: Any = None, headers: Headers = (), *, content_type: bytes = b""
    ) -> None:
        self.status = status
        self.payload = payload
        self.headers = headers
        self.content_type = content_type


class Call:
    """What a handler sees of the request."""

    __slots__ = ("body", "scope")

    def __init__(self, scope: Scope, body: bytes) -> None:
        self.scope = scope
        self.body = body

    @property
    def path_params(self) -> dict[str, Any]:
        params: dict[str, Any] = self.scope.get("path_params", {})
        return params

    def query(self) -> list[tuple[str, str]]:
        raw: bytes = self.scope.get("query_string", b"")
        return parse_qsl(raw.decode("latin-1"), keep_blank_values=True) if raw else []

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.scope["headers"]:
            if key == name:
                value_: bytes = value
                return value_
        return None


Handler = Callable[[Call], Awaitable[Reply]]


async def send_json(
    send: Send, status: int, body: bytes, headers: Headers = (), *, head: bool = False
) -> None:
    start_headers = [JSON, (b"content-length", str(len(body)).encode()), *headers]
    await send({"type": "http.response.start", "status": status, "headers": start_headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


async def send_error(send: Send, error: ApiError, *, head: bool = False) -> None:
    await send_json(send, error.status, render(error), error.headers, head=head)


async def send_reply(send: Send, reply: Reply, *, head: bool = False) -> None:
    if reply.payload is None:
        headers = [(b"content-length", b"0"), *reply.headers]
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return
    if isinstance(reply.payload, bytes):
        length = str(len(reply.payload)).encode()
        headers = [(b"content-type", reply.content_type), (b"content-length", length), *reply.headers]
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if head else reply.payload})
        return
    await send_json(send, reply.status, _encode(reply.payload), reply.headers, head=head)


async def read_body(scope: Scope, receive: Receive) -> bytes:
    """The whole body, refusing more than :data:`MAX_BODY` bytes (413) before reading it all."""
    for key, value in scope["headers"]:
        if key == b"content-length" and value.isdigit() and int(value) > MAX_BODY:
            raise ApiError.of("payload_too_large", 413)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise ApiError.of("payload_too_large", 413)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class ClientGone(Exception):
    """The client disconnected before its work started: nothing to do, nobody to answer."""


def client_gone(receive: Receive) -> bool:
    """Whether the client has already disconnected, without waiting.

    Once the body is read, the server's ``receive`` returns at once only for a disconnect; otherwise it
    would wait for one. So the coroutine is stepped once by hand: finished means disconnected (or, once,
    the unread body of a GET: not a disconnect), suspended means the client is still there (and the
    coroutine is closed). No task, no timer.
    """
    step = receive()
    try:
        step.send(None)  # type: ignore[attr-defined]
    except StopIteration as done:
        message: Message = done.value
        return message.get("type") == "http.disconnect"
    step.close()  # type: ignore[attr-defined]
    return False


DEADLINE = "deadline"
GONE = "gone"
ACTOR = "api"


def actor_of(scope: Scope) -> str:
    """Who history records for this request: ``api``, or ``api:<token name>`` when tokens are on."""
    name: str | None = scope.get("courier.actor")  # set by TokenAuthMiddleware
    return ACTOR if name is None else f"{ACTOR}:{name}"


class Deadlines:
    """Request deadlines and client departures, watched by one sweeper task per process.

    ``asyncio.timeout`` costs a timer handle and its bookkeeping on every request (a few microseconds
    of CPU); here a request only enters and leaves a dict. Every ``tick`` seconds the sweeper cancels
    the requests whose deadline passed or whose client disconnected (it peeks at each one's
    ``receive`` without waiting), so abandoned work stops within ``tick``.
    """

    def __init__(self, timeout: float | None, *, tick: float = 0.05) -> None:
        self.timeout = timeout
        self._tick = tick
        self._inflight: dict[asyncio.Task[Any], tuple[float, Receive]] = {}
        self._cancelled: dict[asyncio.Task[Any], str] = {}
        self._sweeper: asyncio.Task[None] | None = None

    def enter(self, receive: Receive) -> asyncio.Task[Any] | None:
        if self.timeout is None:
            return None
        task = asyncio.current_task()
        assert task is not None
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep(), name="courier-request-deadlines")
        self._inflight[task] = (task.get_loop().time() + self.timeout, receive)
        return task

    def leave(self, task: asyncio.Task[Any] | None) -> str | None:
        """Forget ``task``; return why the sweeper cancelled it (``deadline``, ``gone``), if it did."""
        if task is None:
            return None
        self._inflight.pop(task, None)
        reason = self._cancelled.pop(task, None)
        if reason is not None:
            task.uncancel()
        return reason

    async def stop(self) -> None:
        sweeper, self._sweeper = self._sweeper, None
        if sweeper is not None:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._tick)
            now = loop.time()
            for task, (deadline, receive) in list(self._inflight.items()):
                if task in self._cancelled:
                    continue
                reason = DEADLINE if deadline <= now else GONE if client_gone(receive) else None
                if reason is not None:
                    self._cancelled[task] = reason
                    task.cancel()


class Endpoint:
    """An ASGI app around one handler: body, liveness check, deadline, error mapping, answer."""

    def __init__(self, handler: Handler, *, template: str, deadlines: Deadlines) -> None:
        self.handler = handler
        self.template = template
        self.deadlines = deadlines

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        head = scope["method"] == "HEAD"
        try:
            reply = await self._run(scope, receive)
        except ClientGone:
            scope["courier.client_gone"] = "working"
            return
        except ApiError as error:
            await send_error(send, error, head=head)
            return
        await send_reply(send, reply, head=head)

    async def _run(self, scope: Scope, receive: Receive) -> Reply:
        # A GET or HEAD body means nothing here, so it is not read; the others are read whole.
        body = b"" if scope["method"] in BODYLESS else await read_body(scope, receive)
        task = self.deadlines.enter(receive)
        if task is None and client_gone(receive):
            # Without a deadline no sweeper watches this request: look once before starting.
            raise ClientGone
        try:
            if scope["method"] in BODYLESS:  # reads change nothing: no actor to record
                return await self.handler(Call(scope, body))
            with acting_as(actor_of(scope)):  # a context variable: this request's task only
                return await self.handler(Call(scope, body))
        except CourierError as exc:
            raise from_core(exc) from exc
        except asyncio.CancelledError:
            reason, task = self.deadlines.leave(task), None
            if reason == DEADLINE:
                raise unavailable() from None
            if reason == GONE:
                raise ClientGone from None
            raise
        finally:
            self.deadlines.leave(task)
