"""Retries, budget and circuit breaker of the order-service client, without sockets."""

from __future__ import annotations

import asyncio
import random

import pytest

from courier_adapters.grpc.resilience import (
    Backoff,
    BreakerState,
    CircuitBreaker,
    CircuitOpen,
    ResilientCaller,
    RetryPolicy,
)
from tests.unit.grpc.conftest import BreakerMetrics, ManualClock


class Transient(Exception):
    pass


class Permanent(Exception):
    pass


class Answer(Exception):
    """An error that is an answer (like "not found"): no retry, not a breaker failure."""


class Script:
    """A remote call that fails with the scripted errors, then answers ``"ok"``; it may take time."""

    def __init__(self, clock: ManualClock, *errors: Exception, duration: float = 0.0) -> None:
        self.clock = clock
        self.errors = list(errors)
        self.duration = duration
        self.timeouts: list[float] = []

    async def __call__(self, timeout: float) -> str:
        self.timeouts.append(timeout)
        self.clock.now += min(self.duration, timeout)
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def breaker(clock: ManualClock, metrics: BreakerMetrics, *, failures: int = 3) -> CircuitBreaker:
    return CircuitBreaker(target="orders:1", failures=failures, cooldown=10.0, metrics=metrics, clock=clock)


def caller(
    clock: ManualClock,
    metrics: BreakerMetrics,
    *,
    policy: RetryPolicy | None = None,
    cb: CircuitBreaker | None = None,
) -> ResilientCaller:
    return ResilientCaller(
        policy=policy or RetryPolicy(timeout=1.0, budget=3.0, max_attempts=3),
        breaker=cb or breaker(clock, metrics),
        metrics=metrics,
        retryable=lambda exc: isinstance(exc, Transient),
        counts_as_failure=lambda exc: not isinstance(exc, Answer),
        clock=clock,
        sleep=clock.sleep,
    )


async def test_retries_transient_failures_then_succeeds_and_counts_each_retry(clock, metrics):
    remote = Script(clock, Transient(), Transient())
    assert await caller(clock, metrics).call("GetOrderById", remote) == "ok"
    assert len(remote.timeouts) == 3
    assert metrics.retries == {"GetOrderById": 2}


async def test_gives_up_after_max_attempts_with_the_last_error(clock, metrics):
    remote = Script(clock, Transient(), Transient(), Transient("third"))
    with pytest.raises(Transient, match="third"):
        await caller(clock, metrics).call("GetOrders", remote)
    assert len(remote.timeouts) == 3
    assert metrics.retries == {"GetOrders": 2}


@pytest.mark.parametrize("error", [Permanent(), Answer()])
async def test_does_not_retry_errors_that_are_not_transient(clock, metrics, error):
    remote = Script(clock, error)
    with pytest.raises(type(error)):
        await caller(clock, metrics).call("GetOrderById", remote)
    assert len(remote.timeouts) == 1
    assert metrics.retries == {}


async def test_every_attempt_has_a_deadline_and_all_share_the_budget(clock, metrics):
    # Each attempt hangs until its deadline: 1 s + 1 s + what is left of the 2.5 s budget.
    remote = Script(clock, Transient(), Transient(), Transient(), duration=60.0)
    policy = RetryPolicy(timeout=1.0, budget=2.5, max_attempts=5, backoff=Backoff(base=0.1, cap=0.1))
    started = clock.now
    with pytest.raises(Transient):
        await caller(clock, metrics, policy=policy).call("GetOrderById", remote)
    assert remote.timeouts[:2] == [1.0, 1.0]
    assert all(t > 0 for t in remote.timeouts)
    assert clock.now - started <= 2.5 + 1e-9
    assert remote.timeouts[-1] < 1.0


async def test_stops_retrying_when_the_backoff_would_outlast_the_budget(clock, metrics):
    remote = Script(clock, Transient(), Transient(), duration=0.95)
    policy = RetryPolicy(timeout=1.0, budget=1.0, max_attempts=3, backoff=Backoff(base=0.2, cap=0.2))
    with pytest.raises(Transient):
        await caller(clock, metrics, policy=policy).call("GetOrderById", remote)
    assert len(remote.timeouts) <= 2
    assert clock.now - 1000.0 <= 1.0 + 1e-9


def test_backoff_is_capped_exponential_with_full_jitter():
    backoff = Backoff(base=0.1, cap=0.5, rng=random.Random(7))
    for retry in range(10):
        ceiling = min(0.5, 0.1 * 2**retry)
        delays = [backoff.delay(retry) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling / 2  # jittered over the whole range, not a constant


def test_policy_rejects_nonsense():
    with pytest.raises(ValueError):
        RetryPolicy(timeout=0)
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        CircuitBreaker(target="t", failures=0, cooldown=1.0, metrics=BreakerMetrics())


async def test_breaker_opens_after_consecutive_failures_and_then_fails_fast(clock, metrics):
    cb = breaker(clock, metrics, failures=2)
    call = caller(clock, metrics, cb=cb, policy=RetryPolicy(max_attempts=1))
    for _ in range(2):
        with pytest.raises(Permanent):
            await call.call("GetOrderById", Script(clock, Permanent()))
    remote = Script(clock)
    with pytest.raises(CircuitOpen):
        await call.call("GetOrderById", remote)
    assert remote.timeouts == []  # not even tried
    assert cb.state is BreakerState.OPEN
    assert metrics.states == [("orders:1", "closed"), ("orders:1", "open")]


async def test_a_success_resets_the_count_of_consecutive_failures(clock, metrics):
    cb = breaker(clock, metrics, failures=2)
    call = caller(clock, metrics, cb=cb, policy=RetryPolicy(max_attempts=1))
    for _ in range(3):
        with pytest.raises(Permanent):
            await call.call("m", Script(clock, Permanent()))
        assert await call.call("m", Script(clock)) == "ok"
    assert cb.state is BreakerState.CLOSED


async def test_answers_do_not_open_the_breaker(clock, metrics):
    cb = breaker(clock, metrics, failures=1)
    with pytest.raises(Answer):
        await caller(clock, metrics, cb=cb).call("m", Script(clock, Answer()))
    assert cb.state is BreakerState.CLOSED


def test_half_open_lets_exactly_one_probe_through_after_the_cooldown(clock, metrics):
    cb = breaker(clock, metrics, failures=1)
    cb.acquire()
    cb.failed()
    clock.now += 9.9
    with pytest.raises(CircuitOpen):
        cb.acquire()
    clock.now += 0.2
    cb.acquire()  # the probe
    assert cb.state is BreakerState.HALF_OPEN
    with pytest.raises(CircuitOpen):
        cb.acquire()  # a second caller while the probe is out
    cb.succeeded()
    assert cb.state is BreakerState.CLOSED
    cb.acquire()
    assert [s for _, s in metrics.states] == ["closed", "open", "half_open", "closed"]


def test_a_failed_probe_opens_the_breaker_for_another_cooldown(clock, metrics):
    cb = breaker(clock, metrics, failures=3)
    for _ in range(3):
        cb.acquire()
        cb.failed()
    clock.now += 10.0
    cb.acquire()
    cb.failed()
    assert cb.state is BreakerState.OPEN
    clock.now += 5.0
    with pytest.raises(CircuitOpen):
        cb.acquire()
    clock.now += 5.0
    cb.acquire()
    assert cb.state is BreakerState.HALF_OPEN


async def test_a_cancelled_probe_frees_the_probe_slot(clock, metrics):
    cb = breaker(clock, metrics, failures=1)
    cb.acquire()
    cb.failed()
    clock.now += 10.0
    call = caller(clock, metrics, cb=cb)
    started = asyncio.Event()

    async def never_answers(timeout: float) -> str:
        started.set()
        await asyncio.Event().wait()
        return "unreachable"

    probe = asyncio.create_task(call.call("m", never_answers))
    await started.wait()
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe
    assert await call.call("m", Script(clock)) == "ok"
    assert cb.state is BreakerState.CLOSED
