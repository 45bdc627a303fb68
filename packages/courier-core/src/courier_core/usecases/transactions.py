"""Running a use case's work in one transaction, again when the database reports contention."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from courier_core.errors import Contention
from courier_core.ports import UnitOfWork, UnitOfWorkFactory

T = TypeVar("T")
ATTEMPTS = 3


async def in_transaction(uow: UnitOfWorkFactory, work: Callable[[UnitOfWork], Awaitable[T]]) -> T:
    """Run ``work`` in a new transaction and commit; retry on :class:`Contention` (nothing was
    written then), up to three attempts in all."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            async with uow() as unit:
                result = await work(unit)
                await unit.commit()
                return result
        except Contention:
            if attempt == ATTEMPTS:
                raise
    raise AssertionError("unreachable")  # pragma: no cover
