"""The OpenAPI 3.1 document, generated from the operation table and the msgspec schemas."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import msgspec

from courier_http import schemas
from courier_http.errors import MESSAGES
from courier_http.routing import Operation

REF = "#/components/schemas/{name}"
_PARAM = re.compile(r"{([^}:]+)(?::[^}]+)?}")
_REASONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    400: "Bad request (see the error code)",
    404: "Not found",
    409: "Conflict with the current state",
    412: "Precondition failed",
    401: "No valid bearer token (only when COURIER_API_TOKENS is set)",
    403: "A read token on a write route",
    413: "Body over 1 MiB",
    429: "Rate limited",
    503: "Unavailable (database down or request deadline passed), with Retry-After",
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
        types.extend(t for t in (op.body, op.answer) if t is not None)
    found, components = msgspec.json.schema_components(types, ref_template=REF)
    schema_of = dict(zip(map(_key, types), found, strict=True))
    placed = [(prefix, op, True) for prefix in prefixes for op in business]
    placed += [(prefixes[0], op, True) for op in versioned] + [("", op, False) for op in operational]
    paths: dict[str, dict[str, Any]] = {}
    for prefix, op, limited in placed:
        item = _operation(op, schema_of, limited=limited)
        if limited and prefix != prefixes[0]:
            item["operationId"] += "_unversioned"  # operation ids are unique across the document
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


def _key(kind: Any) -> str:
    return repr(kind)


def _operation(op: Operation, schema_of: dict[str, Any], *, limited: bool) -> dict[str, Any]:
    item: dict[str, Any] = {"summary": op.summary, "operationId": _operation_id(op)}
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PARAM.findall(op.path)
    ]
    parameters += [
        {"name": q.name, "in": "query", "required": False, "description": q.description, "schema": q.schema}
        for q in op.query
    ]
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
    elif op.content_type != "application/json":
        success["content"] = {op.content_type: {"schema": {"type": "string"}}}
    responses: dict[str, Any] = {str(op.status): success}
    error = {"application/json": {"schema": schema_of[_key(schemas.Error)]}}
    statuses = (*op.errors, 401, 403, 429, 503) if limited else op.errors
    for status in statuses:
        responses[str(status)] = {"description": _REASONS.get(status, "Error"), "content": error}
    item["responses"] = responses
    return item


def _operation_id(op: Operation) -> str:
    name: str = op.handler.__name__
    return name if op.method in ("GET", "POST", "PUT", "DELETE") else f"{name}_{op.method.lower()}"
