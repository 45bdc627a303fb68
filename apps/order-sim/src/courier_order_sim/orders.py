"""The simulator's orders, in memory, and how their status moves on like the real service's.

``created`` → ``pending`` → ``confirmed`` → ``cooking`` → ``delivering`` → ``completed``; at any step
before the last an order may instead be ``canceled`` or ``deleted`` (both terminal). Randomness comes
from a seeded ``random.Random`` and time from an injected clock, so a run is reproducible.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

PROGRESSION = ("created", "pending", "confirmed", "cooking", "delivering", "completed")
TERMINAL = frozenset({"completed", "delivered", "canceled", "deleted"})
# Every status the real service emits (events.md), so tests can drive an order through any of them.
STATUSES = frozenset(PROGRESSION) | TERMINAL | {"updated"}
_NAMES = ("Ivan Petrov", "Anna Smirnova", "Oleg Ivanov", "Maria Popova", "Pavel Orlov")
_DISHES = (("pizza", 650), ("ramen", 480), ("salad", 320), ("burger", 410), ("tea", 90))
_STREETS = ("Tverskaya", "Arbat", "Lenina", "Pushkina", "Sadovaya")


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Item:
    name: str
    price: int
    quantity: int


@dataclass(slots=True)
class SimOrder:
    """One order as the simulator serves it (the fields of ``orders.v1.Order``)."""

    id: str
    status: str
    created_at: datetime
    updated_at: datetime
    user_id: str = ""
    order_number: str = ""
    fio: str = ""
    restaurant_id: str = ""
    items: list[Item] = field(default_factory=list)
    street: str = ""
    house: str = ""
    estimated_delivery: datetime | None = None

    @property
    def total_price(self) -> int:
        return sum(item.price * item.quantity for item in self.items)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL


class OrderBook:
    """Every order the simulator knows, by id; ``step()`` moves each unfinished one on by one status."""

    def __init__(
        self,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], datetime] = utc_now,
        cancel_probability: float = 0.05,
        delete_probability: float = 0.02,
    ) -> None:
        self._rng = rng or random.Random()  # noqa: S311 - simulated data, not secrets
        self._clock = clock
        self._cancel = cancel_probability
        self._delete = delete_probability
        self._orders: dict[str, SimOrder] = {}
        self._numbers = 0

    def __len__(self) -> int:
        return len(self._orders)

    def create(
        self, *, order_id: str | None = None, status: str = "created", created_at: datetime | None = None
    ) -> SimOrder:
        """A new order with random contents; ``order_id`` defaults to a (seeded) UUID and must be new."""
        _check_status(status)
        if order_id is not None and order_id in self._orders:
            raise ValueError(f"order {order_id!r} exists already")
        now = self._clock()
        self._numbers += 1
        order = SimOrder(
            id=order_id or str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
            status=status,
            created_at=created_at or now,
            updated_at=now,
            user_id=str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
            order_number=f"{self._numbers:06d}",
            fio=self._rng.choice(_NAMES),
            restaurant_id=f"restaurant-{self._rng.randint(1, 20)}",
            items=[Item(n, p, self._rng.randint(1, 3)) for n, p in self._rng.sample(_DISHES, 2)],
            street=self._rng.choice(_STREETS),
            house=str(self._rng.randint(1, 99)),
            estimated_delivery=now + timedelta(minutes=self._rng.randint(20, 60)),
        )
        self._orders[order.id] = order
        return order

    def get(self, order_id: str) -> SimOrder | None:
        return self._orders.get(order_id)

    def all(self) -> list[SimOrder]:
        return list(self._orders.values())

    def created_since(self, since: datetime | None) -> list[SimOrder]:
        return [o for o in self._orders.values() if since is None or o.created_at >= since]

    def set_status(self, order_id: str, status: str) -> SimOrder:
        """Move ``order_id`` to ``status`` (any known status: tests drive orders by hand)."""
        _check_status(status)
        order = self._orders[order_id]
        order.status = status
        order.updated_at = self._clock()
        return order

    def step(self) -> list[SimOrder]:
        """Advance every unfinished order by one status; return those that changed."""
        return [self.set_status(o.id, self._next_status(o.status)) for o in self._unfinished()]

    def _unfinished(self) -> Iterable[SimOrder]:
        return [o for o in self._orders.values() if not o.is_terminal]

    def _next_status(self, status: str) -> str:
        roll = self._rng.random()
        if roll < self._cancel:
            return "canceled"
        if roll < self._cancel + self._delete:
            return "deleted"
        position = PROGRESSION.index(status) if status in PROGRESSION else 0
        return PROGRESSION[min(position + 1, len(PROGRESSION) - 1)]


def _check_status(status: str) -> None:
    if status not in STATUSES:
        raise ValueError(f"unknown order status {status!r}; known: {', '.join(sorted(STATUSES))}")
