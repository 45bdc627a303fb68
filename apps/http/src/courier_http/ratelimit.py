"""Rate limiting: a token bucket per client IP (or one global bucket), as pure ASGI middleware.

The bucket lives in this process (:class:`TokenBucketLimiter`, the default) or in Redis, shared by every
process and replica (``courier_adapters.redis.RedisTokenBucket``, with ``COURIER_RATE_LIMIT_REDIS_URL``):
the middleware takes either, answers the same 429 with the same headers, and a 503 when a shared
bucket cannot decide and ``COURIER_RATE_LIMIT_REDIS_FAILURE=closed``.

Memory stays bounded: buckets live in LRU order; a bucket idle long enough to be full again is the same
as no bucket and is dropped, and past ``max_buckets`` the least recently used one goes.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from courier_http.errors import ApiError, unavailable
from courier_http.exchange import send_error

Clock = Callable[[], float]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    remaining: int
    retry_after: int = 0
    unavailable: bool = False


class Verdict(Protocol):
    @property
    def allowed(self) -> bool: ...
    @property
    def remaining(self) -> int: ...
    @property
    def retry_after(self) -> int: ...
    @property
    def unavailable(self) -> bool: ...


class SharedLimiter(Protocol):
    """A bucket kept elsewhere (Redis): the decision costs a round trip."""

    capacity: int

    async def take(self, key: str) -> Verdict: ...


class TokenBucketLimiter:
    """Token buckets keyed by client: ``capacity`` tokens, ``refill_per_second`` back each second."""

    def __init__(
        self,
        *,
        capacity: int,
        refill_per_second: float,
        clock: Clock = time.monotonic,
        max_buckets: int = 100_000,
    ) -> None:
        self.capacity = capacity
        self.refill = refill_per_second
        self._clock = clock
        self._max = max_buckets
        self._full_after = capacity / refill_per_second
        self._buckets: OrderedDict[str, list[float]] = OrderedDict()  # key -> [tokens, last seen]

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: str) -> Decision:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = [float(self.capacity), now]
            self._evict(now)
        else:
            self._buckets.move_to_end(key)
            bucket[0] = min(self.capacity, bucket[0] + (now - bucket[1]) * self.refill)
            bucket[1] = now
        if bucket[0] >= 1.0:
            bucket[0] -= 1.0
            return Decision(True, int(bucket[0]))
        wait = math.ceil((1.0 - bucket[0]) / self.refill)
        return Decision(False, 0, max(1, wait))

    def _evict(self, now: float) -> None:
        buckets = self._buckets
        while buckets:
            oldest_key, (_, last) = next(iter(buckets.items()))
            if now - last < self._full_after and len(buckets) <= self._max:
                return
            del buckets[oldest_key]


class ClientKey:
    """The client's address: the socket's, or ``X-Forwarded-For``'s only from a trusted proxy."""

    def __init__(self, trusted: Sequence[Network] = ()) -> None:
        self._trusted = tuple(trusted)

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._trusted)

    def __call__(self, scope: Scope) -> str:
        client = scope.get("client")
        peer: str = client[0] if client else ""
        if not self._trusted or not self._is_trusted(peer):
            return peer
        for key, value in scope["headers"]:
            if key == b"x-forwarded-for":
                # Walk from the nearest hop back; the first address we do not trust is the client.
                text: str = value.decode("latin-1")
                hops = [h.strip() for h in text.split(",") if h.strip()]
                for hop in reversed(hops):
                    if not self._is_trusted(hop):
                        return hop
                return hops[0] if hops else peer
        return peer


def global_key(scope: Scope) -> str:
    return ""


class RateLimitMiddleware:
    """429 ``rate_limited`` with ``X-RateLimit-*`` and ``Retry-After`` once the client's bucket is empty."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: TokenBucketLimiter | SharedLimiter,
        key: Callable[[Scope], str],
        on_limited: Callable[[], Any] = lambda: None,
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.key = key
        self.on_limited = on_limited
        self._limit = str(limiter.capacity).encode()
        self._local = limiter if isinstance(limiter, TokenBucketLimiter) else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = self.key(scope)
        decision: Verdict
        if self._local is not None:
            decision = self._local.take(key)
        else:
            decision = await self.limiter.take(key)  # type: ignore[misc]
        if not decision.allowed:
            if decision.unavailable:  # a shared bucket that cannot decide, failing closed
                await send_error(send, unavailable(), head=scope["method"] == "HEAD")
                return
            self.on_limited()
            error = ApiError.of("rate_limited", 429)
            error.headers = (
                (b"x-ratelimit-limit", self._limit),
                (b"x-ratelimit-remaining", b"0"),
                (b"retry-after", str(decision.retry_after).encode()),
            )
            await send_error(send, error, head=scope["method"] == "HEAD")
            return
        extra = [
            (b"x-ratelimit-limit", self._limit),
            (b"x-ratelimit-remaining", str(decision.remaining).encode()),
        ]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
