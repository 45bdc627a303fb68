"""Clients of the original Go service at the unversioned paths (api.md, "Seed clients"), and the error
answers of issue 16 point 7, against the real server.

The requests are shaped as the seed's request structs marshal them with Go's ``encoding/json`` (every
field sent, ``""`` for "not given"; keys as the struct tags spell them, or as a hand-written client
capitalises them): ``CreateCourierRequest{Name, Phone, Status, TransportType}``,
``UpdateCourierRequest{ID, Name, Phone, Status, TransportType}``, ``AssignRequest{OrderID}``.
"""

from __future__ import annotations

import json

import httpx
import pytest

from tests.e2e.http.conftest import new_phone
from tests.e2e.http.helpers import (
    PREFIX_IDS,
    PREFIXES,
    assert_error,
    create_courier,
    order_id,
    pause_available,
)

pytestmark = pytest.mark.e2e


def create_request(phone: str, *, transport: str = "", status: str = "available") -> dict[str, str]:
    """``CreateCourierRequest`` as Go marshals it (an unset transport type is ``""``)."""
    return {"name": "Ivan", "phone": phone, "status": status, "transport_type": transport}


def update_request(courier_id: int, **fields: str) -> dict[str, object]:
    """``UpdateCourierRequest``: all four fields, ``""`` meaning unchanged."""
    body: dict[str, object] = {"id": courier_id, "name": "", "phone": "", "status": "", "transport_type": ""}
    return body | fields


async def test_seed_create_with_a_trailing_slash_and_an_empty_transport_type(http: httpx.AsyncClient) -> None:
    created = await http.post("/courier/", json=create_request(new_phone()))
    assert created.status_code == 201, created.text  # served, not a 307 redirect
    courier = (await http.get(f"/courier/{created.json()['id']}")).json()
    assert courier["transport_type"] == courier["transport-type"] == "on_foot"
    listed = (await http.get("/couriers/", params={"page": 1, "per_page": 10})).json()
    assert all(c["transport-type"] == c["transport_type"] for c in listed)


async def test_seed_put_with_every_field_empty_answers_200_and_changes_nothing(
    http: httpx.AsyncClient,
) -> None:
    courier_id = await create_courier(http, "", new_phone())
    before = (await http.get(f"/api/v1/courier/{courier_id}")).json()
    answer = await http.put("/courier", json=update_request(courier_id))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"message": "courier's profile updated successfully"}
    assert (await http.get(f"/api/v1/courier/{courier_id}")).json() == before
    missing = await http.put("/courier", json=update_request(2**62))
    assert_error(missing, 404, "courier_not_found")


async def test_seed_put_changes_only_what_is_not_empty_with_keys_in_any_case(http: httpx.AsyncClient) -> None:
    courier_id = await create_courier(http, "", new_phone())
    body = {"ID": courier_id, "Name": "", "Phone": "", "Status": "paused", "Transport_Type": "", "extra": 1}
    answer = await http.put("/courier", json=body)
    assert answer.status_code == 200, answer.text
    courier = (await http.get(f"/api/v1/courier/{courier_id}")).json()
    assert (courier["name"], courier["status"], courier["transport_type"]) == ("Ivan", "paused", "car")
    # a seed client sends back the courier object it read: transport-type is its key
    answer = await http.put("/courier/", json={"id": courier_id, "transport-type": "scooter", "status": ""})
    assert answer.status_code == 200, answer.text
    assert (await http.get(f"/api/v1/courier/{courier_id}")).json()["transport_type"] == "scooter"
    # the last duplicate wins, as in Go
    raw = f'{{"id": {courier_id}, "name": "Olga", "NAME": "Anna"}}'
    answer = await http.put("/courier", content=raw, headers={"content-type": "application/json"})
    assert answer.status_code == 200, answer.text
    assert (await http.get(f"/api/v1/courier/{courier_id}")).json()["name"] == "Anna"


async def test_seed_assign_and_unassign_with_go_cased_keys(http: httpx.AsyncClient) -> None:
    await pause_available(http)
    courier_id = await create_courier(http, "", new_phone())
    order = order_id()
    assigned = await http.post("/delivery/assign/", json={"order_ID": order})
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["courier_id"] == courier_id
    undone = await http.post("/delivery/unassign", json={"Order_Id": order, "reason": "ignored"})
    assert undone.status_code == 200, undone.text


async def test_seed_leniency_stops_at_fields_the_seed_never_had(http: httpx.AsyncClient) -> None:
    for body in (
        {"order_id": order_id(), "dry_run": True, "Dry_Run": False},
        {"order_ID": "x", "wait": True},
    ):
        answer = await http.post("/delivery/assign", json=body)
        assert_error(answer, 400, "invalid_request")


async def test_seed_unknown_query_parameters_are_ignored_only_at_the_root(http: httpx.AsyncClient) -> None:
    assert (await http.get("/couriers", params={"page": 1})).status_code == 200
    assert (await http.get("/deliveries", params={"page": 1})).status_code == 200
    assert_error(await http.get("/api/v1/couriers", params={"page": 1}), 400, "invalid_request")


async def test_api_v1_stays_strict(http: httpx.AsyncClient) -> None:
    phone = new_phone()
    created = await http.post("/api/v1/courier", json=create_request(phone))
    error = assert_error(created, 400, "invalid_transport_type", "invalid transport type")
    assert error["field"] == "transport_type" and "on_foot" in error["detail"]
    courier_id = await create_courier(http, "/api/v1", new_phone())
    for field in ("name", "phone", "status", "transport_type"):
        answer = await http.put("/api/v1/courier", json={"id": courier_id, field: ""})
        assert answer.status_code == 400 and answer.json()["error"]["field"] == field, answer.text
    assert_error(await http.post("/api/v1/delivery/assign", json={"order_ID": "x"}), 400, "invalid_request")
    courier = (await http.get(f"/api/v1/courier/{courier_id}")).json()
    assert "transport-type" not in courier
    assert (
        await http.post("/api/v1/courier/", json=create_request(new_phone(), transport="car"))
    ).status_code in (
        307,
        404,
    )


@pytest.mark.parametrize("prefix", PREFIXES, ids=PREFIX_IDS)
@pytest.mark.parametrize("action", ["assign", "unassign", "complete"])
async def test_get_on_a_post_route_is_405_and_its_name_is_no_order_id(
    http: httpx.AsyncClient, prefix: str, action: str
) -> None:
    answer = await http.get(f"{prefix}/delivery/{action}")
    assert_error(answer, 405, "method_not_allowed")
    assert answer.headers["allow"] == "POST"
    refused = await http.post(f"{prefix}/delivery/assign", json={"order_id": action})
    assert_error(refused, 400, "invalid_order_id")


@pytest.mark.parametrize("prefix", PREFIXES, ids=PREFIX_IDS)
async def test_error_messages_tell_missing_from_invalid_and_name_the_rule(
    http: httpx.AsyncClient, prefix: str
) -> None:
    missing = await http.post(f"{prefix}/courier", json={"name": "Ivan", "status": "available"})
    error = assert_error(missing, 400, "invalid_phone", "missing courier's phone")
    assert error["detail"].startswith("'+' and 11 digits")
    bad_name = await http.post(
        f"{prefix}/courier", json=create_request(new_phone(), transport="car") | {"name": "1"}
    )
    assert (
        "letters of any script"
        in assert_error(bad_name, 400, "invalid_name", "invalid courier's name")["detail"]
    )
    leaky = await http.post(f"{prefix}/delivery/assign", json={"order_id": "x", "courier_id": "7"})
    error = assert_error(leaky, 400, "invalid_request", "invalid courier_id")
    assert "Expected" not in leaky.text and "$." not in leaky.text and error["field"] == "courier_id"


async def test_the_same_json_with_other_whitespace_replays_under_one_key(http: httpx.AsyncClient) -> None:
    body = create_request(new_phone(), transport="scooter")
    headers = {"idempotency-key": order_id(), "content-type": "application/json"}
    first = await http.post("/api/v1/courier", content=json.dumps(body), headers=headers)
    again = await http.post("/courier", content=json.dumps(body, indent=2, sort_keys=True), headers=headers)
    assert first.status_code == again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true" and again.json() == first.json()


async def test_one_key_covers_a_request_however_the_seed_spells_its_keys(http: httpx.AsyncClient) -> None:
    await pause_available(http)
    await create_courier(http, "", new_phone())
    order, key = order_id(), {"idempotency-key": order_id()}
    first = await http.post("/delivery/assign", json={"order_ID": order}, headers=key)
    again = await http.post("/delivery/assign", json={"order_id": order, "reason": "ignored"}, headers=key)
    assert first.status_code == again.status_code == 200, again.text
    assert again.headers["idempotent-replayed"] == "true" and again.json() == first.json()
    other = await http.post("/delivery/assign", json={"order_id": order_id()}, headers=key)
    assert_error(other, 422, "idempotency_key_reused")
