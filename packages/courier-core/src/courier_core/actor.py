"""Who is acting: the name history records with each change.

Each app says who it is once (``acting_as("cli")``; the HTTP app per request, with the token's name
when tokens are on); the use cases read it when they record a change. A context variable, so that
concurrent requests on one event loop each keep their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

SYSTEM = "system"
MAX_ACTOR_LENGTH = 120

_actor: ContextVar[str] = ContextVar("courier_actor", default=SYSTEM)


def current_actor() -> str:
    return _actor.get()


@contextmanager
def acting_as(actor: str) -> Iterator[None]:
    """Changes made inside the block are recorded as ``actor``'s."""
    token = _actor.set(actor[:MAX_ACTOR_LENGTH] or SYSTEM)
    try:
        yield
    finally:
        _actor.reset(token)


def set_actor(actor: str) -> None:
    """Set the actor for the rest of the current context (a process's main task, say)."""
    _actor.set(actor[:MAX_ACTOR_LENGTH] or SYSTEM)
