"""A token bucket per client kept in Redis, so that every process and replica spends the same one.

The semantics are those of the in-process bucket (``courier_http.ratelimit.TokenBucketLimiter``):
``capacity`` tokens, ``refill_per_second`` back each second, one per request. The whole decision is one
Lua script, run atomically by Redis with Redis's own clock (``TIME``): one round trip per limited
request, no clock skew between replicas. A bucket's key expires once it would be full again, so Redis
holds only the buckets of clients seen recently.

When Redis cannot be reached, ``failure="open"`` lets requests through and ``"closed"`` refuses them
(the caller answers 503); either way the outage is reported once (``observer(False)``) and its end once
(``observer(True)``), never per request, and Redis is asked again at most every ``retry_every``
seconds meanwhile, so a dead Redis costs no request a timeout.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger("courier.ratelimit")
PREFIX = "courier:ratelimit:"

# KEYS[1]: the bucket; ARGV: capacity, refill per second, ttl in ms.
# Returns {allowed (0|1), tokens left (floored), seconds to wait (0 when allowed)}.
TAKE = """
local capacity = tonumber(ARGV[1])
local refill = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 't', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = capacity
else
  tokens = math.min(capacity, tokens + math.max(0, now - at) * refill)
end
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 't', string.format('%.6f', tokens), 'at', string.format('%.6f', now))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if allowed == 1 then
  return {1, math.floor(tokens), 0}
end
return {0, 0, math.max(1, math.ceil((1 - tokens) / refill))}
"""


class RateDecision(NamedTuple):
    allowed: bool
    remaining: int
    retry_after: int = 0
    unavailable: bool = False  # Redis could not decide and the failure mode is "closed"


class RedisTokenBucket:
    """``await bucket.take(key)``: the shared bucket's decision for ``key``."""

    def __init__(
        self,
        url: str,
        *,
        capacity: int,
        refill_per_second: float,
        failure: str = "open",
        timeout: float = 0.25,
        retry_every: float = 1.0,
        observer: Callable[[bool], Any] = lambda up: None,
        prefix: str = PREFIX,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = capacity
        self.refill = refill_per_second
        self._open = failure == "open"
        self._prefix = prefix
        self._ttl_ms = str(math.ceil(capacity / refill_per_second * 1000) + 1000)
        self._args = (str(capacity), repr(float(refill_per_second)), self._ttl_ms)
        self._client = aioredis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry_on_timeout=False
        )
        self._script = self._client.register_script(TAKE)
        self._observer = observer
        self._retry_every = retry_every
        self._clock = clock
        self._down_since: float | None = None
        self._next_try = 0.0
        self._where = url.rsplit("@", 1)[-1]  # no password in logs

    @property
    def up(self) -> bool:
        return self._down_since is None

    async def take(self, key: str) -> RateDecision:
        if self._down_since is not None and self._clock() < self._next_try:
            return self._failed()
        try:
            allowed, remaining, wait = await self._script(keys=[self._prefix + key], args=self._args)
        except (RedisError, OSError) as exc:
            self._outage(exc)
            return self._failed()
        if self._down_since is not None:
            self._down_since = None
            log.info("rate limit: Redis at %s answers again; the shared limit applies", self._where)
            self._observer(True)
        return RateDecision(bool(allowed), int(remaining), int(wait))

    def _failed(self) -> RateDecision:
        if self._open:
            return RateDecision(True, self.capacity - 1)
        return RateDecision(False, 0, max(1, math.ceil(self._retry_every)), unavailable=True)

    def _outage(self, exc: BaseException) -> None:
        now = self._clock()
        self._next_try = now + self._retry_every
        if self._down_since is None:
            self._down_since = now
            what = "letting requests through" if self._open else "refusing requests (503)"
            log.warning(
                "rate limit: Redis at %s unreachable (%s): %s until it answers", self._where, exc, what
            )
            self._observer(False)

    async def aclose(self) -> None:
        await self._client.aclose()
