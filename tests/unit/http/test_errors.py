"""Error mapping in one place: core's tree and decoding mistakes → status, code and message."""

from __future__ import annotations

import msgspec
import pytest

from courier_core import errors as core
from courier_http import bodies
from courier_http.api import decode_cursor, encode_cursor, if_match, path_id
from courier_http.errors import MESSAGES, ApiError, from_core, render


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (core.CourierNotFound(), 404, "courier_not_found"),
        (core.DeliveryNotFound(), 404, "delivery_not_found"),
        (core.CourierExists(), 409, "courier_exists"),
        (core.CourierHasActiveDelivery(), 409, "courier_has_active_delivery"),
        (core.CourierNotAvailable(), 409, "courier_not_available"),
        (core.NoAvailableCouriers(), 409, "no_available_couriers"),
        (core.DeliveryExists(), 409, "delivery_exists"),
        (core.OrderFinished(), 409, "order_finished"),
        (core.PreconditionFailed(), 412, "precondition_failed"),
        (core.DependencyUnavailable("db down at postgresql://u:secret@h/db"), 503, "unavailable"),
        (core.InvalidInput("name"), 400, "invalid_name"),
        (core.InvalidInput("phone"), 400, "invalid_phone"),
        (core.InvalidInput("status"), 400, "invalid_status"),
        (core.InvalidInput("transport_type"), 400, "invalid_transport_type"),
        (core.InvalidInput("order_id"), 400, "invalid_order_id"),
        (core.InvalidInput("id"), 400, "invalid_id"),
        (core.InvalidInput("courier_id", "bad courier"), 400, "invalid_request"),
        (core.InvalidInput("request", "nothing to update"), 400, "invalid_request"),
        (core.CourierError(), 500, "internal"),
    ],
)
def test_maps_core_errors_to_the_spec(error: core.CourierError, status: int, code: str) -> None:
    mapped = from_core(error)
    assert (mapped.status, mapped.code) == (status, code)
    if code != "invalid_request":
        assert mapped.message == MESSAGES[code]  # the seed's message, never the exception's text
    assert b"secret" not in render(mapped)


def test_unavailable_carries_retry_after() -> None:
    assert dict(from_core(core.DependencyUnavailable()).headers)[b"retry-after"] == b"1"


def test_envelope_shape() -> None:
    body = msgspec.json.decode(render(ApiError.of("invalid_name", field="name")))
    assert body == {"error": {"code": "invalid_name", "message": "invalid courier's name", "field": "name"}}
    assert "field" not in msgspec.json.decode(render(ApiError.of("not_found", 404)))["error"]


@pytest.mark.parametrize(
    ("raw", "code", "field"),
    [
        (b"", "invalid_json", None),
        (b"{", "invalid_json", None),
        # malformed JSON whatever its first key: not "unknown field", not "missing field"
        (b'{"name": "Ivan",', "invalid_json", None),
        (b'{"x": 1', "invalid_json", None),
        (b'{"id": "7", ', "invalid_json", None),
        (b"[1]", "invalid_request", None),
        (b'{"id": 1, "x": 2}', "invalid_request", "x"),
        (b"{}", "invalid_id", "id"),
        (b'{"id": "7"}', "invalid_id", "id"),
        (b'{"id": true}', "invalid_id", "id"),
        (b'{"id": 1, "name": 5}', "invalid_name", "name"),
        (b'{"id": 1, "transport_type": []}', "invalid_transport_type", "transport_type"),
    ],
)
def test_decoding_mistakes_get_the_code_of_their_field(raw: bytes, code: str, field: str | None) -> None:
    with pytest.raises(ApiError) as caught:
        bodies.BodyDecoder(bodies.UpdateCourierBody).decode(raw)
    assert (caught.value.code, caught.value.field) == (code, field)


def test_decodes_a_valid_body_with_null_as_not_given() -> None:
    body = bodies.BodyDecoder(bodies.UpdateCourierBody).decode(b'{"id": 3, "name": null, "status": "paused"}')
    assert (body.id, body.name, body.status) == (3, None, "paused")


@pytest.mark.parametrize("text", ["0", "-1", "abc", "１２", "9223372036854775808", "1e3", " 1"])
def test_path_id_refuses_anything_but_a_positive_int64(text: str) -> None:
    with pytest.raises(ApiError) as caught:
        path_id(text)
    assert caught.value.code == "invalid_id"


def test_path_id_accepts_the_int64_range() -> None:
    assert path_id("1") == 1
    assert path_id("9223372036854775807") == 2**63 - 1


def test_if_match_reads_strong_and_weak_tags() -> None:
    assert if_match(None) is None
    assert if_match(b"*") is None
    assert if_match(b'"7"') == 7
    assert if_match(b'W/"7"') == 7
    assert if_match(b'"x"') == -1


def test_delivery_cursor_round_trips_and_refuses_garbage() -> None:
    from datetime import UTC, datetime

    from courier_core.model import DeliveryCursor

    cursor = DeliveryCursor(assigned_at=datetime(2026, 11, 24, 10, 15, 30, 123, tzinfo=UTC), order_id="o/1?")
    assert decode_cursor(encode_cursor(cursor)) == cursor
    for garbage in ("", "!!", "bm90IGpzb24", encode_cursor(cursor)[:-3]):
        with pytest.raises(ApiError):
            decode_cursor(garbage)
