"""Failures the simulator can be told to show, so clients' retries, deadlines and breakers get tested."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class FaultMode(enum.StrEnum):
    NONE = "none"
    UNAVAILABLE = "unavailable"  # answer UNAVAILABLE at once
    HANG = "hang"  # never answer: the client's deadline must end the call
    RESOURCE_EXHAUSTED = "resource_exhausted"


@dataclass(slots=True)
class Faults:
    """The current fault: ``mode`` for the next ``remaining`` calls (``None``: until healed)."""

    mode: FaultMode = FaultMode.NONE
    remaining: int | None = None

    def inject(self, mode: FaultMode | str, *, count: int | None = None) -> None:
        if count is not None and count < 0:
            raise ValueError("count must not be negative")
        self.mode = FaultMode(mode)
        self.remaining = count

    def heal(self) -> None:
        self.inject(FaultMode.NONE)

    def take(self) -> FaultMode:
        """The fault the call in hand must show (consuming one of ``remaining``)."""
        if self.mode is FaultMode.NONE:
            return FaultMode.NONE
        if self.remaining is None:
            return self.mode
        if self.remaining == 0:
            self.heal()
            return FaultMode.NONE
        self.remaining -= 1
        return self.mode

    def describe(self) -> dict[str, object]:
        return {"mode": self.mode.value, "remaining": self.remaining}
