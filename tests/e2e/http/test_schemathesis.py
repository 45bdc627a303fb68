"""schemathesis against the real ``courier-api`` process and the ``/openapi.json`` it serves.

Its engine (what ``schemathesis run`` drives) runs every operation through the examples, coverage and
fuzzing phases, valid and invalid data, then the stateful phase (sequences of calls linked through the
answers: a created courier's ``Location``, an assigned order's id), with every check on: no 5xx, status
codes, content types, bodies and headers as documented, invalid data refused, valid data accepted.
Rate limiting is off (the ``server`` fixture).

pytest 9 and schemathesis 4's ``pytest.from_fixture`` do not work together (it sets a node attribute
pytest 9 no longer has), so the engine is driven directly and its failures are reported here.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis.engine import Status, StopReason, events, from_schema

from courier_core.model import MAX_ORDER_ID_LENGTH, DeliveryCursor
from courier_http.api import CURSOR_FORMAT, encode_cursor
from courier_http.bodies import NAME_FORMAT, ORDER_ID_SCHEMA
from tests.e2e.http.server import ApiProcess

pytestmark = pytest.mark.e2e

STREAM = "/api/v1/stream"
IDEMPOTENCY_KEY = "Idempotency-Key"
MAX_EXAMPLES = 60  # per operation and phase: the file stays well under two minutes on two cores
# positive_data_acceptance's default, and what a valid request meets when the state says no: 412 (an
# If-Match naming another version) and 422 (an Idempotency-Key used before with another request).
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "412", "422", "429", "5xx"]
CONFIG: dict[str, Any] = {
    "seed": 20261125,  # reproducible in CI; change it locally to explore
    "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "database": "none"},
    "phases": {
        "examples": {"enabled": True},
        "coverage": {"enabled": True},
        "fuzzing": {"enabled": True},
        "stateful": {"enabled": True, "max-steps": 8},
    },
    "checks": {"enabled": True, "positive_data_acceptance": {"expected-statuses": ACCEPTED}},
    "request-timeout": 30,
    "operations": [
        # What no schema states, by design: a courier cannot take over its own delivery, at_risk=true
        # goes with no status but active (both 400, as the document says in words), and the history of
        # a deleted courier stays readable (it is the audit trail).
        {
            "include-path-regex": "(/handover|/deliveries)$",
            "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "400"]}},
        },
        {"include-path-regex": "/history$", "checks": {"use_after_free": {"enabled": False}}},
    ],
}


# The two formats of the document that no pattern states: what valid values look like.
LETTERS = "A-Za-zÀ-ÖØ-öø-ÿА-яЁёΑ-ΡΣ-Ωα-ω"  # Latin, Cyrillic, Greek: a sample of "any script"
schemathesis.openapi.format(
    NAME_FORMAT, st.from_regex(rf"\A[{LETTERS}]{{1,20}}(?:[ '’-][{LETTERS}]{{1,20}}){{0,3}}\Z")
)
schemathesis.openapi.format(
    CURSOR_FORMAT,
    st.builds(
        lambda at, order_id: encode_cursor(DeliveryCursor(assigned_at=at, order_id=order_id)),
        st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
        st.from_regex(ORDER_ID_SCHEMA["pattern"], fullmatch=True).filter(
            lambda o: len(o) <= MAX_ORDER_ID_LENGTH
        ),
    ),
)


def _integers(values: dict[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    return {k: int(v) if isinstance(v, float) and v.is_integer() else v for k, v in values.items()}


# The engine reuses values it saw in JSON bodies, where 2.0 is the integer 2 (and courier reads it so),
# as text in paths and queries, where "2.0" is no integer's spelling; its own generator never does that.
# Spelled as integers again (filtering those cases out instead starves the stateful phase).
@schemathesis.hook
def map_path_parameters(context: schemathesis.HookContext, path_parameters: dict[str, Any]) -> Any:
    return _integers(path_parameters)


# Keys are per request here (tests/e2e/http/test_idempotency.py covers reuse): a key the engine
# sends again with another body is refused (422) and one sent with the same body replays an answer
# about a courier that a later step may have deleted; neither is something a schema can state.
@schemathesis.hook
def map_headers(context: schemathesis.HookContext, headers: dict[str, Any]) -> Any:
    key = (headers or {}).get(IDEMPOTENCY_KEY)
    if isinstance(key, str) and re.fullmatch(r"[!-~]{1,255}", key):
        headers = {**headers, IDEMPOTENCY_KEY: uuid.uuid4().hex}
    return headers


@schemathesis.hook
def map_query(context: schemathesis.HookContext, query: dict[str, Any]) -> Any:
    return _integers(query)


def test_every_operation_and_sequence_answers_as_documented(server: ApiProcess) -> None:
    config = schemathesis.Config.from_dict(CONFIG)
    # The live stream never ends by itself: schemathesis reads it until max-stream-events, and the
    # stream's keep-alives keep that read from timing out (tests/e2e/http/test_stream.py covers it).
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json", config=config).exclude(path=STREAM)
    document = httpx.get(server.url + "/openapi.json").json()
    operations = {f"{m.upper()} {path}" for path, item in document["paths"].items() for m in item}
    assert {op.ok().label for op in schema.get_all_operations()} <= operations

    cases: Counter[str] = Counter()
    checked: Counter[str] = Counter()
    tested: set[str] = set()
    failures: list[str] = []
    errors: list[str] = []
    finished: events.EngineFinished | None = None
    links = 0
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            cases[str(event.phase)] += len(recorder.cases)
            tested.add(event.label or recorder.label)
            for case_id, checks in recorder.checks.items():
                for check in checks:
                    checked[check.name] += 1
                    if check.status == Status.FAILURE and check.failure_info is not None:
                        failure = check.failure_info.failure
                        failures.append(
                            f"[{event.phase}] {recorder.cases[case_id].value.operation.label} {check.name}: "
                            f"{failure.title} ({getattr(failure, 'status_code', '')})\n{failure.message}\n"
                            f"{check.failure_info.code_sample}"
                        )
        elif isinstance(event, events.PhaseStarted) and isinstance(
            event.payload, events.StatefulPhasePayload
        ):
            links = event.payload.transitions_selected
        elif isinstance(event, events.NonFatalError):
            errors.append(f"[{event.phase}] {event.label}: {event.info.format()}")
        elif isinstance(event, events.FatalError):
            raise event.exception
        elif isinstance(event, events.EngineFinished):
            finished = event

    print(
        f"schemathesis: {sum(cases.values())} cases {dict(cases)} over {len(tested)} operations, {links} links"
    )
    print("not tested:", sorted(operations - tested))
    print("checks:", dict(checked))
    assert finished is not None and finished.stop_reason == StopReason.COMPLETED, finished
    assert not errors, "\n\n".join(errors)
    assert not failures, f"{len(failures)} failed checks:\n\n" + "\n\n".join(dict.fromkeys(failures))
    assert cases["stateful"] > 0  # the links were found and followed
    # The engine leaves the document's own URL out.
    assert operations - {"GET /openapi.json", f"GET {STREAM}"} <= tested
