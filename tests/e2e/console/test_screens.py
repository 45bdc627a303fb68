"""Screenshots of the console's main states, at 1280x800 and on a phone-sized screen.

They go to a temporary directory; with ``COURIER_CONSOLE_SCREENSHOTS=<dir>`` (``docs/console`` for
the README) they are written there instead. The test also checks the phone layout never scrolls sideways.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.console.checks import CONTRAST
from tests.e2e.console.conftest import DESKTOP, PHONE, ConsoleLog, open_page, restart_api
from tests.e2e.http.server import ApiProcess, start_api

CREW = [
    ("Ivan Petrov", "car"),
    ("Anna-Maria", "scooter"),
    ("O'Neil", "on_foot"),
    ("Иван Сидоров", "car"),
    ("Leila", "scooter"),
    ("Tomás", "on_foot"),
]


@pytest.fixture(scope="module")
def api(console_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    """Short windows and no expiry worker, so one delivery turns at risk and one overdue, and stays."""
    with start_api(
        console_db,
        tmp_path_factory.mktemp("console-screens"),
        COURIER_DEADLINE_ON_FOOT="8s",
        COURIER_DEADLINE_SCOOTER="20s",
        COURIER_RELEASE_INTERVAL="0",
    ) as process:
        yield process


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    target = os.environ.get("COURIER_CONSOLE_SCREENSHOTS")
    directory = Path(target) if target else tmp_path
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def seed(api: ApiProcess) -> list[str]:
    """Six couriers: three on a delivery, one paused; returns the orders assigned."""
    orders = []
    with httpx.Client(base_url=api.url + "/api/v1", timeout=30) as client:
        for n, (name, transport) in enumerate(CREW):
            body = {
                "name": name,
                "phone": f"+7900{n:07d}",
                "status": "available",
                "transport_type": transport,
            }
            courier_id = client.post("/courier", json=body).raise_for_status().json()["id"]
            if n == 4:
                client.put("/courier", json={"id": courier_id, "status": "paused"}).raise_for_status()
        for _ in range(3):
            order = f"order-{uuid.uuid4().hex[:8]}"
            client.post("/delivery/assign", json={"order_id": order}).raise_for_status()
            orders.append(order)
    return orders


def waiting_orders(api: ApiProcess) -> bool:
    """Two orders queued when no courier is free (false: this API has no waiting orders yet)."""
    with httpx.Client(base_url=api.url + "/api/v1", timeout=30) as client:
        if "/api/v1/orders/waiting" not in client.get(api.url + "/openapi.json").json()["paths"]:
            return False
        for courier in client.get("/couriers", params={"status": "available"}).json():
            client.put("/courier", json={"id": courier["id"], "status": "paused"}).raise_for_status()
        for n in (1, 2):
            body = {"order_id": f"order-waiting-{n}", "wait": True}
            assert client.post("/delivery/assign", json=body).status_code == 202
    return True


def fits_width(page: Page) -> bool:
    width: bool = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    return width


def test_each_state_and_reconnecting_without_reload(
    browser: Browser, api: ApiProcess, console_db: str, console_log: ConsoleLog, shots: Path
) -> None:
    console_log.allow(409)
    orders = seed(api)
    page = open_page(browser, api.url, console_log, DESKTOP)
    deliveries = page.locator("#delivery-rows tr")
    expect(deliveries).to_have_count(3)
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    # The scooter's delivery (20 s) turns at risk past 80 % of its window, then overdue; the
    # on-foot one (8 s) is overdue by then. Without the expiry worker both stay active.
    scooter, on_foot = deliveries.filter(has_text="Anna-Maria"), deliveries.filter(has_text="O'Neil")
    expect(scooter).to_have_attribute("data-state", "at-risk", timeout=30_000)
    page.screenshot(path=shots / "console-desktop.png")
    assert page.evaluate(CONTRAST)["failures"] == []  # the highlighted rows keep their contrast
    expect(on_foot).to_have_attribute("data-state", "overdue")
    expect(on_foot.get_by_role("timer")).to_contain_text("overdue")
    expect(deliveries.filter(has_text="Ivan Petrov")).to_have_attribute("data-state", "ok")
    expect(scooter).to_have_attribute("data-state", "overdue", timeout=30_000)

    page.get_by_role("button", name="New courier").click()
    dialog = page.get_by_role("dialog", name="New courier")
    dialog.get_by_label("Name").fill("Ivan Petrov")
    dialog.get_by_label("Phone").fill("+79000000000")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.get_by_role("alert")).to_contain_text("already exists")
    page.screenshot(path=shots / "console-error.png")
    dialog.get_by_role("button", name="Cancel").click()

    phone = open_page(browser, api.url, console_log, PHONE)
    expect(phone.locator("#delivery-rows tr")).to_have_count(3)
    assert fits_width(phone)
    phone.screenshot(path=shots / "console-phone.png", full_page=True)
    phone.context.close()

    console_log.allow_connection_refused()
    console_log.allow(503)  # a stream reopened while the server stops is refused with 503, then refused
    api.stop()
    expect(page.locator("#connection")).to_have_attribute("data-state", "lost")
    expect(page.locator("#connection")).to_contain_text("reconnecting")
    page.screenshot(path=shots / "console-connection-lost.png")

    # The server comes back on the same address: the page reconnects by itself, no reload.
    with restart_api(api, console_db) as again:
        expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=30_000)
        expect(deliveries).to_have_count(3)
        if waiting_orders(again):
            waiting = page.get_by_role("region", name="Waiting orders").locator("li")
            expect(waiting).to_have_count(2)
            page.screenshot(path=shots / "console-waiting.png")
        page.context.close()
        assert again.stop() == 0
    assert orders and console_log.unexpected() == []
