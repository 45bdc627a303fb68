"""Fixtures for the gRPC client's pure parts: a hand-driven clock and metrics that remember."""

from __future__ import annotations

import pytest

from courier_core.testing import RecordingMetrics


class ManualClock:
    """A monotonic clock that only moves when told to (``sleep`` moves it too)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class BreakerMetrics(RecordingMetrics):
    """Also remembers every breaker state reported, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.states: list[tuple[str, str]] = []

    def breaker_state(self, target: str, state: str) -> None:
        self.states.append((target, state))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def metrics() -> BreakerMetrics:
    return BreakerMetrics()
