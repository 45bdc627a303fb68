"""``GET /api/v1/stream`` against the real ``courier-api`` process: server-sent events of the outbox.

What a client reads is compared with the outbox table itself: the same events, in the same (commit)
order, none missing and none twice, live and after a reconnection with ``Last-Event-ID``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.e2e.http.helpers import assert_error, order_id
from tests.e2e.http.server import ApiProcess, start_api

pytestmark = pytest.mark.e2e

WRITER = "stream-test-writer"
READER = "stream-test-reader"
TOKENS = f"dispatcher:write:{WRITER},viewer:read:{READER}"
MAX_STREAMS = 2
READ_BOUND = 30.0  # seconds: generous bound on any wait for an event (they come within ~0.25 s)
_HELLO = re.compile(r"events after (\d+)")
_phones = iter(range(1, 10**6))


@dataclass
class Message:
    """One server-sent event (``id``, ``event``, ``data`` as JSON) or, with ``comment``, a comment."""

    id: int | None = None
    event: str | None = None
    data: Any = None
    comment: str | None = None
    fields: list[str] = field(default_factory=list)


async def messages(response: httpx.Response) -> AsyncIterator[Message]:
    """The stream's messages as they come; a block of comments only is one ``comment`` message."""
    block: list[str] = []
    async for line in response.aiter_lines():
        if line:
            block.append(line)
            continue
        if not block:
            continue
        message = Message(fields=block)
        for item in block:
            name, _, value = item.partition(":")
            value = value.removeprefix(" ")
            if name == "":
                message.comment = (message.comment or "") + value
            elif name == "id":
                message.id = int(value)
            elif name == "event":
                message.event = value
            elif name == "data":
                message.data = json.loads(value)
        block = []
        yield message


@dataclass
class Stream:
    """An open stream: where it started, and its events from there on."""

    start: int
    _messages: AsyncIterator[Message]

    async def events(self, count: int) -> list[Message]:
        """The next ``count`` events (comments and keep-alives skipped)."""
        found: list[Message] = []
        async with asyncio.timeout(READ_BOUND):
            while len(found) < count:
                message = await anext(self._messages)
                if message.id is not None:
                    found.append(message)
        return found


@asynccontextmanager
async def open_stream(
    http: httpx.AsyncClient, *, token: str = READER, headers: dict[str, str] | None = None, **params: str
) -> AsyncIterator[Stream]:
    """A stream, once the server has it open (its first comment names where it starts)."""
    sent = {"Authorization": f"Bearer {token}", **(headers or {})}
    async with http.stream("GET", "/api/v1/stream", headers=sent, params=params) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        iterator = messages(response)
        async with asyncio.timeout(READ_BOUND):
            hello = await anext(iterator)
        assert hello.comment is not None, hello
        match = _HELLO.search(hello.comment)
        assert match is not None, hello
        yield Stream(int(match.group(1)), iterator)


def outbox_after(database_url: str, position: int) -> list[tuple[int, str, str]]:
    """``(id, type, event_id)`` of every outbox row after ``position``, in id (commit) order."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT id, type, event_id::text FROM outbox WHERE id > %s ORDER BY id", (position,)
        ).fetchall()
    return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]


def seen(events: list[Message]) -> list[tuple[int, str, str]]:
    return [(e.id or 0, e.event or "", e.data["event_id"]) for e in events]


@pytest.fixture(scope="module")
def api(shared_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    with start_api(
        shared_db,
        tmp_path_factory.mktemp("stream-api"),
        COURIER_API_TOKENS=TOKENS,
        COURIER_STREAM_MAX_CLIENTS=str(MAX_STREAMS),
    ) as process:
        yield process
        assert process.stop() == 0


@pytest.fixture
async def http(api: ApiProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api.url, timeout=READ_BOUND) as client:
        yield client


async def changes(http: httpx.AsyncClient, couriers: int = 4) -> None:
    """Concurrent changes through the API: couriers created, orders assigned, one completed."""
    write = {"Authorization": f"Bearer {WRITER}"}

    async def create() -> None:
        body = {"name": "Streamer", "phone": f"+75{next(_phones):09d}", "status": "available"}
        answer = await http.post("/api/v1/courier", json=body, headers=write)
        assert answer.status_code == 201, answer.text

    await asyncio.gather(*(create() for _ in range(couriers)))
    orders = [order_id() for _ in range(couriers // 2)]

    async def assign(order: str) -> None:
        answer = await http.post("/api/v1/delivery/assign", json={"order_id": order}, headers=write)
        assert answer.status_code == 200, answer.text

    await asyncio.gather(*(assign(o) for o in orders))
    done = await http.post("/api/v1/delivery/complete", json={"order_id": orders[0]}, headers=write)
    assert done.status_code == 200, done.text


async def test_a_client_gets_every_change_in_commit_order_with_increasing_ids(
    http: httpx.AsyncClient, shared_db: str
) -> None:
    async with open_stream(http) as stream:
        await changes(http)
        expected = outbox_after(shared_db, stream.start)  # every change above has committed
        events = await stream.events(len(expected))
    assert seen(events) == expected
    ids = [e.id or 0 for e in events]
    assert ids == sorted(set(ids))
    types = {e.event for e in events}
    assert {"courier.created", "delivery.assigned", "delivery.completed"} <= types
    created = next(e for e in events if e.event == "courier.created")
    assert created.data["type"] == "courier.created"
    assert created.data["occurred_at"].endswith("Z")
    assigned = next(e for e in events if e.event == "delivery.assigned")
    assert {"order_id", "courier_id", "deadline"} <= set(assigned.data)


async def test_a_client_that_reconnects_with_last_event_id_gets_exactly_what_it_missed(
    http: httpx.AsyncClient, shared_db: str
) -> None:
    async with open_stream(http) as stream:
        await changes(http)
        first = await stream.events(len(outbox_after(shared_db, stream.start)))
    assert len(first) >= 4
    resume = first[1].id  # the client saw two events, then lost its connection
    assert resume is not None
    await changes(http)  # while it is away
    missed = outbox_after(shared_db, resume)
    async with open_stream(http, headers={"Last-Event-ID": str(resume)}) as again:
        assert again.start == resume
        caught_up = await again.events(len(missed))
        await changes(http)  # and live ones follow, after the catch-up
        live = outbox_after(shared_db, missed[-1][0])
        following = await again.events(len(live))
    assert seen(caught_up) == missed
    assert seen(following) == live
    everything = [*first[:2], *caught_up, *following]
    assert [e.id or 0 for e in everything] == sorted({e.id or 0 for e in everything})  # no gap, none twice

    async with open_stream(http, after=str(resume)) as by_query:  # ?after= does the same
        assert seen(await by_query.events(len(missed))) == missed


async def test_an_id_from_another_database_starts_afresh(http: httpx.AsyncClient, shared_db: str) -> None:
    newest = max([0, *(row[0] for row in outbox_after(shared_db, 0))])
    async with open_stream(http, headers={"Last-Event-ID": str(newest + 10**6)}) as stream:
        assert stream.start == newest
        await changes(http, couriers=2)
        expected = outbox_after(shared_db, newest)
        assert seen(await stream.events(len(expected))) == expected


async def test_tokens_apply_and_a_read_token_suffices(http: httpx.AsyncClient) -> None:
    assert_error(await http.get("/api/v1/stream"), 401, "unauthorized")
    bad = {"Authorization": "Bearer nope"}
    assert_error(await http.get("/api/v1/stream", headers=bad), 401, "unauthorized")
    async with open_stream(http, token=READER):
        pass
    async with open_stream(http, token=WRITER):
        pass
    reader = {"Authorization": f"Bearer {READER}"}
    for headers, params in (({"Last-Event-ID": "seven"}, {}), ({}, {"after": "-1"}), ({}, {"since": "1"})):
        answer = await http.get("/api/v1/stream", headers={**reader, **headers}, params=params)
        assert_error(answer, 400, "invalid_request")


async def test_past_the_limit_of_open_streams_the_answer_is_503_with_retry_after(
    http: httpx.AsyncClient,
) -> None:
    reader = {"Authorization": f"Bearer {READER}"}
    async with open_stream(http), open_stream(http):
        refused = await http.get("/api/v1/stream", headers=reader)
        assert_error(refused, 503, "unavailable")
        assert refused.headers["retry-after"] == "1"
    # Both closed: the server notices their departure and takes new streams again.
    for _ in range(int(READ_BOUND * 10)):
        if all(await asyncio.gather(_opens(http), _opens(http))):
            return
        await asyncio.sleep(0.1)
    pytest.fail("closed streams still count against the limit")


async def _opens(http: httpx.AsyncClient) -> bool:
    headers = {"Authorization": f"Bearer {READER}"}
    async with http.stream("GET", "/api/v1/stream", headers=headers) as response:
        return response.status_code == 200


def test_sigterm_ends_open_streams_and_the_process_exits_0(shared_db: str, tmp_path: Path) -> None:
    # The graceful stop would wait for open connections up to COURIER_SHUTDOWN_TIMEOUT (60 s): the
    # streams must end at once instead, well within half of it.
    with start_api(shared_db, tmp_path, COURIER_SHUTDOWN_TIMEOUT="60s") as api:
        asyncio.run(_stream_until_sigterm(api))  # the server ends the stream (else: TimeoutError)
        assert api.process.wait(READ_BOUND) == 0
        log = api.stderr.read_text() + api.stdout.read_text()
        assert "timeout graceful shutdown exceeded" not in log


async def _stream_until_sigterm(api: ApiProcess) -> None:
    async with (
        httpx.AsyncClient(base_url=api.url, timeout=READ_BOUND) as http,
        open_stream(http) as stream,
    ):
        body = {"name": "Leaving", "phone": "+75999999999", "status": "available"}
        assert (await http.post("/api/v1/courier", json=body)).status_code == 201
        assert (await stream.events(1))[0].event == "courier.created"
        api.process.send_signal(signal.SIGTERM)
        with contextlib.suppress(httpx.RemoteProtocolError, httpx.ReadError):  # closed under us
            async with asyncio.timeout(READ_BOUND):
                async for _ in stream._messages:
                    pass


def test_the_stream_is_in_the_openapi_document(api: ApiProcess) -> None:
    document = httpx.get(api.url + "/openapi.json", timeout=30).json()
    operation = document["paths"]["/api/v1/stream"]["get"]
    assert "text/event-stream" in operation["responses"]["200"]["content"]
    assert {p["name"] for p in operation["parameters"]} == {"after", "Last-Event-ID"}
    assert "/stream" not in document["paths"]  # beyond the seed: under /api/v1 only
