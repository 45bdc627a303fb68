"""``/docs``: the API's page, drawn from ``/openapi.json`` with its own files only, under the console's
strict Content-Security-Policy; its "Try it" sends real requests."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page

from tests.e2e.console.conftest import DESKTOP, WAIT_MS, ConsoleLog
from tests.e2e.http.server import ApiProcess


@pytest.fixture
def http(api: ApiProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url, timeout=30) as client:
        yield client


def test_the_page_and_its_assets_are_served_with_a_strict_policy_and_nothing_external(
    http: httpx.Client,
) -> None:
    page = http.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "connect-src 'self'" in policy
    assets = re.findall(r'(?:src|href)="(/docs/assets/[^"]+)"', page.text)
    assert sorted(assets) == ["/docs/assets/docs.css", "/docs/assets/docs.js"]
    for asset in assets:
        answer = http.get(asset)
        assert answer.status_code == 200, asset
        assert answer.headers["content-security-policy"] == policy
        assert not re.search(r"https?://", answer.text), f"{asset} refers to another origin"
    assert http.head("/docs").status_code == 200
    assert "/docs" not in http.get("/openapi.json").json()["paths"]


@pytest.fixture
def docs(browser: Browser, api: ApiProcess, console_log: ConsoleLog) -> Iterator[Page]:
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.on("console", lambda msg: console_log.errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: console_log.errors.append(f"uncaught: {exc}"))
    page.goto(api.url + "/docs")
    page.wait_for_selector("body[data-ready]")
    yield page
    context.close()
    assert console_log.unexpected() == []  # a CSP violation is a console error too


def _operation(page: Page, method: str, path: str) -> Locator:
    return page.locator("details.op").filter(
        has=page.locator(f"summary:has(.method.{method}):has(.path:text-is('{path}'))")
    )


def test_every_operation_is_listed_and_try_it_sends_real_requests(
    docs: Page, http: httpx.Client, console_log: ConsoleLog
) -> None:
    document = http.get("/openapi.json").json()
    operations = sum(len(item) for item in document["paths"].values())
    assert docs.locator("details.op").count() == operations
    assert docs.locator("#title").inner_text() == f"courier API {document['info']['version']}"

    docs.fill("#filter", "get /api/v1/courier/")
    visible = docs.locator("details.op:not(.hidden)")
    assert 0 < visible.count() < operations

    created = http.post("/api/v1/courier", json={"name": "Ivan", "phone": "+79990007001", "status": "paused"})
    courier_id = created.json()["id"]
    found = _operation(docs, "get", "/api/v1/courier/{id}")
    found.locator("summary").click()
    found.locator("input[name=id]").fill(str(courier_id))
    found.locator("button", has_text="Send").click()
    status = found.locator(".answer .status")
    status.wait_for()
    assert status.inner_text().startswith("200")
    assert '"phone": "+79990007001"' in found.locator(".answer pre.response").inner_text()

    console_log.allow(404)
    found.locator("input[name=id]").fill("999999")
    found.locator("button", has_text="Send").click()
    docs.wait_for_function(
        "() => [...document.querySelectorAll('.answer .status')].some(s => s.textContent.startsWith('404'))"
    )
    assert "courier_not_found" in found.locator(".answer pre.response").inner_text()
