"""Redis adapters: the rate limit every process and replica shares."""

from courier_adapters.redis.ratelimit import RateDecision, RedisTokenBucket

__all__ = ["RateDecision", "RedisTokenBucket"]
