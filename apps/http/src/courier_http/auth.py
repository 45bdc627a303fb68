"""Bearer tokens for the business routes (``COURIER_API_TOKENS``) and for ``/metrics``.

``COURIER_API_TOKENS`` is a comma-separated list of ``name:scope:secret`` (scope ``read`` or ``write``;
the secret may be given as ``sha256=<hex>`` so that the configuration need not hold it). Only digests
are kept in memory. No tokens configured: no authentication.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from courier_http.errors import ApiError
from courier_http.exchange import send_error

READ_METHODS = frozenset({"GET", "HEAD"})
_CHALLENGE = ((b"www-authenticate", b'Bearer realm="courier"'),)


@dataclass(frozen=True, slots=True)
class ApiToken:
    name: str
    scope: str
    digest: bytes


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def parse_tokens(text: str | None) -> dict[bytes, ApiToken]:
    """Tokens by the SHA-256 of their secret; ``ValueError`` says what is wrong (never the secret)."""
    tokens: dict[bytes, ApiToken] = {}
    for position, item in enumerate((text or "").split(","), start=1):
        if not item.strip():
            continue
        name, scope, secret = (part.strip() for part in [*item.split(":", 2), "", ""][:3])
        if not name or scope not in ("read", "write") or not secret:
            raise ValueError(f"token {position} is not name:read|write:secret")
        if secret.startswith("sha256="):
            try:
                digest = bytes.fromhex(secret.removeprefix("sha256="))
            except ValueError:
                raise ValueError(f"token {position} ({name}): sha256= needs 64 hex digits") from None
            if len(digest) != 32:
                raise ValueError(f"token {position} ({name}): sha256= needs 64 hex digits")
        else:
            digest = _digest(secret)
        tokens[digest] = ApiToken(name, scope, digest)
    return tokens


def bearer(scope: Scope) -> str | None:
    for key, value in scope["headers"]:
        if key == b"authorization":
            kind, _, credentials = value.decode("latin-1").partition(" ")
            return credentials.strip() if kind.lower() == "bearer" and credentials.strip() else None
    return None


WRONG_TOKEN = "invalid token"  # noqa: S105  # code unauthorized too: "authentication required" is for no token at all


def unauthorized(*, sent: bool = False) -> ApiError:
    """401: no bearer token (``authentication required``), or one that is not known (``invalid token``)."""
    error = ApiError.of("unauthorized", 401, message=WRONG_TOKEN if sent else None)
    error.headers = _CHALLENGE
    return error


class TokenAuthMiddleware:
    """401 ``unauthorized`` without a known token; 403 ``forbidden`` for a read token on a write route."""

    def __init__(self, app: ASGIApp, *, tokens: dict[bytes, ApiToken]) -> None:
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        head = scope["method"] == "HEAD"
        secret = bearer(scope)
        token = None if secret is None else self.tokens.get(_digest(secret))
        if token is None:
            await send_error(send, unauthorized(sent=secret is not None), head=head)
            return
        if token.scope != "write" and scope["method"] not in READ_METHODS:
            await send_error(send, ApiError.of("forbidden", 403), head=head)
            return
        scope["courier.actor"] = token.name
        await self.app(scope, receive, send)


def metrics_token_ok(expected: str | None, scope: Scope) -> bool:
    """``/metrics`` is open unless ``COURIER_METRICS_TOKEN`` is set; then it needs that bearer token."""
    if not expected:
        return True
    given = bearer(scope)
    return given is not None and hmac.compare_digest(_digest(given), _digest(expected))
