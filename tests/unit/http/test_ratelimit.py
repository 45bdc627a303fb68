"""The token bucket and client keys, with an injected clock (no sockets, no sleeping)."""

from __future__ import annotations

import ipaddress

import pytest

from courier_http.ratelimit import ClientKey, TokenBucketLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_allows_capacity_then_refuses_with_retry_after(clock: FakeClock) -> None:
    limiter = TokenBucketLimiter(capacity=3, refill_per_second=0.5, clock=clock)
    assert [limiter.take("a").remaining for _ in range(3)] == [2, 1, 0]
    refused = limiter.take("a")
    assert (refused.allowed, refused.remaining, refused.retry_after) == (False, 0, 2)


def test_refills_at_the_configured_rate_up_to_capacity(clock: FakeClock) -> None:
    limiter = TokenBucketLimiter(capacity=2, refill_per_second=5, clock=clock)
    limiter.take("a")
    limiter.take("a")
    assert not limiter.take("a").allowed
    clock.now += 0.2  # one token back
    assert limiter.take("a").allowed
    assert not limiter.take("a").allowed
    clock.now += 3600
    assert [limiter.take("a").allowed for _ in range(3)] == [True, True, False]


def test_retry_after_is_whole_seconds_and_at_least_one(clock: FakeClock) -> None:
    limiter = TokenBucketLimiter(capacity=1, refill_per_second=10, clock=clock)
    limiter.take("a")
    assert limiter.take("a").retry_after == 1


def test_clients_have_separate_buckets(clock: FakeClock) -> None:
    limiter = TokenBucketLimiter(capacity=1, refill_per_second=1, clock=clock)
    assert limiter.take("a").allowed
    assert not limiter.take("a").allowed
    assert limiter.take("b").allowed


def test_idle_buckets_are_evicted_once_they_would_be_full_again(clock: FakeClock) -> None:
    limiter = TokenBucketLimiter(capacity=10, refill_per_second=5, clock=clock)
    for client in range(100):
        limiter.take(f"c{client}")
    assert len(limiter) == 100
    clock.now += 2.0  # 10 tokens / 5 per second: every bucket is full again
    limiter.take("newcomer")
    assert len(limiter) == 1


def test_bucket_count_is_capped(clock: FakeClock) -> None:
    limiter = TokenBucketLimiter(capacity=10, refill_per_second=1, clock=clock, max_buckets=50)
    for client in range(500):
        limiter.take(f"c{client}")
    assert len(limiter) == 50


def _scope(peer: str, forwarded: str | None = None) -> dict[str, object]:
    headers = [] if forwarded is None else [(b"x-forwarded-for", forwarded.encode())]
    return {"client": (peer, 5555), "headers": headers}


def test_forwarded_for_is_ignored_from_an_untrusted_peer() -> None:
    key = ClientKey([ipaddress.ip_network("10.0.0.0/8")])
    assert key(_scope("192.0.2.7", "203.0.113.9")) == "192.0.2.7"
    assert ClientKey()(_scope("192.0.2.7", "203.0.113.9")) == "192.0.2.7"


def test_forwarded_for_from_a_trusted_proxy_names_the_first_untrusted_hop() -> None:
    key = ClientKey([ipaddress.ip_network("10.0.0.0/8")])
    assert key(_scope("10.0.0.1", "203.0.113.9")) == "203.0.113.9"
    assert key(_scope("10.0.0.1", "198.51.100.1, 203.0.113.9, 10.0.0.2")) == "203.0.113.9"
    assert key(_scope("10.0.0.1")) == "10.0.0.1"
    assert key(_scope("10.0.0.1", "10.0.0.3")) == "10.0.0.3"
