"""The Idempotency-Key middleware driven as plain ASGI over an in-memory key store (the PostgreSQL
store's statements are tested in tests/integration/test_idempotency_pg.py, the whole on a real server
in tests/e2e/http/test_idempotency.py)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import msgspec
import pytest

from courier_adapters.postgres.idempotency import StoredKey
from courier_core.actor import current_actor
from courier_core.errors import DependencyUnavailable
from courier_http.api import BusinessApi
from courier_http.exchange import actor_of
from courier_http.idempotency import (
    IdempotencyMiddleware,
    key_scope,
    request_hash,
    request_hash_v1,
    request_hash_v2,
)
from courier_http.worker import ExpiryWorker

Message = dict[str, Any]


class MemoryKeys:
    """The store's behaviour, in memory; ``calls`` records every statement it would send."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], StoredKey] = {}
        self.calls: list[str] = []
        self.down = False

    async def reserve(self, scope: str, key: str, request_hash: bytes) -> bool:
        self.calls.append("reserve")
        if self.down:
            raise DependencyUnavailable()
        if (scope, key) in self.rows:
            return False
        self.rows[scope, key] = StoredKey(request_hash, None, [], b"")
        return True

    async def get(self, scope: str, key: str) -> StoredKey | None:
        self.calls.append("get")
        return self.rows.get((scope, key))

    async def complete(
        self, scope: str, key: str, request_hash: bytes, *, status: int, headers: str, body: bytes
    ) -> bool:
        self.calls.append("complete")
        self.rows[scope, key] = StoredKey(request_hash, status, msgspec.json.decode(headers), body)
        return True

    async def release(self, scope: str, key: str, request_hash: bytes) -> None:
        self.calls.append("release")
        self.rows.pop((scope, key), None)


class Counting:
    """An inner app that answers ``status`` and counts its runs; ``gate`` holds it until set."""

    def __init__(self, status: int = 201, *, fail: bool = False) -> None:
        self.status = status
        self.fail = fail
        self.runs = 0
        self.bodies: list[bytes] = []
        self.gate: asyncio.Event | None = None
        self.started = asyncio.Event()

    async def __call__(self, scope: Message, receive: Any, send: Any) -> None:
        self.runs += 1
        message = await receive()
        self.bodies.append(message["body"])
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise RuntimeError("bug")
        body = b'{"run":%d}' % self.runs
        headers = [(b"content-type", b"application/json"), (b"location", b"/api/v1/courier/7")]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def request(key: bytes | None, *, path: str = "/api/v1/courier", method: str = "POST") -> Message:
    headers = [] if key is None else [(b"idempotency-key", key)]
    return {"type": "http", "method": method, "path": path, "headers": headers, "query_string": b""}


async def call(app: Any, scope: Message, body: bytes = b'{"a":1}') -> list[Message]:
    sent: list[Message] = []
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> Message:
        if messages:
            return messages.pop(0)
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def status_of(sent: list[Message]) -> int:
    status: int = sent[0]["status"]
    return status


def headers_of(sent: list[Message]) -> dict[bytes, bytes]:
    return dict(sent[0]["headers"])


def error_code(sent: list[Message]) -> str:
    code: str = msgspec.json.decode(sent[1]["body"])["error"]["code"]
    return code


async def test_without_the_header_the_store_is_never_asked() -> None:
    keys, inner = MemoryKeys(), Counting()
    app = IdempotencyMiddleware(inner, store=lambda: keys)
    await call(app, request(None))
    await call(app, request(b"k", method="PUT"))
    assert inner.runs == 2 and keys.calls == []


async def test_a_repeat_replays_the_stored_answer_and_runs_nothing() -> None:
    keys, inner = MemoryKeys(), Counting()
    app = IdempotencyMiddleware(inner, store=lambda: keys)
    first = await call(app, request(b"key-1"))
    again = await call(app, request(b"key-1", path="/courier"))  # the same route at the seed's prefix
    assert inner.runs == 1 and inner.bodies == [b'{"a":1}']
    assert status_of(first) == status_of(again) == 201
    assert first[1]["body"] == again[1]["body"] == b'{"run":1}'
    assert headers_of(again)[b"location"] == b"/api/v1/courier/7"
    assert headers_of(again)[b"idempotent-replayed"] == b"true"
    assert b"idempotent-replayed" not in headers_of(first)


async def test_the_same_key_with_another_body_is_422() -> None:
    keys, inner = MemoryKeys(), Counting()
    app = IdempotencyMiddleware(inner, store=lambda: keys)
    await call(app, request(b"key-1"), b'{"a":1}')
    other = await call(app, request(b"key-1"), b'{"a":2}')
    assert (status_of(other), error_code(other)) == (422, "idempotency_key_reused")
    assert inner.runs == 1


async def test_a_key_still_in_progress_is_409_with_retry_after() -> None:
    keys, inner = MemoryKeys(), Counting()
    inner.gate = asyncio.Event()
    app = IdempotencyMiddleware(inner, store=lambda: keys)
    first = asyncio.create_task(call(app, request(b"key-1")))
    await inner.started.wait()
    second = await call(app, request(b"key-1"))
    assert (status_of(second), error_code(second)) == (409, "idempotency_key_in_progress")
    assert headers_of(second)[b"retry-after"] == b"1"
    inner.gate.set()
    assert status_of(await first) == 201
    assert inner.runs == 1


async def test_a_5xx_is_not_kept_so_a_retry_runs_again() -> None:
    keys, inner = MemoryKeys(), Counting(status=503)
    app = IdempotencyMiddleware(inner, store=lambda: keys)
    assert status_of(await call(app, request(b"key-1"))) == 503
    assert keys.rows == {} and keys.calls[-1] == "release"
    inner.status = 201
    assert status_of(await call(app, request(b"key-1"))) == 201
    assert inner.runs == 2


async def test_a_handler_that_raises_releases_the_key() -> None:
    keys, inner = MemoryKeys(), Counting(fail=True)
    app = IdempotencyMiddleware(inner, store=lambda: keys)
    with pytest.raises(RuntimeError):  # it reaches the recovery middleware
        await call(app, request(b"key-1"))
    assert keys.rows == {}


async def test_a_4xx_is_kept() -> None:
    keys, inner = MemoryKeys(), Counting(status=409)
    app = IdempotencyMiddleware(inner, store=lambda: keys)
    await call(app, request(b"key-1"))
    inner.status = 201
    again = await call(app, request(b"key-1"))
    assert status_of(again) == 409 and inner.runs == 1


async def test_a_bad_key_is_400_and_reserves_nothing() -> None:
    keys, inner = MemoryKeys(), Counting()
    app = IdempotencyMiddleware(inner, store=lambda: keys)
    for key in (b"", b"x" * 256, b"caf\xc3\xa9", b"two words", b"tab\there"):
        sent = await call(app, request(key))
        assert (status_of(sent), error_code(sent)) == (400, "invalid_request"), key
    assert status_of(await call(app, request(b"!" + b"~" * 254))) == 201
    assert inner.runs == 1 and keys.calls == ["reserve", "complete"]


async def test_the_database_down_is_503_and_runs_nothing() -> None:
    keys, inner = MemoryKeys(), Counting()
    keys.down = True
    app = IdempotencyMiddleware(inner, store=lambda: keys)
    sent = await call(app, request(b"key-1"))
    assert (status_of(sent), error_code(sent)) == (503, "unavailable")
    assert inner.runs == 0


def test_keys_are_scoped_by_the_tokens_name_and_requests_hashed_without_the_prefix() -> None:
    assert key_scope({"courier.actor": "alice"}) == "alice"
    assert key_scope({}) == ""
    assert len(key_scope({"courier.actor": "a" * 500})) == 64
    v1, seed = request(b"k"), request(b"k", path="/courier")
    assert request_hash(v1, b"{}") == request_hash(seed, b"{}")
    assert request_hash(v1, b"{}") != request_hash(request(b"k", path="/delivery/assign"), b"{}")


class _Route:
    def __init__(self, template: str, meanings: dict[str, Any] | None = None) -> None:
        self.template = template
        self.meanings = meanings or {}


def test_the_fingerprint_is_the_requests_meaning_not_its_bytes() -> None:
    routed = request(b"k") | {"endpoint": _Route("/courier")}
    same = request_hash(routed, b'{"name":"Ivan","phone":"+79990001122"}')
    assert request_hash(routed, b'{ "phone" : "+79990001122",\n  "name": "Ivan" }') == same
    assert request_hash(request(b"k", path="/courier"), b'{"name":"Ivan","phone":"+79990001122"}') == same
    assert request_hash(routed, b'{"name":"Ivan","phone":"+79990001123"}') != same
    assert request_hash(routed, b"not json") != request_hash(routed, b"not  json")
    handover = request(b"k", path="/api/v1/courier/1/handover") | {
        "endpoint": _Route("/courier/{id}/handover")
    }
    other = handover | {"path": "/api/v1/courier/2/handover"}
    assert request_hash(handover | {"path_params": {"id": "1"}}, b"{}") != request_hash(
        other | {"path_params": {"id": "2"}}, b"{}"
    )


def test_a_body_is_compared_as_the_route_reads_it_at_its_prefix() -> None:
    root = BusinessApi(cast(Any, None), seed=True).bodies
    strict = BusinessApi(cast(Any, None)).bodies
    seed = request(b"k", path="/delivery/assign") | {
        "endpoint": _Route("/delivery/assign", {"POST": root.assign.decode})
    }
    v1 = seed | {
        "path": "/api/v1/delivery/assign",
        "endpoint": _Route("/delivery/assign", {"POST": strict.assign.decode}),
    }
    spelt = request_hash(seed, b'{"order_id": "a"}')
    assert request_hash(seed, b'{"order_ID": "a", "note": "ignored"}') == spelt  # the seed's way: one request
    assert request_hash(v1, b'{"order_id":"a"}') == spelt  # a body both prefixes read alike
    assert request_hash(v1, b'{"order_ID": "a"}') != spelt  # refused under /api/v1: compared as JSON
    assert request_hash(seed, b'{"order_id": "b"}') != spelt
    update = request(b"k", path="/courier", method="PUT") | {
        "endpoint": _Route("/courier", {"PUT": root.update.decode_seed})
    }
    # "" is "not given" at the root, yet a PUT of nothing but ""s means "change nothing": not {"id": 1}
    assert request_hash(update, b'{"id": 1, "name": ""}') != request_hash(update, b'{"id": 1}')
    assert request_hash(update, b'{"id": 1, "name": ""}') == request_hash(update, b'{"ID": 1, "Name": ""}')


async def test_rows_of_version_2_compare_the_body_as_json() -> None:
    keys, inner = MemoryKeys(), Counting()
    app = IdempotencyMiddleware(inner, store=lambda: keys)
    stored = request_hash_v2(request(b"two"), b'{"a":1}')
    assert stored.startswith(b"v2:") and stored != request_hash(request(b"two"), b'{"a":1}')
    keys.rows["", "two"] = StoredKey(stored, 201, [["content-type", "application/json"]], b'{"run":0}')
    again = await call(app, request(b"two"), b'{ "a": 1 }')
    assert inner.runs == 0 and again[1]["body"] == b'{"run":0}'
    other = await call(app, request(b"two"), b'{"a": 2}')
    assert status_of(other) == 422 and inner.runs == 0


async def test_the_same_json_with_other_whitespace_replays() -> None:
    keys, inner = MemoryKeys(), Counting()
    app = IdempotencyMiddleware(inner, store=lambda: keys)
    first = await call(app, request(b"key-ws"), b'{"a":1,"b":[1,2]}')
    again = await call(app, request(b"key-ws"), b'{\n  "b": [1, 2],\n  "a": 1\n}')
    assert inner.runs == 1 and status_of(first) == status_of(again) == 201
    assert headers_of(again)[b"idempotent-replayed"] == b"true"


async def test_rows_of_the_old_fingerprint_are_compared_the_old_way() -> None:
    keys, inner = MemoryKeys(), Counting()
    app = IdempotencyMiddleware(inner, store=lambda: keys)
    scope = request(b"old")
    old = request_hash_v1(scope, b'{"a":1}')
    keys.rows["", "old"] = StoredKey(old, 201, [["content-type", "application/json"]], b'{"run":0}')
    again = await call(app, request(b"old"), b'{"a":1}')
    assert inner.runs == 0 and again[1]["body"] == b'{"run":0}'
    reworded = await call(app, request(b"old"), b'{"a": 1}')  # version 1 compared bytes
    assert status_of(reworded) == 422 and inner.runs == 0


def test_the_actor_is_api_or_the_tokens_name() -> None:
    assert actor_of({}) == "api"
    assert actor_of({"courier.actor": "alice"}) == "api:alice"


async def test_the_expiry_worker_acts_as_worker_and_prunes_keys_now_and_then() -> None:
    actors: list[str] = []
    pruned: list[int] = []

    async def release() -> int:
        actors.append(current_actor())
        return 0

    async def prune() -> int:
        pruned.append(1)
        return 3

    worker = ExpiryWorker(release, interval=1.0, prune=prune, prune_every=3600)
    await worker.run_once()
    await worker.run_once()
    assert actors == ["worker", "worker"]
    assert pruned == [1]  # once, then not before an hour
    assert current_actor() == "system"  # the worker's name did not leak out
