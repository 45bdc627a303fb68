"""How long and how hard each case runs: the full benchmark and the smoke run CI uses."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any


@dataclass(frozen=True)
class Plan:
    """Sizes and durations of every case (seconds, counts)."""

    smoke: bool = False
    couriers: int = 100_000
    workers: tuple[int, ...] = (1, 2)
    connections: int = 64
    duration: float = 10.0
    warmup: float = 2.0
    profile_duration: float = 6.0
    scale_small: int = 1_000
    scale_large: int = 1_000_000
    scale_connections: int = 8
    scale_duration: float = 8.0
    page_duration: float = 4.0
    soak_requests: int = 1_000_000
    soak_round: float = 30.0
    soak_budget: float = 480.0
    events: int = 20_000
    events_partitions: int = 4
    events_budget: float = 120.0
    scale_out_processes: tuple[int, ...] = (1, 2, 3)
    scale_out_limiter_processes: tuple[int, ...] = (1, 3)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


FULL = Plan()
SMOKE = replace(
    FULL,
    smoke=True,
    workers=(2,),  # one pass is enough to prove the harness (and exercises worker discovery)
    couriers=20_000,
    duration=1.0,
    warmup=0.0,
    profile_duration=1.0,
    scale_large=20_000,
    scale_duration=1.0,
    page_duration=1.0,
    soak_requests=2_000,
    soak_round=1.0,
    soak_budget=10.0,
    events=300,
    events_budget=40.0,
)
