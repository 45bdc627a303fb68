"""Hostile input against the real ``courier-api`` process (oversized bodies: ``test_operational.py``).

Oversized headers, slow clients, deeply nested JSON, NUL bytes and invalid UTF-8 in bodies, paths and
queries, SQL-looking strings in every field: never a 5xx, never a traceback in the logs, the server
healthy afterwards, order ids stored and returned verbatim, and every table still there at the end.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import psycopg
import pytest

from courier_adapters.postgres.schema import metadata
from tests.e2e.http.conftest import new_phone
from tests.e2e.http.helpers import assert_error
from tests.e2e.http.server import ApiProcess, start_api

pytestmark = pytest.mark.e2e

SQL = [
    "'; DROP TABLE couriers; --",
    "' OR 1=1 --",
    "$1",
    "%s",
    "%(order_id)s",
    "1; DELETE FROM deliveries",
    "Robert'); DROP TABLE deliveries;--",
    "\\'; SELECT pg_sleep(30); --",
    "' UNION SELECT phone FROM couriers --",
]
BODY_ROUTES = [
    ("POST", "/api/v1/courier"), ("PUT", "/api/v1/courier"), ("POST", "/api/v1/delivery/assign"),
    ("POST", "/api/v1/delivery/unassign"), ("POST", "/api/v1/delivery/complete"),
]  # fmt: skip


def http_exchange(url: str, request: bytes, *, timeout: float = 30.0) -> tuple[int, bytes]:
    """Send raw bytes on a new connection; the answer's status and body."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(request)
        return read_answer(sock)


def read_answer(sock: socket.socket) -> tuple[int, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before an answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed in the middle of an answer"
        body += chunk
    return int(head.split(b" ", 2)[1]), body


def assert_healthy(api: ApiProcess) -> None:
    """Answers on a fresh connection, its database reachable, and no traceback logged so far."""
    assert httpx.get(api.url + "/readyz", timeout=30).status_code == 200
    assert httpx.get(api.url + "/api/v1/couriers?limit=1", timeout=30).status_code == 200
    logged = api.stdout.read_text(errors="replace") + api.stderr.read_text(errors="replace")
    assert "Traceback" not in logged and "RecursionError" not in logged
    assert not [line for line in api.logs() if line.get("level") in ("error", "critical")]


# --- oversized headers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [b"X-Big: " + b"a" * (1024 * 1024) + b"\r\n", b"".join(b"X-H%d: v\r\n" % i for i in range(10_000))],
    ids=["one-1MiB-header", "10000-headers"],
)
def test_oversized_headers_are_read_without_a_limit_and_never_a_5xx(
    server: ApiProcess, headers: bytes
) -> None:
    """uvicorn with httptools sets no limit on header size: the reverse proxy's job (README)."""
    for path in (b"/ping", b"/api/v1/couriers"):
        status, _ = http_exchange(server.url, b"GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n" % (path, headers))
        assert status == 200
    assert_healthy(server)


def test_a_1mib_request_target_is_refused_by_the_parser(server: ApiProcess) -> None:
    status, _ = http_exchange(
        server.url, b"GET /ping?" + b"a" * (1024 * 1024) + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    assert status == 400
    assert_healthy(server)


# --- slow clients ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def strict(shared_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    """A ``courier-api`` whose requests have one second (uvicorn keeps idle connections 5 s)."""
    with start_api(shared_db, tmp_path_factory.mktemp("strict"), COURIER_REQUEST_TIMEOUT="1s") as api:
        yield api
        assert api.stop() == 0


def test_headers_sent_slowly_are_waited_for_while_others_are_served(strict: ApiProcess) -> None:
    """Nothing in the server bounds how slowly the headers come: a proxy must (README, Security)."""
    request = b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 12 + b"\r\n\r\n"
    host, port = strict.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as slow:
        for index in range(len(request)):
            slow.sendall(request[index : index + 1])
            time.sleep(0.12)  # about 6 s in all: past the request timeout and the keep-alive timeout
            if index % 15 == 0:
                assert httpx.get(strict.url + "/ping", timeout=30).status_code == 200
        assert read_answer(slow)[0] == 200
    assert_healthy(strict)


def test_a_body_sent_slower_than_the_request_timeout_is_waited_for_then_answered(strict: ApiProcess) -> None:
    """The request deadline starts once the body is in; reading it has none (a proxy's job)."""
    body = json.dumps({"name": "Slow", "phone": new_phone(), "status": "paused"}).encode()
    head = b"POST /api/v1/courier HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    host, port = strict.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as slow:
        slow.sendall(head + b"Content-Length: %d\r\n\r\n" % len(body))
        for start in range(0, len(body), 8):
            slow.sendall(body[start : start + 8])
            time.sleep(0.25)  # 2.5 s or so: more than the one-second request timeout
        status, answer = read_answer(slow)
    assert status == 201, answer
    assert_healthy(strict)


def test_an_idle_connection_is_closed_after_its_answer(strict: ApiProcess) -> None:
    """What uvicorn does bound: a kept-alive connection with no next request (5 s)."""
    host, port = strict.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as idle:
        idle.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_answer(idle)[0] == 200
        assert idle.recv(1) == b""  # closed by the server, well before the 30 s socket timeout


# --- deeply nested JSON ---------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000,
        b'{"a":' * 100_000,
        b'{"order_id": ' + b"[" * 100_000,
        b'{"id": 1.0, "name": ' + b"[" * 100_000,
    ],
    ids=["arrays", "objects", "in-a-field", "after-a-whole-float"],
)
def test_deeply_nested_json_is_400_and_logs_no_recursion_error(
    server: ApiProcess, method: str, path: str, body: bytes
) -> None:
    answer = httpx.request(method, server.url + path, content=body, timeout=30)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] in (
        "invalid_json",
        "invalid_request",
        "invalid_order_id",
        "invalid_id",
    )
    assert_healthy(server)


# --- NUL bytes and invalid UTF-8 ------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
@pytest.mark.parametrize(
    "body",
    [
        b'{"order_id": "a\\u0000b", "id": 1, "name": "A\\u0000", "phone": "+7999\\u0000", "status": "paused"}',
        b'{"order_id": "a\x00b"}',
        b'{"order_id": "a\xffb"}',
        b'{"id": 1, "name": "\xc3\x28"}',
        b'{"name": "Ivan", "phone": "+79990001122", "status": "\xed\xa0\x80"}',
        b"\x00",
        b"\xff\xfe{\x00}\x00",
    ],
    ids=[
        "escaped-nul",
        "raw-nul",
        "invalid-utf8",
        "bad-continuation",
        "utf8-surrogate",
        "nul-alone",
        "utf16",
    ],
)
def test_nul_bytes_and_invalid_utf8_in_bodies_are_400(
    server: ApiProcess, method: str, path: str, body: bytes
) -> None:
    answer = httpx.request(method, server.url + path, content=body, timeout=30)
    assert answer.status_code == 400, answer.text
    assert set(answer.json()["error"]) <= {"code", "message", "field", "detail"}


@pytest.mark.parametrize(
    "target",
    [
        "/api/v1/courier/%00", "/api/v1/courier/1%00", "/api/v1/courier/%FF", "/courier/%C3%28",
        "/api/v1/delivery/a%00b", "/api/v1/delivery/%FF%FE", "/delivery/%ED%A0%80",
        "/api/v1/courier/%00/history", "/api/v1/delivery/a%00/history",
        "/api/v1/couriers?status=%00", "/api/v1/couriers?status=%FF", "/api/v1/couriers?%00=1",
        "/api/v1/couriers?limit=1%00", "/couriers?after_id=%C3%28", "/api/v1/deliveries?after=%00",
        "/api/v1/deliveries?courier_id=%FF", "/api/v1/deliveries?status=active%00",
        "/api/v1/orders/waiting?limit=%00",
    ],
)  # fmt: skip
def test_nul_bytes_and_invalid_utf8_in_paths_and_queries_are_4xx(server: ApiProcess, target: str) -> None:
    for method in ("GET", "DELETE") if target.startswith(("/api/v1/courier/", "/courier/")) else ("GET",):
        answer = httpx.request(method, server.url + target, timeout=30)
        assert 400 <= answer.status_code < 500, (method, target, answer.text)
        assert set(answer.json()["error"]) <= {"code", "message", "field", "detail"}


@pytest.mark.parametrize(
    "target",
    [b"/api/v1/courier/\x00", b"/api/v1/delivery/\xff\xfe", b"/api/v1/couriers?status=\xff", b"/ping?\x00"],
)
def test_raw_nul_and_invalid_utf8_in_the_request_line_are_refused_by_the_parser(
    server: ApiProcess, target: bytes
) -> None:
    status, _ = http_exchange(server.url, b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % target)
    assert status == 400
    assert_healthy(server)


# --- SQL-looking strings --------------------------------------------------------------------------


@pytest.mark.parametrize("text", SQL)
def test_sql_looking_names_phones_statuses_and_transports_are_refused_cleanly(
    server: ApiProcess, text: str
) -> None:
    good = {"name": "Ivan", "phone": new_phone(), "status": "paused", "transport_type": "car"}
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for field, code in (
            ("name", "invalid_name"), ("phone", "invalid_phone"), ("status", "invalid_status"),
            ("transport_type", "invalid_transport_type"),
        ):  # fmt: skip
            assert_error(http.post("/api/v1/courier", json={**good, field: text}), 400, code)
            assert_error(http.put("/api/v1/courier", json={"id": 1, field: text}), 400, code)
        assert_error(http.put("/api/v1/courier", json={"id": text, "name": "Ivan"}), 400, "invalid_id")
        assert_error(
            http.post("/api/v1/delivery/assign", json={"order_id": "o", "courier_id": text}),
            400,
            "invalid_request",
        )


@pytest.mark.parametrize("text", SQL)
def test_sql_looking_query_values_are_refused(server: ApiProcess, text: str) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for path, name in (
            ("/api/v1/couriers", "status"), ("/api/v1/couriers", "transport_type"),
            ("/api/v1/couriers", "limit"), ("/couriers", "after"), ("/couriers", "after_id"),
            ("/api/v1/deliveries", "status"), ("/api/v1/deliveries", "courier_id"),
            ("/api/v1/deliveries", "after"), ("/api/v1/deliveries", "at_risk"), ("/deliveries", "limit"),
            ("/api/v1/orders/waiting", "limit"), ("/api/v1/courier/1/history", "limit"),
        ):  # fmt: skip
            answer = http.get(path, params={name: text})
            assert answer.status_code == 400, (path, name, answer.text)
            assert answer.json()["error"]["field"] == name
        for path in (f"/api/v1/courier/{quote(text, safe='')}", f"/courier/{quote(text, safe='')}"):
            assert_error(http.get(path), 400, "invalid_id")
            assert_error(http.delete(path), 400, "invalid_id")
        unmatched = http.put("/api/v1/courier", json={"id": 1, "name": "Ivan"}, headers={"if-match": text})
        assert unmatched.status_code in (404, 412)  # never matches a version (404: no courier 1 yet)


def test_sql_looking_order_ids_are_stored_and_returned_verbatim(server: ApiProcess) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for text in SQL:
            courier = {"name": "Ivan", "phone": new_phone(), "status": "available", "transport_type": "car"}
            courier_id = http.post("/api/v1/courier", json=courier).json()["id"]
            assigned = http.post("/api/v1/delivery/assign", json={"order_id": text, "courier_id": courier_id})
            assert assigned.status_code == 200, assigned.text
            assert assigned.json()["order_id"] == text
            delivery = http.get(f"/api/v1/delivery/{quote(text, safe='')}")
            assert delivery.status_code == 200 and delivery.json()["order_id"] == text
            listed = http.get("/api/v1/deliveries", params={"courier_id": courier_id}).json()
            assert [d["order_id"] for d in listed] == [text]
            history = http.get(f"/api/v1/delivery/{quote(text, safe='')}/history")
            assert history.status_code == 200 and history.json()
            finish = "/api/v1/delivery/complete" if text.startswith("'") else "/api/v1/delivery/unassign"
            finished = http.post(finish, json={"order_id": text})
            assert finished.status_code == 200 and finished.json()["order_id"] == text


def test_sql_looking_order_ids_wait_verbatim(server: ApiProcess) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        _pause_everyone(http)
        waiting = [f"{text} (waiting)" for text in SQL[:3]]
        for order_id in waiting:
            queued = http.post("/api/v1/delivery/assign", json={"order_id": order_id, "wait": True})
            assert queued.status_code == 202 and queued.json()["order_id"] == order_id, queued.text
        listed = [w["order_id"] for w in http.get("/api/v1/orders/waiting").json()]
        assert [o for o in listed if o in waiting] == waiting  # oldest first
        courier = {"name": "Ivan", "phone": new_phone(), "status": "available", "transport_type": "car"}
        assert http.post("/api/v1/courier", json=courier).status_code == 201
        taken = http.get(f"/api/v1/delivery/{quote(waiting[0], safe='')}")  # the oldest got the courier
        assert taken.status_code == 200 and taken.json()["order_id"] == waiting[0]


def _pause_everyone(http: httpx.Client) -> None:
    while listed := http.get("/api/v1/couriers", params={"status": "available", "limit": 1000}).json():
        for courier in listed:
            assert (
                http.put("/api/v1/courier", json={"id": courier["id"], "status": "paused"}).status_code == 200
            )


def test_every_table_is_still_there_and_no_statement_ran_long(server: ApiProcess, shared_db: str) -> None:
    """Last in this module: after every SQL-looking string above went through the API."""
    with psycopg.connect(shared_db, autocommit=True) as conn:
        for table in metadata.tables:
            found = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()
            assert found is not None and found[0] is not None, f"table {table} is gone"
        row = conn.execute("SELECT count(*) FROM couriers").fetchone()
        assert row is not None and row[0] >= len(SQL)
        sleeping = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query ILIKE %s AND pid <> pg_backend_pid()",
            ("%pg_sleep%",),
        ).fetchone()
        assert sleeping == (0,)
    assert_healthy(server)
