"""Port-call timing: decorators that wrap any implementation of a port (the Decorator pattern).

``TimedPort(repository, port="couriers", metrics=metrics)`` behaves like ``repository`` and reports the
duration of every coroutine method call through core's ``Metrics.port_call``. The adapter itself never
knows it is measured.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from courier_core.ports import Metrics

P = ParamSpec("P")
R = TypeVar("R")


def timed(
    metrics: Metrics, port: str, method: str
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Decorate one coroutine function: its duration (success or failure) goes to ``metrics``."""

    def decorate(func: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @functools.wraps(func)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            started = time.perf_counter()
            try:
                return await func(*args, **kwargs)
            finally:
                metrics.port_call(port, method, time.perf_counter() - started)

        return wrapper

    return decorate


class TimedPort:
    """Wraps every coroutine method of ``inner`` with :func:`timed`; other attributes pass through."""

    def __init__(self, inner: Any, *, port: str, metrics: Metrics) -> None:
        self._inner = inner
        self._port = port
        self._metrics = metrics

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if not inspect.iscoroutinefunction(attribute):
            return attribute
        metrics, port = self._metrics, self._port

        # No functools.wraps: a unit of work wraps its repositories anew in every transaction.
        async def call(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await attribute(*args, **kwargs)
            finally:
                metrics.port_call(port, name, time.perf_counter() - started)

        # Cached on the instance: later lookups skip __getattr__ and the wrapping.
        setattr(self, name, call)
        return call

    def __repr__(self) -> str:
        return f"TimedPort({self._inner!r}, port={self._port!r})"


class TimedUnitOfWork:
    """A unit of work whose repositories (and commit/rollback) report their call durations."""

    _REPOSITORIES = ("couriers", "deliveries", "orders", "waiting", "processed", "cursors")

    def __init__(self, inner: Any, *, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def __aenter__(self) -> TimedUnitOfWork:
        started = time.perf_counter()
        await self._inner.__aenter__()
        self._metrics.port_call("uow", "begin", time.perf_counter() - started)
        for name in self._REPOSITORIES:
            setattr(self, name, TimedPort(getattr(self._inner, name), port=name, metrics=self._metrics))
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self._inner.__aexit__(*exc)

    async def commit(self) -> None:
        await timed(self._metrics, "uow", "commit")(self._inner.commit)()

    async def rollback(self) -> None:
        await timed(self._metrics, "uow", "rollback")(self._inner.rollback)()

    async def now(self) -> Any:
        return await self._inner.now()


class TimedUnitOfWorkFactory:
    """Makes :class:`TimedUnitOfWork` s around the units of work of ``inner``."""

    def __init__(self, inner: Any, *, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics

    def __call__(self) -> TimedUnitOfWork:
        return TimedUnitOfWork(self._inner(), metrics=self._metrics)
