"""What the console does with parts of the API that other work brings: tokens and waiting orders.

Each test first asks the real server whether it has the part; until it does, the test skips and says
why, and the page's fallback (no token asked, no waiting section) is what the other tests see.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.console.conftest import DESKTOP, ConsoleLog, open_page
from tests.e2e.http.server import ApiProcess, start_api

TOKEN = "console-test-secret"
READ_TOKEN = "console-test-reader"


@pytest.fixture(scope="module")
def api(console_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    with start_api(
        console_db,
        tmp_path_factory.mktemp("console-optional"),
        COURIER_API_TOKENS=f"dispatcher:write:{TOKEN},viewer:read:{READ_TOKEN}",
    ) as process:
        yield process
        assert process.stop() == 0


def test_with_tokens_the_page_asks_for_one_and_keeps_it_in_session_storage(
    browser: Browser, api: ApiProcess, console_log: ConsoleLog
) -> None:
    if httpx.get(f"{api.url}/api/v1/couriers", timeout=30).status_code != 401:
        pytest.skip("this courier-api does not check COURIER_API_TOKENS yet")
    console_log.allow(401)
    page = open_page(browser, api.url, console_log, DESKTOP)
    dialog = page.get_by_role("dialog", name="API token")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Token").fill(TOKEN)
    dialog.get_by_role("button", name="Use token").click()
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    assert page.evaluate("sessionStorage.getItem('courier.console.token')") == TOKEN
    assert page.evaluate("localStorage.length") == 0
    page.context.close()
    assert console_log.unexpected() == []


def test_with_a_read_token_an_action_shows_it_is_not_allowed(
    browser: Browser, api: ApiProcess, console_log: ConsoleLog
) -> None:
    if httpx.get(f"{api.url}/api/v1/couriers", timeout=30).status_code != 401:
        pytest.skip("this courier-api does not check COURIER_API_TOKENS yet")
    console_log.allow(403)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    body = {"name": "Read Only", "phone": "+78880000002", "status": "available"}
    created = httpx.post(f"{api.url}/api/v1/courier", json=body, headers=headers, timeout=30)
    courier = created.raise_for_status().json()["id"]
    page = open_page(browser, api.url, console_log, DESKTOP, token=READ_TOKEN)
    line = page.locator(f"#courier-rows tr[data-key='{courier}']")
    line.get_by_role("button", name="Pause Read Only").click()
    expect(page.get_by_role("alert")).to_contain_text("not allowed — forbidden, HTTP 403")
    expect(line).to_contain_text("available")
    page.context.close()
    assert console_log.unexpected() == []


def test_waiting_orders_are_listed_with_their_age(
    browser: Browser, api: ApiProcess, console_log: ConsoleLog
) -> None:
    paths = httpx.get(f"{api.url}/openapi.json", timeout=30).json()["paths"]
    if "/api/v1/orders/waiting" not in paths:
        pytest.skip("this courier-api has no GET /api/v1/orders/waiting yet")
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=f"{api.url}/api/v1", headers=headers, timeout=30) as client:
        for courier in client.get("/couriers", params={"status": "available"}).json():
            client.put("/courier", json={"id": courier["id"], "status": "paused"}).raise_for_status()
    order = "waiting-order-1"
    answer = httpx.post(
        f"{api.url}/api/v1/delivery/assign",
        json={"order_id": order, "wait": True},
        headers=headers,
        timeout=30,
    )
    assert answer.status_code == 202, answer.text  # no courier is available: the order waits
    page = open_page(browser, api.url, console_log, DESKTOP, token=TOKEN)
    waiting = page.get_by_role("region", name="Waiting orders")
    expect(waiting.locator(f"li[data-key='{order}']")).to_contain_text("waiting")
    # The dispatcher queues one too, from the assign form.
    page.get_by_label("Order id").fill("waiting-order-2")
    page.get_by_label("Queue it when no courier is free").check()
    page.get_by_role("button", name="Assign", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("Order waiting-order-2 is waiting for a courier.")
    expect(waiting.locator("li")).to_have_count(2)
    expect(waiting.locator("li").nth(1)).to_contain_text("waiting-order-2")
    page.context.close()
    assert console_log.unexpected() == []


def test_without_the_waiting_route_the_section_stays_hidden(
    browser: Browser, api: ApiProcess, console_log: ConsoleLog
) -> None:
    paths = httpx.get(f"{api.url}/openapi.json", timeout=30).json()["paths"]
    if "/api/v1/orders/waiting" in paths:
        pytest.skip("this courier-api has the waiting orders route")
    page = open_page(browser, api.url, console_log, DESKTOP, token=TOKEN)
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    expect(page.locator("#waiting")).to_be_hidden()
    page.context.close()
    assert console_log.unexpected() == []


def test_with_the_stream_changes_arrive_as_server_sent_events(
    browser: Browser, api: ApiProcess, console_log: ConsoleLog
) -> None:
    paths = httpx.get(f"{api.url}/openapi.json", timeout=30).json()["paths"]
    if "/api/v1/stream" not in paths:
        pytest.skip("this courier-api has no GET /api/v1/stream yet (the page polls)")
    page = open_page(browser, api.url, console_log, DESKTOP, token=TOKEN)
    expect(page.locator("#connection")).to_contain_text("live stream")
    body = {"name": "Streamed", "phone": "+78880000001", "status": "available"}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    answer = httpx.post(f"{api.url}/api/v1/courier", json=body, headers=headers, timeout=30)
    assert answer.status_code == 201, answer.text
    expect(page.locator(f"#courier-rows tr[data-key='{answer.json()['id']}']")).to_contain_text("Streamed")
    page.context.close()
    assert console_log.unexpected() == []
