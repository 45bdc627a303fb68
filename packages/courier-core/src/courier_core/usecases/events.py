"""Applying the order service's events (``shared/spec/events.md``): decode, de-duplicate, dispatch.

Pure: the consumer app feeds raw values in and maps each :class:`Outcome` to an offset commit, a retry
or a dead letter. Every effect of an event, and the record that it was applied, share one transaction,
so a redelivered event changes nothing. The action of each status comes from a factory of handlers
(:func:`default_handlers`): a new status is one new entry, not a new branch.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
import json
import unicodedata
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from courier_core.errors import (
    DeliveryExists,
    DeliveryNotFound,
    DependencyUnavailable,
    InvalidInput,
    OrderFinished,
    OrderNotFound,
)
from courier_core.model import (
    CANCELLED_ORDER_STATUSES,
    COMPLETED_ORDER_STATUSES,
    RESERVED_ORDER_IDS,
    KnownOrder,
    is_finished_status,
    validate_order_id,
)
from courier_core.ports import Metrics, OrderGateway, UnitOfWork, UnitOfWorkFactory
from courier_core.usecases import journal
from courier_core.usecases.dispatch import AssignOrder, DeliveryService
from courier_core.usecases.waiting import WaitingSweeper as WaitingSweeper  # where it was

MAX_STATUS_LENGTH = 32  # the width of the known-status column
KNOWN_STATUSES = frozenset(
    {"created", "pending", "confirmed", "cooking", "delivering", "delivered", "canceled", "cancelled"}
    | {"deleted", "updated", "completed"}
)


class InvalidEvent(InvalidInput):
    """A value that can never be applied (a poison message); ``message`` says what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message)


class Outcome(enum.StrEnum):
    """What applying one event did (the ``result`` label of ``courier_kafka_messages_total``)."""

    APPLIED = "applied"  # its effect is done (including "already done" outcomes)
    DUPLICATE = "duplicate"  # the same event was applied before: nothing changed
    IGNORED = "ignored"  # nothing to do: the order is finished, or unknown to the order service
    DEFERRED = "deferred"  # the order service does not know the order yet: ask again later


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """One validated order event; ``status`` is lower-cased."""

    order_id: str
    status: str
    occurred_at: datetime

    @property
    def key(self) -> bytes:
        """The event's identity: sha256 of its canonical value (never its offset)."""
        canonical = json.dumps(
            [self.order_id, self.status, self.occurred_at.astimezone(UTC).isoformat()],
            ensure_ascii=False,
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode()).digest()


def decode_event(value: bytes | None, *, broker_time: datetime | None = None) -> OrderEvent:
    """Validate a raw value; raise :class:`InvalidEvent` saying what is wrong, and nothing else.

    ``broker_time`` (the record's timestamp) stands in for a missing ``created_at``.
    """
    try:
        data = json.loads(value) if value is not None else None
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        raise InvalidEvent("value", "value is not valid JSON") from None
    if not isinstance(data, dict):
        raise InvalidEvent("value", "value is not a JSON object")
    if "order_id" not in data:
        raise InvalidEvent("order_id", "order_id is missing")
    try:
        order_id = validate_order_id(data["order_id"])
    except InvalidInput:
        raise InvalidEvent("order_id", "order_id must be a string of 1-255 characters") from None
    if order_id in RESERVED_ORDER_IDS:  # never assigned (model.validate_new_order_id): poison, said so
        raise InvalidEvent("order_id", f"order_id {order_id!r} is reserved (a path of the HTTP API)")
    return OrderEvent(order_id=order_id, status=_status(data), occurred_at=_occurred_at(data, broker_time))


def _status(data: Mapping[str, object]) -> str:
    status = data.get("status")
    if status is None:
        raise InvalidEvent("status", "status is missing")
    # Measured once lower-cased: "İ".lower() is two characters.
    label = status.strip().lower() if isinstance(status, str) else ""
    if (
        not label
        or len(label) > MAX_STATUS_LENGTH
        or any(unicodedata.category(c) in ("Cc", "Cs") for c in label)
    ):
        raise InvalidEvent(
            "status", f"status must be a string of 1-{MAX_STATUS_LENGTH} characters, no control characters"
        )
    return label


def _occurred_at(data: Mapping[str, object], broker_time: datetime | None) -> datetime:
    raw = data.get("created_at")
    if raw is None:
        if broker_time is None:
            raise InvalidEvent("created_at", "created_at is missing and the record has no timestamp")
        return broker_time.astimezone(UTC)
    if not isinstance(raw, str):
        raise InvalidEvent("created_at", "created_at must be an RFC 3339 string")
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidEvent("created_at", f"created_at {raw[:64]!r} is not an RFC 3339 time") from None
    if parsed.tzinfo is None:
        raise InvalidEvent("created_at", "created_at has no time zone offset")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before the first UTC instant datetime has
        raise InvalidEvent("created_at", f"created_at {raw[:64]!r} is out of range") from None


class Verdict(enum.Enum):
    """What the order service says about an order before it is assigned."""

    PROCEED = "proceed"
    FINISHED = "finished"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Verification:
    verdict: Verdict
    known: KnownOrder | None = None  # the order service's status, when it has one


PROCEED = Verification(Verdict.PROCEED)


class OrderVerifier:
    """Asks the order service about an order before it is assigned (availability over strictness).

    Unavailable past the gateway's budget → proceed on the event alone, counted as skipped.
    """

    def __init__(self, gateway: OrderGateway | None, *, metrics: Metrics) -> None:
        self._gateway = gateway
        self._metrics = metrics

    async def verify(self, event: OrderEvent) -> Verification:
        if self._gateway is None or event.status != "created":
            return PROCEED
        try:
            info = await self._gateway.get_order(event.order_id)
        except OrderNotFound:
            return Verification(Verdict.UNKNOWN)
        except DependencyUnavailable:
            self._metrics.order_verification_skipped()
            return PROCEED
        status = info.status.strip().lower()
        if not is_finished_status(status):
            return PROCEED
        at = info.updated_at or event.occurred_at
        return Verification(Verdict.FINISHED, KnownOrder(event.order_id, status, at.astimezone(UTC)))


Handler = Callable[[UnitOfWork, OrderEvent], Awaitable[Outcome]]


def default_handlers(deliveries: DeliveryService) -> dict[str, Handler]:
    """The spec's status → action table. Statuses not listed only update the known status."""

    async def assign(uow: UnitOfWork, event: OrderEvent) -> Outcome:
        try:
            await deliveries.assign_in(uow, AssignOrder(event.order_id, wait=True))
        except OrderFinished:
            return Outcome.IGNORED
        except DeliveryExists:
            return Outcome.APPLIED  # already done
        return Outcome.APPLIED

    async def cancel(uow: UnitOfWork, event: OrderEvent) -> Outcome:
        if await uow.waiting.remove(event.order_id):
            await journal.order_left_queue(uow, event.order_id, "cancelled")
        with contextlib.suppress(DeliveryNotFound):  # nothing active to undo: already done
            await deliveries.unassign_in(uow, event.order_id)
        return Outcome.APPLIED

    async def complete(uow: UnitOfWork, event: OrderEvent) -> Outcome:
        await uow.waiting.remove(event.order_id)
        with contextlib.suppress(DeliveryNotFound):  # never assigned: nothing to complete
            await deliveries.complete_in(uow, event.order_id)
        return Outcome.APPLIED

    handlers: dict[str, Handler] = {"created": assign}
    handlers.update(dict.fromkeys(CANCELLED_ORDER_STATUSES, cancel))
    handlers.update(dict.fromkeys(COMPLETED_ORDER_STATUSES, complete))
    return handlers


async def _record_only(uow: UnitOfWork, event: OrderEvent) -> Outcome:
    return Outcome.APPLIED


class OrderEventService:
    """Applies order events exactly once in effect: alone, or a batch in one transaction."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        handlers: Mapping[str, Handler],
        verifier: OrderVerifier,
    ) -> None:
        self._uow = uow
        self._handlers = dict(handlers)
        self._verifier = verifier

    async def apply(self, event: OrderEvent) -> Outcome:
        """Apply one event in its own transaction."""
        (outcome,) = await self.apply_batch([event])
        return outcome

    async def apply_batch(self, events: Sequence[OrderEvent]) -> list[Outcome]:
        """Verify, then apply ``events`` in order in ONE transaction; all or nothing.

        The batch's keys are recorded first, in one statement; then each new event takes effect in
        order. Raises whatever a step raises (``DependencyUnavailable`` for the database): then
        nothing of the batch is applied.
        """
        verifications = await asyncio.gather(*(self._verifier.verify(e) for e in events))
        async with self._uow() as uow:
            known = [
                e.key for e, v in zip(events, verifications, strict=True) if v.verdict is not Verdict.UNKNOWN
            ]
            fresh = await uow.processed.add_many(known)
            outcomes = []
            for event, verification in zip(events, verifications, strict=True):
                if verification.verdict is Verdict.UNKNOWN:
                    outcomes.append(Outcome.DEFERRED)  # not recorded: applied once the order service knows it
                elif event.key in fresh:
                    fresh.discard(event.key)  # the same key again in this batch is a redelivery
                    outcomes.append(await self._take_effect(uow, event, verification))
                else:
                    outcomes.append(Outcome.DUPLICATE)
            await uow.commit()
        return outcomes

    async def apply_in(
        self, uow: UnitOfWork, event: OrderEvent, verification: Verification = PROCEED
    ) -> Outcome:
        """Apply one event inside ``uow``: record it, update the known status, run its handler."""
        if verification.verdict is Verdict.UNKNOWN:
            return Outcome.DEFERRED  # not recorded: it is applied when the order service knows it
        if not await uow.processed.add(event.key):
            return Outcome.DUPLICATE
        return await self._take_effect(uow, event, verification)

    async def _take_effect(self, uow: UnitOfWork, event: OrderEvent, verification: Verification) -> Outcome:
        # The known status goes out with the handler's first statement: no round trip of its own.
        await uow.orders.note(KnownOrder(event.order_id, event.status, event.occurred_at))
        if verification.known is not None:
            await uow.orders.note(verification.known)
        handler = self._handlers.get(event.status, _record_only)
        return await handler(uow, event)


def status_label(status: str) -> str:
    """``status`` as a metric label: one of the spec's statuses, else ``other`` (bounded cardinality)."""
    return status if status in KNOWN_STATUSES else "other"
