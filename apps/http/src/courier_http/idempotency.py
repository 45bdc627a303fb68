"""``Idempotency-Key`` on every POST (``dispatch-plus.md``, "Safe retries"): pure ASGI, innermost.

A POST that carries the header reserves its key (scoped by the token's name; one scope without
tokens) before it runs: the same key with the same request (method, route, query, body by meaning) within
``COURIER_IDEMPOTENCY_TTL`` gets the stored answer again, with ``Idempotent-Replayed: true``, and
changes nothing; with another request it gets 422 ``idempotency_key_reused``; while the first is still
being answered, 409 ``idempotency_key_in_progress`` with ``Retry-After``. Answers below 500 are
stored before they are sent; a 5xx (or no answer at all: the client left, the process stopped)
releases the key, so a retry runs again. Requests without the header cost one look at the headers.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import parse_qsl

import msgspec
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from courier_adapters.postgres.idempotency import StoredKey
from courier_core.errors import CourierError
from courier_http.errors import RETRY_AFTER_SECONDS, ApiError, from_core
from courier_http.exchange import ClientGone, read_body, send_error

log = logging.getLogger("courier.http.idempotency")

HEADER = b"idempotency-key"
REPLAYED = (b"idempotent-replayed", b"true")
_VALID_KEY = re.compile(rb"[\x21-\x7e]{1,255}")  # visible ASCII
_API_PREFIX = b"/api/v1"
MAX_SCOPE = 120
ATTEMPTS = 3


class KeyStore(Protocol):
    """Where keys are kept (:class:`courier_adapters.postgres.idempotency.PostgresIdempotencyStore`)."""

    async def reserve(self, scope: str, key: str, request_hash: bytes) -> bool: ...

    async def get(self, scope: str, key: str) -> StoredKey | None: ...

    async def complete(
        self, scope: str, key: str, request_hash: bytes, *, status: int, headers: str, body: bytes
    ) -> bool: ...

    async def release(self, scope: str, key: str, request_hash: bytes) -> None: ...


def key_scope(scope: Scope) -> str:
    """The token's name (keys of different tokens never meet); one scope when tokens are off."""
    name: str | None = scope.get("courier.actor")
    if name is None:
        return ""
    return name if len(name) <= MAX_SCOPE else hashlib.sha256(name.encode()).hexdigest()


FINGERPRINT = b"v3:"  # the prefix of today's fingerprints
FINGERPRINT_V2 = b"v2:"  # the body compared as JSON; a bare SHA-256 is a row of version 1


def request_hash(scope: Scope, body: bytes) -> bytes:
    """What makes two requests the same, by meaning: the method, the route's template (either prefix:
    one route) with its path parameters, the query, and the body as the route's handler reads it at
    this prefix (``Operation.meaning``: at the root ``{"order_ID": "a"}`` is ``{"order_id": "a"}``),
    canonicalised; a body the handler refuses, or a route with no body decoder, is compared as JSON
    (keys sorted, no whitespace), and a body that is not JSON as its bytes. Versioned: see
    :func:`same_request`."""
    meaning = _meaning(scope, body)
    return FINGERPRINT + _digest(scope, _json_canonical(body) if meaning is None else meaning)


def _meaning(scope: Scope, body: bytes) -> bytes | None:
    meanings: dict[str, Any] = getattr(scope.get("endpoint"), "meanings", {})
    decode = meanings.get(scope["method"])
    if decode is None:
        return None
    try:
        value = decode(body)
    except ApiError:  # refused: the 400 is kept for this body, compared as JSON
        return None
    return b"\0meaning\0" + msgspec.json.encode(msgspec.to_builtins(value), order="sorted")


def _json_canonical(body: bytes) -> bytes:
    try:
        return msgspec.json.encode(msgspec.json.decode(body), order="sorted")
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return b"\0raw\0" + body


def _digest(scope: Scope, canonical: bytes) -> bytes:
    template: str | None = getattr(scope.get("endpoint"), "template", None)
    if template is None:  # not routed (a bare app in a test): the path without the prefix
        template = scope["path"].removeprefix(_API_PREFIX.decode())
    params = sorted((str(k), str(v)) for k, v in scope.get("path_params", {}).items())
    query = sorted(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
    digest = hashlib.sha256(scope["method"].encode())
    for part in (template.encode(), msgspec.json.encode(params), msgspec.json.encode(query), canonical):
        digest.update(b"\0%d\0" % len(part))
        digest.update(part)
    return digest.digest()


def request_hash_v2(scope: Scope, body: bytes) -> bytes:
    """Version 2 (rows stored before version 3, compared this way until they expire): as version 3
    but the body always compared as JSON."""
    return FINGERPRINT_V2 + _digest(scope, _json_canonical(body))


def request_hash_v1(scope: Scope, body: bytes) -> bytes:
    """Version 1 (rows stored before version 2, compared this way until they expire): method, raw
    path without the prefix, raw query, raw body bytes."""
    path: bytes = scope.get("raw_path") or scope["path"].encode()
    if path.startswith(_API_PREFIX + b"/"):
        path = path[len(_API_PREFIX) :]
    digest = hashlib.sha256(scope["method"].encode())
    for part in (path, scope.get("query_string", b""), body):
        digest.update(b"\0%d\0" % len(part))
        digest.update(part)
    return digest.digest()


def same_request(stored: bytes, scope: Scope, body: bytes, digest: bytes) -> bool:
    """Whether a stored fingerprint is this request's, compared the way its version was made."""
    if stored.startswith(FINGERPRINT):
        return stored == digest
    if stored.startswith(FINGERPRINT_V2):
        return stored == request_hash_v2(scope, body)
    return stored == request_hash_v1(scope, body)


def invalid_key() -> ApiError:
    return ApiError.of(
        "invalid_request",
        message="Idempotency-Key must be 1 to 255 visible ASCII characters",
        field="Idempotency-Key",
    )


def in_progress() -> ApiError:
    error = ApiError.of("idempotency_key_in_progress", 409)
    error.headers = ((b"retry-after", str(RETRY_AFTER_SECONDS).encode()),)
    return error


class _Captured:
    """The inner app's answer, held back until it is stored."""

    __slots__ = ("body", "done", "headers", "status")

    def __init__(self) -> None:
        self.status: int | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.done = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = list(message.get("headers", ()))
        elif message["type"] == "http.response.body":
            self.body.append(message.get("body", b""))
            self.done = not message.get("more_body", False)

    @property
    def storable(self) -> bool:
        return self.done and self.status is not None and self.status < 500

    async def forward(self, send: Send) -> None:
        if self.status is None:
            return
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": b"".join(self.body)})


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the body already read, then the client's own messages."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class IdempotencyMiddleware:
    """Replays stored answers to POSTs that repeat an ``Idempotency-Key``; ``store`` is read per request
    (the database opens in the app's lifespan, after the routes are built)."""

    def __init__(self, app: ASGIApp, *, store: Callable[[], KeyStore]) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        raw = None
        for name, value in scope["headers"]:
            if name == HEADER:
                raw = value
                break
        if raw is None:
            await self.app(scope, receive, send)
            return
        try:
            body = await read_body(scope, receive)
            if not _VALID_KEY.fullmatch(raw):
                raise invalid_key()
        except ClientGone:
            scope["courier.client_gone"] = "working"
            return
        except ApiError as error:
            await send_error(send, error)
            return
        await self._serve(scope, receive, send, raw.decode("ascii"), body)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, key: str, body: bytes) -> None:
        store, owner, digest = self.store(), key_scope(scope), request_hash(scope, body)
        try:
            stored = await self._claim(store, owner, key, digest, scope, body)
        except CourierError as exc:  # the database is down: nothing reserved, nothing run
            await send_error(send, from_core(exc))
            return
        except ApiError as error:
            await send_error(send, error)
            return
        if stored is not None:
            headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in stored.headers]
            headers.append(REPLAYED)
            await send({"type": "http.response.start", "status": stored.status, "headers": headers})
            await send({"type": "http.response.body", "body": stored.body})
            return
        answer = _Captured()
        try:
            await self.app(scope, _replaying(body, receive), answer.send)
        except BaseException:
            await self._release(store, owner, key, digest)
            raise
        if answer.storable:
            assert answer.status is not None
            sent = json.dumps([[n.decode("latin-1"), v.decode("latin-1")] for n, v in answer.headers])
            try:
                await store.complete(
                    owner, key, digest, status=answer.status, headers=sent, body=b"".join(answer.body)
                )
            except Exception:
                # The change is made; the answer is not kept. Free the key rather than leave it in
                # progress (the lease would free it too, later).
                log.warning("could not store the answer of idempotency key %r", key, exc_info=True)
                await self._release(store, owner, key, digest)
        else:
            await self._release(store, owner, key, digest)
        await answer.forward(send)

    @staticmethod
    async def _claim(
        store: KeyStore, owner: str, key: str, digest: bytes, scope: Scope, body: bytes
    ) -> StoredKey | None:
        """``None``: the key is ours, run the request; else the stored answer to replay."""
        for _ in range(ATTEMPTS):
            if await store.reserve(owner, key, digest):
                return None
            stored = await store.get(owner, key)
            if stored is None:
                continue  # released between our two statements: try to reserve it again
            if not same_request(stored.request_hash, scope, body, digest):
                raise ApiError.of("idempotency_key_reused", 422)
            if stored.status is None:
                raise in_progress()
            return stored
        raise in_progress()

    @staticmethod
    async def _release(store: KeyStore, owner: str, key: str, digest: bytes) -> None:
        try:
            await store.release(owner, key, digest)
        except Exception:
            log.warning("could not release idempotency key %r", key, exc_info=True)
