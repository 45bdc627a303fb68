"""The dispatcher's console: a static page at ``/console`` that calls the public API like any client.

The page is not an operation of the API, so it is neither in the OpenAPI document nor behind the rate
limiter or the tokens: it holds no data, and every API call it makes is limited and checked as usual.
Its files ship as package data (``static/``): plain JavaScript modules and CSS, no build step.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

STATIC = Path(__file__).with_name("static")
PATH = "/console"
ASSETS = PATH + "/assets"

# The page loads only its own files and talks only to its own origin.
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    # Revalidate every time (cheap with the ETag) so an upgraded server never runs a stale script.
    (b"cache-control", b"no-cache"),
)


class ConsolePage:
    """``GET /console``: the page itself, with an ETag so a reload costs a 304."""

    template = PATH

    def __init__(self, html: bytes) -> None:
        self._html = html
        self._etag = b'"' + hashlib.sha256(html).hexdigest()[:20].encode() + b'"'

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"etag", self._etag), *SECURITY_HEADERS]
        if _header(scope, b"if-none-match") == self._etag:
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        body = b"" if scope["method"] == "HEAD" else self._html
        headers += [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-length", str(len(self._html)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class ConsoleAssets:
    """``/console/assets/...``: the scripts and styles (Starlette's static files plus our headers)."""

    template = ASSETS + "/{path}"

    def __init__(self, directory: Path) -> None:
        self._files = StaticFiles(directory=directory)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self._files(scope, receive, send_with_headers)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def routes(static: Path = STATIC) -> list[BaseRoute]:
    """The console's routes, to mount at the root beside the operational routes."""
    page = ConsolePage((static / "index.html").read_bytes())
    return [
        Route(PATH, page, methods=["GET", "HEAD"]),
        Mount(ASSETS, app=ConsoleAssets(static)),
    ]
