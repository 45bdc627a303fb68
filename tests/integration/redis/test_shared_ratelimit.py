"""The shared rate limit on a real Redis: the in-process bucket's semantics, one bucket for every
process, and an outage that lets requests through (or refuses them) without a word per request."""

from __future__ import annotations

import asyncio
import logging

import pytest

from courier_adapters.redis import RedisTokenBucket
from courier_http.ratelimit import TokenBucketLimiter
from tests.support.redis import own_redis

pytestmark = pytest.mark.integration


def bucket(url: str, **options: object) -> RedisTokenBucket:
    settings: dict[str, object] = {"capacity": 3, "refill_per_second": 0.5}
    settings.update(options)
    return RedisTokenBucket(url, **settings)  # type: ignore[arg-type]


async def test_the_shared_bucket_decides_as_the_in_process_one(redis_url: str) -> None:
    shared = bucket(redis_url)
    local = TokenBucketLimiter(capacity=3, refill_per_second=0.5)
    try:
        for _ in range(5):
            ours, theirs = await shared.take("198.51.100.7"), local.take("198.51.100.7")
            assert (ours.allowed, ours.remaining, ours.retry_after) == (
                theirs.allowed,
                theirs.remaining,
                theirs.retry_after,
            )
        assert not (await shared.take("198.51.100.7")).allowed
        assert (await shared.take("198.51.100.8")).allowed  # another client, another bucket
        await asyncio.sleep(2.1)  # 0.5 tokens a second: one back
        assert (await shared.take("198.51.100.7")).allowed
        assert not (await shared.take("198.51.100.7")).allowed
    finally:
        await shared.aclose()


async def test_every_process_spends_the_same_bucket(redis_url: str) -> None:
    replicas = [bucket(redis_url) for _ in range(3)]
    try:
        answers = [await replicas[i % 3].take("203.0.113.5") for i in range(6)]
        assert [a.allowed for a in answers] == [True, True, True, False, False, False]
        assert [a.remaining for a in answers[:3]] == [2, 1, 0]
        assert all(a.retry_after >= 1 for a in answers[3:])
    finally:
        for replica in replicas:
            await replica.aclose()


async def test_a_bucket_expires_once_it_would_be_full_again(redis_url: str) -> None:
    import redis.asyncio as aioredis

    shared = bucket(redis_url, capacity=2, refill_per_second=1.0)
    client = aioredis.Redis.from_url(redis_url)
    try:
        await shared.take("192.0.2.1")
        ttl = await client.pttl("courier:ratelimit:192.0.2.1")
        assert 2000 < ttl <= 3000  # full after 2 s, with a second to spare
    finally:
        await shared.aclose()
        await client.aclose()


@pytest.mark.parametrize("failure", ["open", "closed"])
async def test_an_outage_is_reported_once_and_the_limit_comes_back(
    failure: str, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[bool] = []
    with own_redis() as server:
        shared = bucket(server.url, failure=failure, observer=seen.append, retry_every=0.2)
        try:
            assert (await shared.take("k")).allowed
            server.stop()
            with caplog.at_level(logging.INFO, logger="courier.ratelimit"):
                during = [await shared.take("k") for _ in range(50)]
                if failure == "open":
                    assert all(d.allowed for d in during)
                else:
                    assert not any(d.allowed for d in during)
                    assert all(d.unavailable for d in during)
                assert seen == [False]
                server.start()
                await asyncio.sleep(0.3)
                after = [await shared.take("k") for _ in range(4)]
            assert seen == [False, True]
            # a new server holds no bucket: a full one, then the limit applies again
            assert [a.allowed for a in after] == [True, True, True, False]
            lines = [r for r in caplog.records if r.name == "courier.ratelimit"]
            assert len(lines) == 2, [r.getMessage() for r in lines]
            assert "unreachable" in lines[0].getMessage() and "answers again" in lines[1].getMessage()
        finally:
            await shared.aclose()


async def test_a_password_in_the_url_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    shared = bucket("redis://:hunter2@127.0.0.1:9/0")  # nothing listens on port 9
    try:
        with caplog.at_level(logging.INFO, logger="courier.ratelimit"):
            assert (await shared.take("k")).allowed
        assert "hunter2" not in caplog.text and "127.0.0.1:9" in caplog.text
    finally:
        await shared.aclose()
