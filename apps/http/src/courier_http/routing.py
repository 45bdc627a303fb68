"""The route table's building blocks: an operation per (method, path), one Starlette route per path.

The same :class:`Operation` list drives the router and the OpenAPI document, so they cannot drift.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from starlette.middleware import Middleware
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from courier_http.exchange import Deadlines, Endpoint, Handler


@dataclass(frozen=True, slots=True)
class QueryParam:
    """A query parameter (or, with ``where="header"``, a request header) of an operation."""

    name: str
    description: str
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})
    where: str = "query"


@dataclass(frozen=True, slots=True)
class Operation:
    """One (method, path) of the API and what the OpenAPI document says about it."""

    method: str
    path: str
    handler: Handler
    summary: str
    status: int = 200
    body: type[Any] | None = None
    answer: type[Any] | None = None
    errors: tuple[int, ...] = ()
    query: tuple[QueryParam, ...] = ()
    content_type: str = "application/json"
    etag: bool = False  # a list answer with an ETag: 304 to a matching If-None-Match
    answer_headers: tuple[str, ...] = ()  # headers of the successful answer (see openapi.HEADERS)
    also: tuple[tuple[int, type[Any]], ...] = ()  # other success answers: (status, shape)
    # The handler is a plain ASGI app that answers by itself (the live stream): no body read, no
    # request deadline, no Reply.
    raw: bool = False
    # What the handler reads the body as (its decoder, at this prefix): an Idempotency-Key compares
    # requests by it, so two spellings of one request are one request (idempotency.request_hash).
    meaning: Callable[[bytes], Any] | None = None


class MethodEndpoint:
    """One path's endpoints by HTTP method (HEAD served by GET); ``template`` names the route;
    ``meanings``: the body decoders of its methods that have one (see :attr:`Operation.meaning`)."""

    def __init__(
        self,
        template: str,
        endpoints: dict[str, ASGIApp],
        meanings: dict[str, Callable[[bytes], Any]] | None = None,
    ) -> None:
        self.template = template
        self._endpoints = endpoints
        self.meanings = meanings or {}
        if "GET" in endpoints:
            self._endpoints["HEAD"] = endpoints["GET"]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._endpoints[scope["method"]](scope, receive, send)


def routes(
    operations: Sequence[Operation],
    *,
    deadlines: Deadlines,
    middleware: Sequence[Middleware] = (),
    trailing_slash: bool = False,
) -> list[Route]:
    """One route per path (so a wrong method gets 405 with every allowed method in ``Allow``);
    ``trailing_slash``: each path is served with a trailing slash too (the seed's clients send
    ``POST /courier/``, and a redirect loses the body with many clients), under the same template."""
    by_path: dict[str, dict[str, ASGIApp]] = {}
    meanings: dict[str, dict[str, Callable[[bytes], Any]]] = {}
    for op in operations:
        if op.meaning is not None:
            meanings.setdefault(op.path, {})[op.method] = op.meaning
        by_path.setdefault(op.path, {})[op.method] = (
            cast(ASGIApp, op.handler)
            if op.raw
            else Endpoint(op.handler, template=op.path, deadlines=deadlines)
        )
    table: list[Route] = []
    for path, endpoints in by_path.items():
        endpoint = MethodEndpoint(path, endpoints, meanings.get(path))
        for served in (path, f"{path}/") if trailing_slash else (path,):
            table.append(Route(served, endpoint, methods=list(endpoints), middleware=list(middleware)))
    return table
