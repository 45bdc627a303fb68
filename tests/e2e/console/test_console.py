"""The console in a real browser against a real ``courier-api`` on real PostgreSQL."""

from __future__ import annotations

import itertools
import re
import uuid

import httpx
from playwright.sync_api import Browser, Locator, Page, expect

from tests.e2e.console.checks import CONTRAST
from tests.e2e.console.conftest import DESKTOP, ConsoleLog, open_page
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


def test_an_assignment_made_through_the_api_appears_without_reload(page: Page, api: ApiProcess) -> None:
    courier = create_courier(api, "Leila", transport="scooter")
    live(page)
    page.evaluate("window.__sameDocument = true")
    order = order_id()
    answer = httpx.post(
        f"{api.url}/api/v1/delivery/assign", json={"order_id": order, "courier_id": courier}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    expect(row(page, "delivery", order)).to_contain_text("Leila")
    expect(row(page, "courier", courier)).to_contain_text("busy")
    httpx.post(f"{api.url}/delivery/complete", json={"order_id": order}, timeout=30).raise_for_status()
    expect(row(page, "delivery", order)).to_have_count(0)
    expect(row(page, "courier", courier)).to_contain_text("available")
    assert page.evaluate("window.__sameDocument") is True


def test_pause_and_resume_a_courier(page: Page, api: ApiProcess) -> None:
    courier = create_courier(api, "Tomás", transport="on_foot")
    live(page)
    line = row(page, "courier", courier)
    line.get_by_role("button", name="Pause Tomás").click()
    expect(line).to_contain_text("paused")
    assert httpx.get(f"{api.url}/courier/{courier}", timeout=30).json()["status"] == "paused"
    line.get_by_role("button", name="Resume Tomás").click()
    expect(line).to_contain_text("available")
    assert httpx.get(f"{api.url}/courier/{courier}", timeout=30).json()["status"] == "available"


def test_edit_a_courier_in_the_dialog(page: Page, api: ApiProcess) -> None:
    courier = create_courier(api, "Boris", transport="on_foot")
    live(page)
    row(page, "courier", courier).get_by_role("button", name="Edit Boris").click()
    dialog = page.get_by_role("dialog", name=f"Edit courier #{courier}")
    expect(dialog.get_by_label("Name")).to_have_value("Boris")
    dialog.get_by_label("Name").fill("Boris Gleb")
    dialog.get_by_label("Transport").select_option("car")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    expect(row(page, "courier", courier)).to_contain_text("Boris Gleb")
    stored = httpx.get(f"{api.url}/courier/{courier}", timeout=30).json()
    assert (stored["name"], stored["transport_type"]) == ("Boris Gleb", "car")


def test_a_change_made_meanwhile_fails_the_edit_with_a_clear_message(
    page: Page, api: ApiProcess, console_log: ConsoleLog
) -> None:
    console_log.allow(412)
    courier = create_courier(api, "Vera")
    live(page)
    row(page, "courier", courier).get_by_role("button", name="Edit Vera").click()
    dialog = page.get_by_role("dialog", name=f"Edit courier #{courier}")
    expect(dialog.get_by_label("Name")).to_have_value("Vera")
    httpx.put(f"{api.url}/courier", json={"id": courier, "name": "Vera Other"}, timeout=30).raise_for_status()
    dialog.get_by_label("Name").fill("Vera Mine")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.get_by_role("alert")).to_contain_text("courier was changed by someone else")
    assert httpx.get(f"{api.url}/courier/{courier}", timeout=30).json()["name"] == "Vera Other"


def test_complete_and_unassign_from_the_page(page: Page, api: ApiProcess) -> None:
    first, second = create_courier(api, "Gleb"), create_courier(api, "Dina")
    orders = [order_id(), order_id()]
    for order, courier in zip(orders, (first, second), strict=True):
        body = {"order_id": order, "courier_id": courier}
        httpx.post(f"{api.url}/api/v1/delivery/assign", json=body, timeout=30).raise_for_status()
    live(page)
    row(page, "delivery", orders[0]).get_by_role("button", name="Complete").click()
    expect(page.get_by_role("alert")).to_contain_text(f"Order {orders[0]}: completed")
    row(page, "delivery", orders[1]).get_by_role("button", name="Unassign").click()
    expect(page.get_by_role("alert")).to_contain_text(f"Order {orders[1]} unassigned from courier #{second}")
    expect(row(page, "delivery", orders[0])).to_have_count(0)
    expect(row(page, "delivery", orders[1])).to_have_count(0)
    completed = httpx.get(f"{api.url}/delivery/{orders[0]}", timeout=30).json()
    assert completed["status"] == "completed"
    assert httpx.get(f"{api.url}/delivery/{orders[1]}", timeout=30).status_code == 404
    expect(row(page, "courier", first)).to_contain_text("available")


def test_an_assign_refused_by_the_api_is_shown(page: Page, api: ApiProcess, console_log: ConsoleLog) -> None:
    console_log.allow(409)
    courier = create_courier(api, "Zoya")
    live(page)
    page.get_by_label("Order id").fill(order_id())
    expect(page.locator(f"#assign-courier option[value='{courier}']")).to_have_count(1)
    page.get_by_label("Courier", exact=True).select_option(str(courier))
    # Someone pauses the chosen courier before the dispatcher presses Assign.
    body = {"id": courier, "status": "paused"}
    httpx.put(f"{api.url}/courier", json=body, timeout=30).raise_for_status()
    page.get_by_role("button", name="Assign", exact=True).click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("courier is not available")
    expect(alert).to_contain_text("courier_not_available, HTTP 409")


def test_search_and_filters_narrow_the_couriers(page: Page, api: ApiProcess) -> None:
    car, foot = create_courier(api, "Filtered Car", "car"), create_courier(api, "Filtered Foot", "on_foot")
    live(page)
    expect(row(page, "courier", foot)).to_be_visible()
    page.get_by_label("Search").fill("filtered")
    expect(page.locator("#courier-rows tr")).to_have_count(2)
    page.get_by_role("search").get_by_label("Transport").select_option("car")
    expect(page.locator("#courier-rows tr")).to_have_count(1)
    expect(row(page, "courier", car)).to_be_visible()
    page.get_by_label("Search").fill(f"#{foot}")
    expect(page.locator("#courier-rows tr")).to_have_count(0)
    expect(page.get_by_text("No courier matches.")).to_be_visible()


def test_the_page_works_from_the_keyboard(page: Page) -> None:
    live(page)
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to couriers")).to_be_focused()
    page.get_by_role("button", name="New courier").focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="New courier")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Name")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()


def test_every_control_has_a_label(page: Page) -> None:
    live(page)
    unlabeled = page.evaluate(
        """[...document.querySelectorAll('input, select, button')]
            .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                            && !el.textContent.trim())
            .map((el) => el.outerHTML)"""
    )
    assert unlabeled == []


PAGE_BUDGET_BYTES = 64 * 1024  # the whole page, uncompressed: it must stay small (no framework)


def test_load_time_and_size(browser: Browser, api: ApiProcess, console_log: ConsoleLog) -> None:
    """Measured with the Performance API on a fresh (uncached) load; printed for the record."""
    page = open_page(browser, api.url, console_log, DESKTOP)
    live(page)
    figures = page.evaluate(
        """() => {
          const nav = performance.getEntriesByType('navigation')[0];
          const files = [nav, ...performance.getEntriesByType('resource')]
            .filter((e) => new URL(e.name).pathname.startsWith('/console'));
          const data = performance.getEntriesByName('console:first-data')[0];
          return {
            files: files.length,
            bytes: files.reduce((n, e) => n + e.decodedBodySize, 0),
            transferred: files.reduce((n, e) => n + e.transferSize, 0),
            dom_content_loaded_ms: nav.domContentLoadedEventEnd,
            load_ms: nav.loadEventEnd,
            first_data_ms: data ? data.startTime : null,
          };
        }"""
    )
    page.context.close()
    print(f"console load: {figures}")
    assert figures["files"] >= 6  # the page, its stylesheet and its five modules
    assert 0 < figures["bytes"] <= PAGE_BUDGET_BYTES
    assert figures["first_data_ms"] is not None and figures["load_ms"] > 0


def test_delete_a_courier_after_confirming(page: Page, api: ApiProcess) -> None:
    courier = create_courier(api, "Short Lived")
    live(page)
    page.once("dialog", lambda dialog: dialog.accept())
    row(page, "courier", courier).get_by_role("button", name="Delete Short Lived").click()
    expect(page.get_by_role("alert")).to_contain_text(f"Courier #{courier} deleted.")
    expect(row(page, "courier", courier)).to_have_count(0)
    assert httpx.get(f"{api.url}/courier/{courier}", timeout=30).status_code == 404


def test_assign_from_a_courier_row_chooses_that_courier(page: Page, api: ApiProcess) -> None:
    courier = create_courier(api, "Row Pick", "scooter")
    live(page)
    row(page, "courier", courier).get_by_role("button", name="Assign an order to Row Pick").click()
    expect(page.get_by_label("Order id")).to_be_focused()
    expect(page.get_by_label("Courier", exact=True)).to_have_value(str(courier))
    order = order_id()
    page.keyboard.type(order)
    page.keyboard.press("Enter")
    expect(row(page, "delivery", order)).to_contain_text("Row Pick")
    assert httpx.get(f"{api.url}/delivery/{order}", timeout=30).json()["courier_id"] == courier


def test_text_contrast_meets_wcag_aa(page: Page, api: ApiProcess) -> None:
    """Every visible text of the page (busy and paused couriers, a delivery) on its own background."""
    busy, paused = create_courier(api, "Contrast Busy"), create_courier(api, "Contrast Paused")
    httpx.put(f"{api.url}/courier", json={"id": paused, "status": "paused"}, timeout=30).raise_for_status()
    order = order_id()
    body = {"order_id": order, "courier_id": busy}
    httpx.post(f"{api.url}/delivery/assign", json=body, timeout=30).raise_for_status()
    live(page)
    expect(row(page, "courier", paused)).to_contain_text("paused")
    expect(row(page, "delivery", order)).to_be_visible()
    result = page.evaluate(CONTRAST)
    assert result["failures"] == []
    assert result["checked"] > 30


def test_polls_at_most_every_two_seconds_and_revalidates_with_etags(
    browser: Browser, api: ApiProcess, console_log: ConsoleLog
) -> None:
    page = open_page(browser, api.url, console_log, DESKTOP, stream=False)  # a server without the stream
    live(page)
    with page.expect_response(lambda r: "/api/v1/couriers" in r.url and r.status == 304):
        pass  # an unchanged list comes back as 304: the page sent the ETag it had
    starts = "performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/v1/couriers'))"
    page.wait_for_function(f"() => {starts}.length >= 4", timeout=60_000)
    times: list[float] = page.evaluate(f"() => {starts}.map((e) => e.startTime)")
    page.context.close()
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert min(gaps) >= 1990, gaps  # nothing changed and no action: never more often than every 2 s
