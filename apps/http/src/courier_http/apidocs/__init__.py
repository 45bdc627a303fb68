"""``/docs``: a page to read and try the API, drawn in the browser from ``/openapi.json``.

Like the console (:mod:`courier_http.console`) it is a static page with its files shipped in the
package (no CDN, nothing fetched from the internet at run time) under the same strict
Content-Security-Policy: its own scripts and styles only, requests to its own origin only. It is not
an operation of the API (not in the OpenAPI document, not rate limited); the requests it sends for
"Try it" are ordinary API calls, limited and checked as any client's.
"""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute, Mount, Route

from courier_http.console import ConsoleAssets, ConsolePage

STATIC = Path(__file__).with_name("static")
PATH = "/docs"
ASSETS = PATH + "/assets"


class DocsPage(ConsolePage):
    template = PATH


class DocsAssets(ConsoleAssets):
    template = ASSETS + "/{path}"


def routes(static: Path = STATIC) -> list[BaseRoute]:
    """The page and its assets, to mount at the root beside the console."""
    page = DocsPage((static / "index.html").read_bytes())
    return [Route(PATH, page, methods=["GET", "HEAD"]), Mount(ASSETS, app=DocsAssets(static))]
