"""Operational routes, unknown routes and methods, body limit, request ids, metrics: the real server."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.e2e.http.helpers import PREFIX_IDS, PREFIXES, assert_error
from tests.e2e.http.server import ApiProcess

pytestmark = pytest.mark.e2e

# Every route of api.md but /console (static files of the console work, not in the document).
SPEC_ROUTES = {
    ("get", "/ping"), ("get", "/healthcheck"), ("head", "/healthcheck"), ("get", "/readyz"),
    ("get", "/metrics"), ("get", "/openapi.json"), ("get", "/api/v1/orders/waiting"),
    # dispatch-plus.md: new paths under /api/v1 only
    ("post", "/api/v1/courier/{id}/handover"), ("get", "/api/v1/courier/{id}/history"),
    ("get", "/api/v1/delivery/{order_id}/decision"), ("get", "/api/v1/delivery/{order_id}/history"),
    ("get", "/api/v1/stream"),
} | {
    (method, prefix + path)
    for prefix in PREFIXES
    for method, path in [
        ("get", "/couriers"), ("get", "/courier/{id}"), ("post", "/courier"), ("put", "/courier"),
        ("delete", "/courier/{id}"), ("post", "/delivery/assign"), ("post", "/delivery/unassign"),
        ("post", "/delivery/complete"), ("get", "/delivery/{order_id}"), ("get", "/deliveries"),
    ]
}  # fmt: skip


async def test_ping_answers_pong(http: httpx.AsyncClient) -> None:
    answer = await http.get("/ping")
    assert (answer.status_code, answer.json()) == (200, {"message": "pong"})


@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_healthcheck_is_204_and_empty(http: httpx.AsyncClient, method: str) -> None:
    answer = await http.request(method, "/healthcheck")
    assert (answer.status_code, answer.content) == (204, b"")


async def test_readyz_is_ready_while_the_database_answers(http: httpx.AsyncClient) -> None:
    answer = await http.get("/readyz")
    assert (answer.status_code, answer.json()) == (200, {"status": "ready"})


async def test_openapi_document_lists_every_route_of_the_spec(http: httpx.AsyncClient) -> None:
    document = (await http.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.1")
    listed = {(method, path) for path, item in document["paths"].items() for method in item}
    assert listed == SPEC_ROUTES
    ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    create = document["paths"]["/api/v1/courier"]["post"]
    schema_ref = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = document["components"]["schemas"][schema_ref.rsplit("/", 1)[1]]
    assert set(schema["required"]) == {"name", "phone", "status"}


@pytest.mark.parametrize("path", ["/nope", "/api/v1/nope", "/api/v2/couriers", "/courier/1/extra"])
async def test_an_unknown_route_is_not_found(http: httpx.AsyncClient, path: str) -> None:
    assert_error(await http.get(path), 404, "not_found", "route not found")


@pytest.mark.parametrize("prefix", PREFIXES, ids=PREFIX_IDS)
async def test_a_wrong_method_is_405_with_allow(http: httpx.AsyncClient, prefix: str) -> None:
    answer = await http.patch(f"{prefix}/courier/1")
    assert_error(answer, 405, "method_not_allowed", "method not allowed")
    assert set(answer.headers["allow"].split(", ")) == {"GET", "HEAD", "DELETE"}
    post_only = await http.get(f"{prefix}/delivery/assign")  # not read as an order id (issue 16)
    assert_error(post_only, 405, "method_not_allowed")
    assert post_only.headers["allow"] == "POST"
    assert_error(await http.delete("/ping"), 405, "method_not_allowed")


@pytest.mark.parametrize("prefix", PREFIXES, ids=PREFIX_IDS)
async def test_a_body_over_one_mebibyte_is_413(http: httpx.AsyncClient, prefix: str) -> None:
    big = b'{"name": "' + b"a" * (1024 * 1024) + b'"}'
    assert_error(
        await http.post(f"{prefix}/courier", content=big), 413, "payload_too_large", "request body too large"
    )

    async def chunks() -> object:
        for _ in range(17):
            yield b" " * 65536

    streamed = await http.post(f"{prefix}/delivery/assign", content=chunks())  # no Content-Length
    assert_error(streamed, 413, "payload_too_large")


async def test_request_id_is_echoed_or_made_and_logged(http: httpx.AsyncClient, server: ApiProcess) -> None:
    given = await http.get("/ping", headers={"x-request-id": "trace-42.a"})
    assert given.headers["x-request-id"] == "trace-42.a"
    made = await http.get("/ping", headers={"x-request-id": "bad id\twith spaces"})
    assert made.headers["x-request-id"] not in ("", "bad id\twith spaces")
    ours: list[dict[str, object]] = []
    for _ in range(100):  # access lines are written in batches, at most 0.2 s late
        ours = [line for line in server.logs() if line.get("request_id") == "trace-42.a"]
        if ours:
            break
        await asyncio.sleep(0.05)
    assert ours and ours[-1]["logger"] == "courier.http.access"
    assert ours[-1]["path"] == "/ping" and ours[-1]["status"] == 200
    assert {"method", "duration_ms", "client", "time", "level"} <= set(ours[-1])


async def test_metrics_label_requests_by_route_template_never_the_raw_path(http: httpx.AsyncClient) -> None:
    await http.get("/api/v1/courier/123456")
    await http.get("/courier/654321")
    await http.get("/no/such/route/777")
    text = (await http.get("/metrics")).text
    assert 'courier_http_requests_total{method="GET",path="/api/v1/courier/{id}",status="404"}' in text
    assert 'courier_http_requests_total{method="GET",path="/courier/{id}",status="404"}' in text
    assert 'courier_http_request_duration_seconds_bucket{le="0.001",method="GET",path="/courier/{id}"' in text
    for raw in ("/api/v1/courier/123456", "/courier/654321", "/no/such/route/777"):
        assert f'path="{raw}"' not in text
    assert 'path="unmatched"' in text
    assert 'courier_port_call_duration_seconds_count{method="get",port="couriers"}' in text
    for gauge in (
        "courier_couriers{status=",
        "courier_deliveries_active",
        "courier_db_pool_connections{state=",
        "courier_assignments_total",
    ):
        assert gauge in text
