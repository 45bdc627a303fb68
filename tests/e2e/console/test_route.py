"""``/console`` over plain HTTP: a static page outside the API's OpenAPI document and rate limiter."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.http.server import ApiProcess, start_api


@pytest.fixture(scope="module")
def api(console_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    """Rate limiting on, with one token refilled slowly: the second API call in a row is refused."""
    with start_api(
        console_db,
        tmp_path_factory.mktemp("console-route"),
        COURIER_RATE_LIMIT_SCOPE="global",
        COURIER_RATE_LIMIT_CAPACITY="1",
        COURIER_RATE_LIMIT_REFILL_PER_SECOND="0.01",
    ) as process:
        yield process
        assert process.stop() == 0


@pytest.fixture
def http(api: ApiProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url, timeout=30) as client:
        yield client


def test_console_is_an_html_page_with_a_strict_policy(http: httpx.Client) -> None:
    answer = http.get("/console")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert '<script type="module" src="/console/assets/main.js">' in answer.text
    again = http.get("/console", headers={"If-None-Match": answer.headers["etag"]})
    assert (again.status_code, again.content) == (304, b"")
    head = http.head("/console")
    assert (head.status_code, head.content) == (200, b"")
    slash = http.get("/console/")
    assert (slash.status_code, httpx.URL(slash.headers["location"]).path) == (307, "/console")


def test_every_file_the_page_loads_is_served(http: httpx.Client) -> None:
    pending, seen = ["/console"], set()
    while pending:
        path = pending.pop()
        answer = http.get(path)
        assert answer.status_code == 200, path
        seen.add(path)
        if path.endswith(".js"):
            assert "javascript" in answer.headers["content-type"]
            found = re.findall(r'^import .* from "\./([\w.]+)";$', answer.text, re.M)
        else:
            found = re.findall(r'(?:src|href)="/console/assets/([\w.]+)"', answer.text)
        pending += [f"/console/assets/{name}" for name in found if f"/console/assets/{name}" not in seen]
    assert {"/console/assets/main.js", "/console/assets/console.css", "/console/assets/api.js"} <= seen
    assert http.get("/console/assets/main.js").headers["cache-control"] == "no-cache"


def test_unknown_files_and_methods_get_the_error_envelope(http: httpx.Client) -> None:
    missing = http.get("/console/assets/nothing.js")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    posted = http.post("/console")
    assert (posted.status_code, posted.json()["error"]["code"]) == (405, "method_not_allowed")


def test_console_is_not_in_the_openapi_document(http: httpx.Client) -> None:
    paths = http.get("/openapi.json").json()["paths"]
    assert paths and not [path for path in paths if "console" in path]


def test_console_is_not_rate_limited_but_the_api_is(http: httpx.Client) -> None:
    pages = [http.get("/console") for _ in range(20)]
    assert {page.status_code for page in pages} == {200}
    assert not [page for page in pages if "x-ratelimit-limit" in page.headers]
    calls = [http.get("/api/v1/couriers").status_code for _ in range(3)]
    assert 429 in calls


def test_console_requests_are_counted_by_their_own_route(http: httpx.Client) -> None:
    http.get("/console").raise_for_status()
    http.get("/console/assets/main.js").raise_for_status()
    exposition = http.get("/metrics").text
    assert 'path="/console"' in exposition
    assert 'path="/console/assets/{path}"' in exposition
