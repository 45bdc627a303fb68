"""The console in a real browser against a real ``courier-api`` on real PostgreSQL."""

from __future__ import annotations

import itertools
import re
import uuid

import httpx
from playwright.sync_api import Locator, Page, expect

from tests.e2e.console.conftest import ConsoleLog
from tests.e2e.http.server import ApiProcess

_phones = itertools.count(1)


def phone() -> str:
    return f"+75{next(_phones):09d}"


def order_id() -> str:
    return str(uuid.uuid4())


def create_courier(api: ApiProcess, name: str, transport: str = "car", status: str = "available") -> int:
    body = {"name": name, "phone": phone(), "status": status, "transport_type": transport}
    answer = httpx.post(f"{api.url}/api/v1/courier", json=body, timeout=30)
    assert answer.status_code == 201, answer.text
    courier_id: int = answer.json()["id"]
    return courier_id


def live(page: Page) -> None:
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")


def test_page_loads_live_without_console_errors(page: Page) -> None:
    expect(page).to_have_title("courier · dispatcher console")
    live(page)
    expect(page.get_by_role("heading", name="Couriers")).to_be_visible()
    expect(page.get_by_role("heading", name="Active deliveries")).to_be_visible()


def row(page: Page, table: str, key: str | int) -> Locator:
    return page.locator(f"#{table}-rows tr[data-key='{key}']")


def test_creating_a_courier_in_the_dialog_shows_it(page: Page, api: ApiProcess) -> None:
    live(page)
    page.get_by_role("button", name="New courier").click()
    dialog = page.get_by_role("dialog", name="New courier")
    dialog.get_by_label("Name").fill("Anna-Maria")
    number = phone()
    dialog.get_by_label("Phone").fill(number)
    dialog.get_by_label("Transport").select_option("scooter")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    created = page.locator("#courier-rows tr", has_text=number)
    expect(created).to_contain_text("Anna-Maria")
    expect(created).to_contain_text("scooter")
    expect(created).to_contain_text("available")
    expect(page.get_by_role("alert")).to_contain_text("created")
    listed = httpx.get(f"{api.url}/api/v1/couriers", params={"limit": 1000}, timeout=30).json()
    assert [c["transport_type"] for c in listed if c["phone"] == number] == ["scooter"]


def test_an_error_of_the_api_is_shown_in_the_dialog(
    page: Page, api: ApiProcess, console_log: ConsoleLog
) -> None:
    console_log.allow(409)
    console_log.allow(400)
    taken = phone()
    httpx.post(
        f"{api.url}/api/v1/courier",
        json={"name": "Oleg", "phone": taken, "status": "available"},
        timeout=30,
    ).raise_for_status()
    live(page)
    page.get_by_role("button", name="New courier").click()
    dialog = page.get_by_role("dialog", name="New courier")
    dialog.get_by_label("Name").fill("Pavel")
    dialog.get_by_label("Phone").fill(taken)
    dialog.get_by_role("button", name="Save").click()
    error = dialog.get_by_role("alert")
    expect(error).to_contain_text("courier with this parameters already exists")
    expect(error).to_contain_text("courier_exists")
    dialog.get_by_label("Phone").fill("12345")
    dialog.get_by_role("button", name="Save").click()
    expect(error).to_contain_text("invalid courier's phone")
    expect(dialog.get_by_label("Phone")).to_have_attribute("aria-invalid", "")
    expect(dialog).to_be_visible()


def test_assigning_shows_a_live_countdown(page: Page, api: ApiProcess) -> None:
    courier = create_courier(api, "Ivan", transport="car")
    live(page)
    order = order_id()
    page.get_by_label("Order id").fill(order)
    expect(page.locator(f"#assign-courier option[value='{courier}']")).to_have_count(1)
    page.get_by_label("Courier", exact=True).select_option(str(courier))
    page.get_by_role("button", name="Assign", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text(f"assigned to courier #{courier}")
    delivery = row(page, "delivery", order)
    expect(delivery).to_contain_text(f"#{courier} Ivan")
    timer = delivery.get_by_role("timer")
    expect(timer).to_have_text(re.compile(r"^[45]:\d\d left$"))
    first = timer.text_content()
    expect(timer).not_to_have_text(first or "")  # it counts down without any reload
    expect(row(page, "courier", courier)).to_contain_text("busy")
