"""Browser fixtures: Debian's chromium driven headless by Playwright, against a real ``courier-api``.

Playwright's own browsers are never downloaded: it launches ``/usr/bin/chromium``. Without that browser
the tests skip, except under ``CI=true`` where a missing browser fails the run.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, ViewportSize, sync_playwright

from tests.e2e.http.server import EXECUTABLE, ApiProcess, environment, start_api
from tests.support.postgres import TestServer

CHROMIUM = Path(os.environ.get("COURIER_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
WAIT_MS = 15_000  # generous bound for anything the page shows after a poll (every 2 s)


def _require_browser() -> None:
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is missing (apt-get install -y chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Per module, so Playwright's own event loop is gone before other tiers' asyncio tests run."""
    _require_browser()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def console_db(pg_server: TestServer) -> Iterator[str]:
    url = pg_server.create()
    yield url
    pg_server.drop(url)


@pytest.fixture(scope="module")
def api(console_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    """A ``courier-api`` shared by a module's tests (they use distinct phones and order ids)."""
    with start_api(console_db, tmp_path_factory.mktemp("console-api")) as process:
        yield process
        assert process.stop() == 0


@dataclass
class ConsoleLog:
    """What the page printed to its console; API answers a test provokes on purpose are allowed."""

    errors: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)

    def allow(self, status: int) -> None:
        """The browser logs every failed fetch; a test expecting one answer ``status`` says so."""
        self.allowed.append(f"status of {status} ")

    def allow_connection_refused(self) -> None:
        """A test that stops the server expects the browser to log the refused fetches."""
        self.allowed.append("net::ERR_CONNECTION_REFUSED")

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(a in e for a in self.allowed)]


@pytest.fixture
def console_log() -> ConsoleLog:
    return ConsoleLog()


def open_page(
    browser: Browser,
    url: str,
    log: ConsoleLog,
    viewport: ViewportSize,
    *,
    token: str | None = None,
    stream: bool = True,
) -> Page:
    """The console in a new browser context (``token``: already in the tab's session storage).

    ``stream=False``: the page is shown an OpenAPI document without ``/api/v1/stream``, as a server
    without the live stream would serve it, so it polls.
    """
    context = browser.new_context(viewport=viewport)
    if token is not None:
        context.add_init_script(f"sessionStorage.setItem('courier.console.token', {token!r})")
    if not stream:
        context.route("**/openapi.json", _without_stream)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.on("console", lambda msg: log.errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: log.errors.append(f"uncaught: {exc}"))
    page.goto(url + "/console")
    return page


def _without_stream(route: Route) -> None:
    answer = route.fetch()
    document = answer.json()
    document["paths"].pop("/api/v1/stream", None)
    route.fulfill(response=answer, json=document)


@pytest.fixture
def page(browser: Browser, api: ApiProcess, console_log: ConsoleLog) -> Iterator[Page]:
    """The console at 1280x800; the test fails on any console error it did not expect."""
    page = open_page(browser, api.url, console_log, DESKTOP)
    yield page
    page.context.close()
    assert console_log.unexpected() == []


def restart_api(stopped: ApiProcess, database_url: str) -> ApiProcess:
    """A new ``courier-api`` on the port ``stopped`` had (the page's origin), on the same database."""
    port = int(stopped.url.rsplit(":", 1)[1])
    stdout, stderr = stopped.stdout.with_suffix(".again.out"), stopped.stderr.with_suffix(".again.err")
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [EXECUTABLE], env=environment(database_url, port, {}), stdout=out, stderr=err
        )
    api = ApiProcess(stopped.url, process, stdout, stderr)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(api.url + "/healthcheck", timeout=1.0).status_code == 204:
                return api
        except httpx.TransportError:
            time.sleep(0.1)
    with api:
        raise RuntimeError(f"courier-api did not start again: {stderr.read_text()}")
