"""The OpenAPI 3.1 document, generated from the operation table and the msgspec schemas."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import msgspec

from courier_http import schemas
from courier_http.bodies import PATH_PARAMETERS
from courier_http.errors import MESSAGES
from courier_http.routing import Operation

REF = "#/components/schemas/{name}"
_PARAM = re.compile(r"{([^}:]+)(?::[^}]+)?}")
# One event of a text/event-stream answer (what a client's EventSource hands over).
_SERVER_SENT_EVENT = {
    "type": "object",
    "properties": {"id": {"type": "string"}, "event": {"type": "string"}, "data": {"type": "string"}},
    "required": ["data"],
}
_REASONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    304: "Not modified: If-None-Match has the current ETag",
    400: "Bad request (see the error code)",
    404: "Not found",
    405: "A POST-only route read as GET (order ids assign, unassign, complete are reserved), with Allow",
    409: "Conflict with the current state",
    412: "Precondition failed",
    401: "No valid bearer token (only when COURIER_API_TOKENS is set)",
    403: "A read token on a write route",
    413: "Body over 1 MiB",
    422: "Idempotency-Key reused with another request (idempotency_key_reused)",
    429: "Rate limited",
    503: "Unavailable (database down or request deadline passed), with Retry-After",
}


IDEMPOTENCY_KEY: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Safe retries: the same key with the same request within COURIER_IDEMPOTENCY_TTL (24 h) "
    "gets the first answer again and changes nothing; with another request, 422 idempotency_key_reused; "
    "while the first is still being answered, 409 idempotency_key_in_progress with Retry-After. Keys are "
    "per token. 5xx answers are not kept.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
}
IF_NONE_MATCH: dict[str, Any] = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "an ETag of this list: 304 while it has not changed",
    "schema": {"type": "string"},
}
HEADERS: dict[str, dict[str, Any]] = {
    "ETag": {"description": "the version of what was read or written", "schema": {"type": "string"}},
    "Link": {"description": '<next page>; rel="next", when more follow', "schema": {"type": "string"}},
    "Location": {"description": "the created courier", "schema": {"type": "string"}},
    "Idempotent-Replayed": {
        "description": "true: the stored answer to an earlier request with this Idempotency-Key",
        "schema": {"type": "string", "enum": ["true"]},
    },
}


def document(
    business: Sequence[Operation],
    operational: Sequence[Operation],
    *,
    prefixes: Sequence[str],
    version: str,
    versioned: Sequence[Operation] = (),
) -> dict[str, Any]:
    """Every route: business operations under every prefix (``versioned`` ones under the first only),
    operational ones at the root."""
    types: list[Any] = [schemas.Error]
    for op in (*business, *versioned, *operational):
        types.extend(t for t in (op.body, op.answer, *(shape for _, shape in op.also)) if t is not None)
    found, components = msgspec.json.schema_components(types, ref_template=REF)
    schema_of = dict(zip(map(_key, types), found, strict=True))
    placed = [(prefix, op, True) for prefix in prefixes for op in business]
    placed += [(prefixes[0], op, True) for op in versioned] + [("", op, False) for op in operational]
    paths: dict[str, dict[str, Any]] = {}
    for prefix, op, limited in placed:
        item = _operation(op, schema_of, limited=limited)
        if limited and prefix != prefixes[0]:
            item["operationId"] += "_unversioned"  # operation ids are unique across the document
            item["description"] = SEED_NOTE
        paths.setdefault(prefix + op.path, {})[op.method.lower()] = item
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "courier",
            "version": version,
            "description": "Courier management API. Error codes: " + ", ".join(sorted(MESSAGES)) + ".",
        },
        "paths": paths,
        "components": {"schemas": components},
    }


SEED_NOTE = (
    "For clients of the original service (docs/api.md): keys match ASCII-case-insensitively, unknown "
    'keys and query parameters are ignored, "" means not given, a trailing slash is served and courier '
    "objects also carry transport-type; a body with a field the original never had (dry_run, "
    "courier_id, exclude_courier_ids, wait) is decoded strictly, as under /api/v1."
)


def _key(kind: Any) -> str:
    return repr(kind)


def _operation(op: Operation, schema_of: dict[str, Any], *, limited: bool) -> dict[str, Any]:
    item: dict[str, Any] = {"summary": op.summary, "operationId": _operation_id(op)}
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": PATH_PARAMETERS.get(name, {"type": "string"}),
        }
        for name in _PARAM.findall(op.path)
    ]
    parameters += [
        {"name": q.name, "in": q.where, "required": False, "description": q.description, "schema": q.schema}
        for q in op.query
    ]
    idempotent = limited and op.method == "POST"  # every business POST takes an Idempotency-Key
    if idempotent:
        parameters.append(IDEMPOTENCY_KEY)
    if op.etag:
        parameters.append(IF_NONE_MATCH)
    if parameters:
        item["parameters"] = parameters
    if op.body is not None:
        item["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": schema_of[_key(op.body)]}},
        }
    success: dict[str, Any] = {"description": _REASONS.get(op.status, "OK")}
    if op.answer is not None:
        success["content"] = {op.content_type: {"schema": schema_of[_key(op.answer)]}}
    elif op.content_type == "text/event-stream":
        success["content"] = {op.content_type: {"schema": _SERVER_SENT_EVENT}}
    elif op.content_type != "application/json":
        success["content"] = {op.content_type: {"schema": {"type": "string"}}}
    headers = {name: HEADERS[name] for name in (*op.answer_headers, *(("ETag",) if op.etag else ()))}
    if idempotent:
        headers["Idempotent-Replayed"] = HEADERS["Idempotent-Replayed"]
    if headers:
        success["headers"] = headers
    responses: dict[str, Any] = {str(op.status): success}
    if op.etag:
        responses["304"] = {"description": _REASONS[304]}
    for status, shape in op.also:
        content = {"application/json": {"schema": schema_of[_key(shape)]}}
        responses[str(status)] = {"description": _REASONS.get(status, "OK"), "content": content}
    error = {"application/json": {"schema": schema_of[_key(schemas.Error)]}}
    statuses = (*op.errors, 401, 403, 429, 503) if limited else op.errors
    if idempotent:
        statuses = (*statuses, 400, 409, 422)  # a bad key; the key's first request still running; reused
    for status in statuses:
        responses[str(status)] = {"description": _REASONS.get(status, "Error"), "content": error}
    item["responses"] = responses
    return item


def _operation_id(op: Operation) -> str:
    name: str = op.handler.__name__
    return name if op.method in ("GET", "POST", "PUT", "DELETE") else f"{name}_{op.method.lower()}"
