"""Retries and a circuit breaker for calls to a remote service: the one place they live.

:class:`ResilientCaller` wraps one remote call (a gRPC stub method, given the per-attempt timeout) with:

- a deadline on every attempt (``timeout``) and a total ``budget`` per call that attempts and back-off
  sleeps share, so a call never outlives its budget;
- retries on transient failures only (the ``retryable`` predicate), with capped exponential back-off and
  full jitter, each counted through the ``Metrics`` port;
- a :class:`CircuitBreaker` that fails fast while the service is known to be dead.

Nothing here knows gRPC: the gateway supplies the predicates, so this module is tested without sockets.
"""

from __future__ import annotations

import asyncio
import enum
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from courier_core.ports import Metrics

T = TypeVar("T")


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitOpen(Exception):
    """The breaker refused the call: the service failed too often and the cool-down is not over."""


class CircuitBreaker:
    """Opens after ``failures`` consecutive failed calls; after ``cooldown`` seconds lets one probe through.

    A successful probe closes it, a failed one opens it for another cool-down. State changes are reported
    as ``breaker_state(target, state)``. Single event loop: no locking needed.
    """

    def __init__(
        self,
        *,
        target: str,
        failures: int,
        cooldown: float,
        metrics: Metrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failures < 1 or cooldown <= 0:
            raise ValueError("the breaker needs failures >= 1 and a positive cooldown")
        self._target = target
        self._threshold = failures
        self._cooldown = cooldown
        self._metrics = metrics
        self._clock = clock
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False
        self.state = BreakerState.CLOSED
        metrics.breaker_state(target, self.state.value)

    def acquire(self) -> None:
        """Let a call through, or raise :class:`CircuitOpen`."""
        if self.state is BreakerState.CLOSED:
            return
        if self.state is BreakerState.OPEN and self._clock() - self._opened_at >= self._cooldown:
            self._move(BreakerState.HALF_OPEN)
        if self.state is BreakerState.HALF_OPEN and not self._probing:
            self._probing = True
            return
        raise CircuitOpen(f"circuit to {self._target} is {self.state.value}")

    def succeeded(self) -> None:
        self._failures = 0
        self._probing = False
        if self.state is not BreakerState.CLOSED:
            self._move(BreakerState.CLOSED)

    def failed(self) -> None:
        self._failures += 1
        was_probe, self._probing = self._probing, False
        if was_probe or self._failures >= self._threshold:
            self._opened_at = self._clock()
            self._move(BreakerState.OPEN)

    def abandoned(self) -> None:
        """The call ended without a verdict (cancelled): a probe slot it held is free again."""
        self._probing = False

    def _move(self, state: BreakerState) -> None:
        if state is not self.state:
            self.state = state
            self._metrics.breaker_state(self._target, state.value)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Capped exponential back-off with full jitter: attempt ``n`` sleeps ``U(0, min(cap, base*2^n))``."""

    base: float = 0.05
    cap: float = 1.0
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def delay(self, retry: int) -> float:
        return self.rng.uniform(0.0, min(self.cap, self.base * 2**retry))


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How one logical call is attempted: per-attempt ``timeout``, total ``budget``, ``max_attempts``."""

    timeout: float = 1.0
    budget: float = 3.0
    max_attempts: int = 3
    backoff: Backoff = field(default_factory=Backoff)
    # Below this much budget left, another attempt could not do useful work.
    min_attempt: float = 0.005

    def __post_init__(self) -> None:
        if self.timeout <= 0 or self.budget <= 0 or self.max_attempts < 1:
            raise ValueError("timeout and budget must be positive and max_attempts at least 1")


class ResilientCaller:
    """Runs remote calls under one :class:`RetryPolicy` and one :class:`CircuitBreaker`.

    ``retryable(exc)`` says which failures are transient (retried); ``counts_as_failure(exc)`` which
    ones tell the breaker that the service is unwell (an answer such as "not found" does not).
    """

    def __init__(
        self,
        *,
        policy: RetryPolicy,
        breaker: CircuitBreaker,
        metrics: Metrics,
        retryable: Callable[[BaseException], bool],
        counts_as_failure: Callable[[BaseException], bool],
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._policy = policy
        self._breaker = breaker
        self._metrics = metrics
        self._retryable = retryable
        self._counts_as_failure = counts_as_failure
        self._clock = clock
        self._sleep = sleep

    async def call(self, method: str, attempt: Callable[[float], Awaitable[T]]) -> T:
        """Run ``attempt(timeout)`` until it succeeds, fails for good, or the budget is spent.

        Raises :class:`CircuitOpen` without calling when the breaker is open, else the last error.
        """
        self._breaker.acquire()
        try:
            result = await self._attempts(method, attempt)
        except Exception as exc:
            if self._counts_as_failure(exc):
                self._breaker.failed()
            else:
                self._breaker.succeeded()
            raise
        except BaseException:  # cancelled by the caller: no verdict on the service
            self._breaker.abandoned()
            raise
        self._breaker.succeeded()
        return result

    async def _attempts(self, method: str, attempt: Callable[[float], Awaitable[T]]) -> T:
        policy = self._policy
        deadline = self._clock() + policy.budget
        for number in range(policy.max_attempts):
            try:
                return await attempt(min(policy.timeout, deadline - self._clock()))
            except Exception as exc:
                delay = policy.backoff.delay(number)
                last = number == policy.max_attempts - 1
                if last or not self._retryable(exc) or deadline - self._clock() - delay < policy.min_attempt:
                    raise
            self._metrics.gateway_retry(method)
            await self._sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")
