"""Bad input never yields a 5xx: random JSON bodies and paths against the real server."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.http.server import ApiProcess

pytestmark = pytest.mark.e2e

FIELDS = [
    "id",
    "name",
    "phone",
    "status",
    "transport_type",
    "order_id",
    "courier_id",
    "exclude_courier_ids",
    "wait",
]
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
bodies = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=10), json_values, max_size=6),
    json_values,
)
ROUTES = [
    ("POST", "/courier"), ("PUT", "/courier"), ("POST", "/delivery/assign"),
    ("POST", "/delivery/unassign"), ("POST", "/delivery/complete"),
]  # fmt: skip
SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(route=st.sampled_from(ROUTES), prefix=st.sampled_from(["", "/api/v1"]), body=bodies)
def test_random_json_bodies_never_give_a_5xx(
    server: ApiProcess, route: tuple[str, str], prefix: str, body: object
) -> None:
    method, path = route
    answer = httpx.request(method, server.url + prefix + path, json=body, timeout=30)
    assert answer.status_code < 500, (body, answer.text)
    if answer.status_code >= 400:
        assert set(answer.json()["error"]) <= {"code", "message", "field", "detail"}


@SETTINGS
@given(raw=st.binary(max_size=200))
def test_random_bytes_never_give_a_5xx(server: ApiProcess, raw: bytes) -> None:
    answer = httpx.post(server.url + "/api/v1/courier", content=raw, timeout=30)
    assert answer.status_code < 500, (raw, answer.text)


@SETTINGS
@given(
    segment=st.text(min_size=1, max_size=40), query=st.dictionaries(st.text(max_size=8), st.text(max_size=12))
)
def test_random_paths_and_queries_never_give_a_5xx(
    server: ApiProcess, segment: str, query: dict[str, str]
) -> None:
    encoded = quote(segment, safe="")  # the server decodes it: control characters and all
    for path in (f"/api/v1/courier/{encoded}", f"/delivery/{encoded}"):
        answer = httpx.get(server.url + path, timeout=30)
        assert answer.status_code < 500, (segment, answer.text)
    for path in ("/couriers", "/api/v1/deliveries"):
        answer = httpx.get(server.url + path, params=query, timeout=30)
        assert answer.status_code < 500, (query, answer.text)
