"""What the consumer does with one poll's records: dead-letter poison, apply the rest, say what is done.

Runs in a consumer thread; database work goes to the event loop through :class:`LoopBridge`. A poll is
applied in one transaction (the fast path). When that fails for an unexpected reason, the records are
applied one at a time so the culprit is found: it is retried (its partition stopped there) and
dead-lettered after ``max_attempts`` failures. A dependency outage stops every partition of the poll at
its first record; nothing is committed that was not applied or dead-lettered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from courier_adapters.kafka.dead_letters import DeadLetter
from courier_adapters.logs import bind
from courier_consumer.deferred import DeferredOrders
from courier_consumer.telemetry import ConsumerMetrics
from courier_core.errors import DependencyUnavailable
from courier_core.usecases.events import InvalidEvent, OrderEvent, OrderEventService, Outcome, decode_event

log = logging.getLogger("courier.consumer")
T = TypeVar("T")
Position = tuple[str, int, int]  # topic, partition, offset


class Record(Protocol):
    """What courier reads of a Kafka record (kafka-python's ``ConsumerRecord`` has it)."""

    topic: str
    partition: int
    offset: int
    value: bytes | None
    timestamp: int


class DeadLetters(Protocol):
    """Where dead letters go (``KafkaDeadLetters``); ``send`` raises ``DependencyUnavailable``."""

    topic: str

    def send(self, letter: DeadLetter) -> None: ...


class LoopBridge:
    """Runs coroutines on the event loop that owns the database pool, from a consumer thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, timeout: float) -> None:
        self._loop = loop
        self._timeout = timeout

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(self._timeout)
        except TimeoutError as exc:
            future.cancel()
            raise DependencyUnavailable("applying the events took too long") from exc


@dataclass(frozen=True, slots=True)
class PartitionResult:
    """``done_until``: the offset to commit (``None``: nothing new); ``stopped_at``: retry from here."""

    done_until: int | None
    stopped_at: int | None = None
    transient: bool = True


Decoded = tuple[Record, OrderEvent | InvalidEvent]


class BatchProcessor:
    """Applies polls of records; one per consumer thread (it keeps per-record attempt counts)."""

    def __init__(
        self,
        *,
        bridge: LoopBridge,
        service: OrderEventService,
        deferred: DeferredOrders,
        dead_letters: DeadLetters,
        metrics: ConsumerMetrics,
        max_attempts: int,
    ) -> None:
        self._bridge = bridge
        self._service = service
        self._deferred = deferred
        self._dead_letters = dead_letters
        self._metrics = metrics
        self._max_attempts = max_attempts
        self._attempts: dict[Position, int] = {}
        self._dead_lettered: set[Position] = set()

    def forget(self, topic: str, partition: int) -> None:
        """The partition was revoked: its retry state belongs to its next owner now."""
        self._attempts = {k: v for k, v in self._attempts.items() if k[:2] != (topic, partition)}
        self._dead_lettered = {k for k in self._dead_lettered if k[:2] != (topic, partition)}

    def process(self, batch: Mapping[Any, Sequence[Record]]) -> dict[Any, PartitionResult]:
        items = {tp: [(r, _decode(r)) for r in records] for tp, records in batch.items() if records}
        try:
            self._apply_all(items)
        except DependencyUnavailable as exc:
            log.warning("dependency unavailable, will retry: %s", exc, extra={"dependency": exc.dependency})
            for pairs in items.values():
                self._metrics.message(_status(pairs[0][1]), "retried")
            return {tp: PartitionResult(None, pairs[0][0].offset) for tp, pairs in items.items()}
        except Exception:
            log.exception("applying a poll in one transaction failed; applying its records one by one")
            return {tp: self._one_by_one(pairs) for tp, pairs in items.items()}
        return {tp: PartitionResult(pairs[-1][0].offset + 1) for tp, pairs in items.items()}

    def _apply_all(self, items: Mapping[Any, list[Decoded]]) -> None:
        events: list[tuple[Record, OrderEvent]] = []
        for pairs in items.values():
            for record, decoded in pairs:
                if isinstance(decoded, InvalidEvent):
                    self._dead_letter(record, decoded.message, status="invalid")
                else:
                    events.append((record, decoded))
        if not events:
            return
        outcomes = self._bridge.run(self._apply([e for _, e in events]))
        for (record, event), outcome in zip(events, outcomes, strict=True):
            self._report(record, event, outcome)
        for record, _ in events:
            self._attempts.pop(_position(record), None)

    async def _apply(self, events: Sequence[OrderEvent]) -> list[Outcome]:
        outcomes = await self._service.apply_batch(events)
        for event, outcome in zip(events, outcomes, strict=True):
            if outcome is Outcome.DEFERRED:
                self._deferred.add(event)
        return outcomes

    def _one_by_one(self, pairs: list[Decoded]) -> PartitionResult:
        done: int | None = None
        for record, decoded in pairs:
            try:
                self._apply_all({None: [(record, decoded)]})
            except DependencyUnavailable as exc:
                log.warning("dependency unavailable, will retry: %s", exc)
                self._metrics.message(_status(decoded), "retried")
                return PartitionResult(done, record.offset)
            except Exception as exc:
                if not self._failed(record, decoded, exc):
                    return PartitionResult(done, record.offset, transient=False)
            done = record.offset + 1
        return PartitionResult(done)

    def _failed(self, record: Record, decoded: OrderEvent | InvalidEvent, exc: Exception) -> bool:
        """Count an unexpected failure; dead-letter at the limit. Return whether the record is done."""
        position = _position(record)
        attempts = self._attempts.get(position, 0) + 1
        with bind(partition=record.partition, offset=record.offset):
            log.error("order event failed (attempt %d of %d)", attempts, self._max_attempts, exc_info=exc)
        if attempts < self._max_attempts:
            self._attempts[position] = attempts
            self._metrics.message(_status(decoded), "retried")
            return False
        try:
            self._dead_letter(record, f"failed {attempts} times: {exc!r}", status=_status(decoded))
        except DependencyUnavailable:
            return False
        self._attempts.pop(position, None)
        return True

    def _dead_letter(self, record: Record, error: str, *, status: str) -> None:
        position = _position(record)
        if position in self._dead_lettered:
            return  # sent before a retry of its poll
        letter = DeadLetter(record.value, error, record.topic, record.partition, record.offset)
        self._dead_letters.send(letter)
        self._dead_lettered.add(position)
        self._metrics.message(status, "dead_lettered")
        with bind(partition=record.partition, offset=record.offset):
            log.warning("order event dead-lettered: %s", error, extra={"dlq_topic": self._dead_letters.topic})

    def committed(self, topic: str, partition: int, offset: int) -> None:
        """Offsets below ``offset`` are committed: their dead-letter marks are no longer needed."""
        self._dead_lettered = {
            k for k in self._dead_lettered if not (k[:2] == (topic, partition) and k[2] < offset)
        }

    def _report(self, record: Record, event: OrderEvent, outcome: Outcome) -> None:
        result = "retried" if outcome is Outcome.DEFERRED else outcome.value
        self._metrics.message(event.status, result)
        with bind(order_id=event.order_id, partition=record.partition, offset=record.offset):
            log.info("order event %s", outcome.value, extra={"status": event.status})


def _decode(record: Record) -> OrderEvent | InvalidEvent:
    broker_time = None
    if record.timestamp is not None and record.timestamp >= 0:
        # A producer sets the timestamp (CreateTime): past year 9999 it is no time at all.
        with contextlib.suppress(OverflowError, OSError, ValueError):
            broker_time = datetime.fromtimestamp(record.timestamp / 1000, tz=UTC)
    try:
        return decode_event(record.value, broker_time=broker_time)
    except InvalidEvent as exc:
        return exc


def _status(decoded: OrderEvent | InvalidEvent) -> str:
    return decoded.status if isinstance(decoded, OrderEvent) else "invalid"


def _position(record: Record) -> Position:
    return (record.topic, record.partition, record.offset)
