"""Courier routes of api.md against the real server, at both prefixes, with every error code."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.http.conftest import new_phone
from tests.e2e.http.helpers import PREFIX_IDS, PREFIXES, assert_error, create_courier

pytestmark = pytest.mark.e2e


@pytest.fixture(params=PREFIXES, ids=PREFIX_IDS)
def p(request: pytest.FixtureRequest) -> str:
    prefix: str = request.param
    return prefix


async def test_creates_a_courier_with_location_and_reads_it_back(http: httpx.AsyncClient, p: str) -> None:
    phone = new_phone()
    body = {"name": "Anna-Maria", "phone": phone, "status": "available", "transport_type": "scooter"}
    created = await http.post(f"{p}/courier", json=body)
    assert created.status_code == 201
    courier_id = created.json()["id"]
    assert created.json() == {"id": courier_id, "message": "courier's profile created successfully"}
    assert created.headers["location"] == f"/api/v1/courier/{courier_id}"
    got = await http.get(f"{p}/courier/{courier_id}")
    assert got.status_code == 200
    courier = got.json()
    seed_key = {"transport-type"} if p == "" else set()  # the seed's key, at the unversioned paths only
    assert (
        set(courier)
        == {"id", "name", "phone", "status", "transport_type", "created_at", "updated_at"} | seed_key
    )
    assert (courier["name"], courier["phone"], courier["transport_type"]) == ("Anna-Maria", phone, "scooter")
    assert courier["created_at"].endswith("Z")
    assert got.headers["etag"]


async def test_transport_type_defaults_to_on_foot_and_null_counts_as_not_given(
    http: httpx.AsyncClient, p: str
) -> None:
    body = {"name": "Иван Петров", "phone": new_phone(), "status": "paused", "transport_type": None}
    created = await http.post(f"{p}/courier", json=body)
    assert created.status_code == 201, created.text
    courier = (await http.get(f"{p}/courier/{created.json()['id']}")).json()
    assert courier["transport_type"] == "on_foot"
    assert courier["status"] == "paused"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"name": "Ivan2"}, "invalid_name"),
        ({"name": 7}, "invalid_name"),
        ({"name": None}, "invalid_name"),
        ({"phone": "89990001122"}, "invalid_phone"),
        ({"phone": "+7999000112"}, "invalid_phone"),
        ({"status": "busy"}, "invalid_status"),
        ({"status": "sleeping"}, "invalid_status"),
        ({"transport_type": "rocket"}, "invalid_transport_type"),
        ({"transport_type": 1}, "invalid_transport_type"),
    ],
)
async def test_create_refuses_a_bad_field_with_its_own_code(
    http: httpx.AsyncClient, p: str, change: dict[str, object], code: str
) -> None:
    body = {"name": "Ivan", "phone": new_phone(), "status": "available", **change}
    error = assert_error(await http.post(f"{p}/courier", json=body), 400, code)
    assert error["field"] == next(iter(change))


@pytest.mark.parametrize(("missing", "code"), [("name", "invalid_name"), ("phone", "invalid_phone"),
                                               ("status", "invalid_status")])  # fmt: skip
async def test_create_refuses_a_missing_required_field(
    http: httpx.AsyncClient, p: str, missing: str, code: str
) -> None:
    body = {"name": "Ivan", "phone": new_phone(), "status": "available"}
    del body[missing]
    assert_error(await http.post(f"{p}/courier", json=body), 400, code)


async def test_create_refuses_unknown_fields_naming_them(http: httpx.AsyncClient, p: str) -> None:
    body = {"name": "Ivan", "phone": new_phone(), "status": "available", "age": 30}
    if p == "":  # the seed's clients: unknown keys ignored (test_seed_clients)
        assert (await http.post(f"{p}/courier", json=body)).status_code == 201
        return
    error = assert_error(await http.post(f"{p}/courier", json=body), 400, "invalid_request")
    assert error["field"] == "age"
    assert "age" in error["message"]


@pytest.mark.parametrize("raw", [b"", b"{", b"not json", b'{"name": "Ivan",}'])
async def test_malformed_json_is_invalid_json(http: httpx.AsyncClient, p: str, raw: bytes) -> None:
    answer = await http.post(f"{p}/courier", content=raw, headers={"content-type": "application/json"})
    assert_error(answer, 400, "invalid_json", "invalid JSON")


@pytest.mark.parametrize("raw", [b"[]", b'"text"', b"42", b"null"])
async def test_a_body_that_is_not_an_object_is_invalid_request(
    http: httpx.AsyncClient, p: str, raw: bytes
) -> None:
    assert_error(await http.post(f"{p}/courier", content=raw), 400, "invalid_request")


async def test_a_taken_phone_is_a_conflict_until_its_courier_is_deleted(
    http: httpx.AsyncClient, p: str
) -> None:
    phone = new_phone()
    first = await create_courier(http, p, phone)
    body = {"name": "Petr", "phone": phone, "status": "available"}
    assert_error(
        await http.post(f"{p}/courier", json=body),
        409,
        "courier_exists",
        "courier with this parameters already exists",
    )
    assert (await http.delete(f"{p}/courier/{first}")).status_code == 200
    assert (await http.post(f"{p}/courier", json=body)).status_code == 201


@pytest.mark.parametrize("bad", ["abc", "0", "-1", "1.5", "9223372036854775808", "99999999999999999999999"])
async def test_a_path_id_that_is_not_a_positive_int64_is_invalid_id(
    http: httpx.AsyncClient, p: str, bad: str
) -> None:
    assert_error(await http.get(f"{p}/courier/{bad}"), 400, "invalid_id", "invalid courier's id")
    assert_error(await http.delete(f"{p}/courier/{bad}"), 400, "invalid_id")


async def test_unknown_courier_is_courier_not_found(http: httpx.AsyncClient, p: str) -> None:
    assert_error(
        await http.get(f"{p}/courier/9223372036854775807"), 404, "courier_not_found", "courier not found"
    )
    assert_error(await http.delete(f"{p}/courier/9223372036854775807"), 404, "courier_not_found")
    body = {"id": 9223372036854775807, "status": "paused"}
    assert_error(await http.put(f"{p}/courier", json=body), 404, "courier_not_found")


async def test_update_changes_only_the_given_fields(http: httpx.AsyncClient, p: str) -> None:
    phone = new_phone()
    courier_id = await create_courier(http, p, phone, transport="car")
    before = (await http.get(f"{p}/courier/{courier_id}")).json()
    answer = await http.put(f"{p}/courier", json={"id": courier_id, "name": "Petr", "status": "paused"})
    assert answer.status_code == 200
    assert answer.json() == {"message": "courier's profile updated successfully"}
    after = (await http.get(f"{p}/courier/{courier_id}")).json()
    assert (after["name"], after["status"], after["phone"], after["transport_type"]) == (
        "Petr", "paused", phone, "car",
    )  # fmt: skip
    assert after["updated_at"] > before["updated_at"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"name": "Petr"}, "invalid_id"),
        ({"id": "1", "name": "Petr"}, "invalid_id"),
        ({"id": 0, "name": "Petr"}, "invalid_id"),
        ({"id": 1}, "invalid_request"),
        ({"id": 1, "name": None}, "invalid_request"),
        ({"id": 1, "status": "busy"}, "invalid_status"),
        ({"id": 1, "phone": "123"}, "invalid_phone"),
        ({"id": 1, "color": "red"}, "invalid_request"),
    ],
)
async def test_update_refuses_bad_input_before_looking_at_state(
    http: httpx.AsyncClient, p: str, body: dict[str, object], code: str
) -> None:
    assert_error(await http.put(f"{p}/courier", json=body), 400, code)


async def test_update_to_a_taken_phone_is_a_conflict(http: httpx.AsyncClient, p: str) -> None:
    taken = new_phone()
    await create_courier(http, p, taken)
    other = await create_courier(http, p, new_phone())
    assert_error(await http.put(f"{p}/courier", json={"id": other, "phone": taken}), 409, "courier_exists")


async def test_update_with_a_stale_if_match_is_precondition_failed(http: httpx.AsyncClient, p: str) -> None:
    courier_id = await create_courier(http, p, new_phone())
    tag = (await http.get(f"{p}/courier/{courier_id}")).headers["etag"]
    first = await http.put(f"{p}/courier", json={"id": courier_id, "name": "Petr"}, headers={"if-match": tag})
    assert first.status_code == 200
    assert first.headers["etag"] != tag
    stale = await http.put(f"{p}/courier", json={"id": courier_id, "name": "Oleg"}, headers={"if-match": tag})
    assert_error(stale, 412, "precondition_failed", "courier was changed by someone else")


async def test_a_deleted_courier_is_gone_from_every_read(http: httpx.AsyncClient, p: str) -> None:
    courier_id = await create_courier(http, p, new_phone())
    deleted = await http.delete(f"{p}/courier/{courier_id}")
    assert deleted.status_code == 200
    assert deleted.json() == {"message": "courier's profile deleted successfully"}
    assert_error(await http.get(f"{p}/courier/{courier_id}"), 404, "courier_not_found")
    assert_error(await http.delete(f"{p}/courier/{courier_id}"), 404, "courier_not_found")
    assert_error(
        await http.put(f"{p}/courier", json={"id": courier_id, "name": "Petr"}), 404, "courier_not_found"
    )
    listed = (await http.get(f"{p}/couriers", params={"limit": 1000, "after": courier_id - 1})).json()
    assert courier_id not in [c["id"] for c in listed]


async def test_lists_couriers_by_id_with_filters_and_a_next_link(http: httpx.AsyncClient, p: str) -> None:
    ids = [await create_courier(http, p, new_phone(), transport="scooter", status="paused") for _ in range(5)]
    start = ids[0] - 1
    query = {"status": "paused", "transport_type": "scooter", "limit": 2, "after": start}
    first = await http.get(f"{p}/couriers", params=query)
    assert first.status_code == 200
    assert [c["id"] for c in first.json()] == ids[:2]
    link = first.headers["link"]
    assert link.startswith("</api/v1/couriers?") and link.endswith('>; rel="next"')
    assert f"after_id={ids[1]}" in link and "status=paused" in link
    second = await http.get(link[1 : link.index(">")])
    assert [c["id"] for c in second.json()] == ids[2:4]
    alias = await http.get(f"{p}/couriers", params={"status": "paused", "limit": 2, "after_id": ids[3]})
    assert [c["id"] for c in alias.json()][:1] == ids[4:5]
    assert all(c["status"] == "paused" and c["transport_type"] == "scooter" for c in second.json())


@pytest.mark.parametrize(
    "query",
    [{"limit": "0"}, {"limit": "1001"}, {"limit": "ten"}, {"after": "-1"}, {"status": "sleeping"},
     {"transport_type": "rocket"}, {"colour": "red"}],
)  # fmt: skip
async def test_a_bad_list_query_is_invalid_request(
    http: httpx.AsyncClient, p: str, query: dict[str, str]
) -> None:
    if p == "" and "colour" in query:  # the seed's clients: unknown parameters ignored
        assert (await http.get(f"{p}/couriers", params=query)).status_code == 200
        return
    assert_error(await http.get(f"{p}/couriers", params=query), 400, "invalid_request")


async def test_a_list_answers_304_while_nothing_changed(http: httpx.AsyncClient, p: str) -> None:
    courier_id = await create_courier(http, p, new_phone(), status="paused")
    query = {"after": courier_id - 1, "limit": 1}
    first = await http.get(f"{p}/couriers", params=query)
    tag = first.headers["etag"]
    same = await http.get(f"{p}/couriers", params=query, headers={"if-none-match": tag})
    assert (same.status_code, same.content) == (304, b"")
    await http.put(f"{p}/courier", json={"id": courier_id, "name": "Petr"})
    changed = await http.get(f"{p}/couriers", params=query, headers={"if-none-match": tag})
    assert changed.status_code == 200 and changed.json()[0]["name"] == "Petr"
    assert changed.headers["etag"] != tag
