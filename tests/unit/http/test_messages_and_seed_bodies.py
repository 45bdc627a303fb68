"""Issue 16, points 7 and 8 at the unit level: messages that tell a missing field from an invalid one,
the rule in ``detail``, no decoder wording, ``""`` under ``/api/v1``, a wrong token, and the seed's way
of decoding bodies at the unversioned paths."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from courier_http import bodies
from courier_http.auth import ApiToken, TokenAuthMiddleware, _digest
from courier_http.errors import FIELD_RULES, ApiError, render


def _error(kind: type[Any], raw: bytes, *, seed: frozenset[str] | None = None) -> ApiError:
    with pytest.raises(ApiError) as caught:
        bodies.BodyDecoder(kind, seed=seed).decode(raw)
    return caught.value


def test_a_missing_field_is_not_called_invalid_and_carries_its_rule() -> None:
    error = _error(bodies.CreateCourierBody, b'{"name": "Ivan", "status": "available"}')
    assert (error.code, error.field) == ("invalid_phone", "phone")  # the code is unchanged
    assert error.message == "missing courier's phone"
    assert error.detail == FIELD_RULES["phone"]
    wrong = _error(bodies.CreateCourierBody, b'{"name": "Ivan", "phone": 5, "status": "available"}')
    assert (wrong.code, wrong.message) == ("invalid_phone", "invalid courier's phone")
    missing_order = _error(bodies.OrderBody, b"{}")
    assert (missing_order.code, missing_order.message) == ("invalid_order_id", "missing order id")


def test_the_name_rule_is_in_the_error_body() -> None:
    error = _error(bodies.CreateCourierBody, b'{"name": 7, "phone": "+79990001122", "status": "available"}')
    body = msgspec.json.decode(render(error))["error"]
    assert body["code"] == "invalid_name" and "letters of any script" in body["detail"]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"order_id": "x", "courier_id": "7"}',
        b'{"order_id": "x", "exclude_courier_ids": ["a"]}',
        b'{"order_id": "x", "wait": "yes"}',
        b'{"order_id": "x", "dry_run": 1}',
        b'{"order_id": 5}',
    ],
)
def test_no_message_leaks_the_decoders_wording(raw: bytes) -> None:
    text = render(_error(bodies.AssignBody, raw)).decode()
    assert "Expected" not in text and "$." not in text and "`" not in text


def test_a_mistyped_option_names_the_field_and_its_rule() -> None:
    error = _error(bodies.AssignBody, b'{"order_id": "x", "courier_id": "7"}')
    assert (error.code, error.field, error.message) == ("invalid_request", "courier_id", "invalid courier_id")
    assert error.detail == FIELD_RULES["courier_id"]


@pytest.mark.parametrize(
    ("kind", "raw", "code"),
    [
        (bodies.CreateCourierBody, b'{"name":"Ivan","phone":"+79990001122","status":"available",'
         b'"transport_type":""}', "invalid_transport_type"),
        (bodies.CreateCourierBody, b'{"name":"Ivan","phone":"+79990001122","status":""}', "invalid_status"),
        (bodies.CreateCourierBody, b'{"name":"","phone":"+79990001122","status":"paused"}', "invalid_name"),
        (bodies.UpdateCourierBody, b'{"id":1,"transport_type":""}', "invalid_transport_type"),
        (bodies.UpdateCourierBody, b'{"id":1,"status":""}', "invalid_status"),
        (bodies.UpdateCourierBody, b'{"id":1,"phone":""}', "invalid_phone"),
        (bodies.UpdateCourierBody, b'{"id":1,"name":""}', "invalid_name"),
    ],
)  # fmt: skip
def test_under_api_v1_an_empty_string_is_invalid_with_its_fields_code(
    kind: type[Any], raw: bytes, code: str
) -> None:
    assert _error(kind, raw).code == code


async def test_a_wrong_token_says_so_and_a_missing_one_asks_for_one() -> None:
    tokens = {_digest("right"): ApiToken("ops", "write", _digest("right"))}

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("not reached")

    app = TokenAuthMiddleware(inner, tokens=tokens)

    async def answer(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
        sent: list[Any] = []

        async def send(message: Any) -> None:
            sent.append(message)

        await app({"type": "http", "method": "GET", "headers": headers}, None, send)
        assert sent[0]["status"] == 401
        error: dict[str, Any] = msgspec.json.decode(sent[1]["body"])["error"]
        return error

    missing = await answer([])
    wrong = await answer([(b"authorization", b"Bearer wrong")])
    assert missing == {"code": "unauthorized", "message": "authentication required"}
    assert wrong == {"code": "unauthorized", "message": "invalid token"}


# --- the seed's decoding (unversioned paths) ---------------------------------------------------------

CREATE = bodies.BodyDecoder(bodies.CreateCourierBody, seed=bodies.SEED_COURIER)
UPDATE = bodies.BodyDecoder(bodies.UpdateCourierBody, seed=bodies.SEED_UPDATE)
ASSIGN = bodies.BodyDecoder(bodies.AssignBody, seed=bodies.SEED_ORDER)


def test_seed_keys_match_case_insensitively_last_duplicate_wins_unknown_ignored() -> None:
    body = ASSIGN.decode(b'{"order_ID": "a-1"}')
    assert body.order_id == "a-1" and body.dry_run is None
    update = UPDATE.decode(b'{"ID": 3, "Name": "Ivan", "name": "Olga", "page": 1, "Transport_Type": "car"}')
    assert (update.id, update.name, update.transport_type) == (3, "Olga", "car")
    # the seed's own courier objects sent back: transport-type is its key
    assert UPDATE.decode(b'{"id": 3, "Transport-Type": "scooter"}').transport_type == "scooter"
    # ASCII only: a dotless i is not an i
    assert UPDATE.decode('{"id": 3, "nİme": "x"}'.encode()).name is None


def test_seed_empty_string_means_not_given() -> None:
    # the seed's PUT: all four fields, "" for unchanged
    update = UPDATE.decode(b'{"id":1,"name":"","phone":"","status":"paused","transport_type":""}')
    assert (update.name, update.phone, update.status, update.transport_type) == (None, None, "paused", None)
    nothing = UPDATE.decode_seed(b'{"id":1,"name":"","phone":"","status":"","transport_type":""}')
    assert nothing == (bodies.UpdateCourierBody(id=1), True)  # the handler answers 200, changes nothing
    assert UPDATE.decode_seed(b'{"id":1,"NAME":"","x":1}') == (bodies.UpdateCourierBody(id=1), True)
    assert UPDATE.decode_seed(b'{"id":1}') == (bodies.UpdateCourierBody(id=1), False)  # still 400
    created = CREATE.decode(
        b'{"name":"Ivan","phone":"+79990001122","status":"available","transport_type":""}'
    )
    assert created.transport_type is None
    missing = _error(
        bodies.CreateCourierBody,
        b'{"name":"","phone":"+79990001122","status":"available"}',
        seed=bodies.SEED_COURIER,
    )
    assert (missing.code, missing.message) == ("invalid_name", "missing courier's name")


@pytest.mark.parametrize(
    "raw",
    [
        b'{"order_id": "a", "dry_run": true, "Dry_Run": 1}',
        b'{"Order_ID": "a", "dry_run": true}',  # a new field: the body is decoded strictly
        b'{"order_id": "a", "DRY_RUN": true}',
        b'{"order_id": "a", "courier_id": 1, "courierid": 2}',
        b'{"order_id": "a", "wait": true, "pickup": 1}',
        # misspelt, each alone: ignoring them would make a dry run real or ignore the chosen courier
        b'{"order_id": "a", "dryRun": true}',
        b'{"order_id": "a", "dry-run": true}',
        b'{"order_id": "a", "courierId": 7}',
        b'{"order_id": "a", "exclude_courier_id": [7]}',
        b'{"order_id": "a", "excludeCourierIds": [7]}',
        b'{"order_id": "a", "waits": true}',
    ],
)
def test_a_body_with_a_field_the_seed_never_had_is_decoded_strictly(raw: bytes) -> None:
    with pytest.raises(ApiError) as caught:
        ASSIGN.decode(raw)
    assert caught.value.code == "invalid_request"


def test_unknown_keys_far_from_any_field_of_ours_are_still_ignored_at_the_root() -> None:
    body = ASSIGN.decode(b'{"Order_ID": "a", "ID": 1, "created_at": "x", "comment": "ring twice"}')
    assert (body.order_id, body.dry_run, body.courier_id) == ("a", None, None)


def test_seed_strict_fields_still_work_when_spelt_right() -> None:
    body = ASSIGN.decode(b'{"order_id": "a", "dry_run": true, "courier_id": 2.0}')
    assert (body.dry_run, body.courier_id) == (True, 2)


def test_seed_decoding_keeps_invalid_json_and_the_object_rule() -> None:
    assert _error(bodies.AssignBody, b'{"Order_ID": "a",', seed=bodies.SEED_ORDER).code == "invalid_json"
    assert _error(bodies.AssignBody, b"[1]", seed=bodies.SEED_ORDER).code == "invalid_request"


def test_the_served_openapi_document_has_detail_in_the_error_schema() -> None:
    import asyncio

    import httpx

    from courier_adapters.settings import load_settings
    from courier_http.app import create_app

    app = create_app(load_settings({"COURIER_DATABASE_URL": "postgresql://nowhere/x"}, dotenv=None))

    async def fetch() -> Any:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            return (await http.get("/openapi.json")).json()

    document = asyncio.run(fetch())
    error = document["components"]["schemas"]["ErrorDetail"]
    assert "detail" in error["properties"] and "detail" not in error.get("required", [])
    assert "rule" in str(error["properties"]["detail"])
