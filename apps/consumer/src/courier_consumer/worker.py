"""One Kafka consumer in its own thread: poll, apply, commit; pause partitions that must be retried.

kafka-python is synchronous, so each consumer polls in a thread and hands every poll to the one event
loop that owns the database pool. Offsets are committed here, after the transaction that applied the
records has committed. A partition that must be retried is sought back and paused until its backoff ends
while polling goes on, so the consumer never overruns the group's poll interval.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from courier_consumer.processing import BatchProcessor, PartitionResult
from courier_consumer.telemetry import ConsumerMetrics
from courier_core.actor import set_actor

log = logging.getLogger("courier.consumer.worker")
BACKOFF_FIRST = 0.2
BACKOFF_MAX = 10.0
ACTOR = "consumer"  # who history says made the changes of order events


@dataclass(frozen=True, slots=True)
class ConsumerConfig:
    """How one consumer connects; the poll interval is short because Tansu rebalances only after it."""

    bootstrap_servers: str
    topic: str
    group_id: str
    auto_offset_reset: str = "earliest"
    max_poll_records: int = 200
    max_poll_interval_ms: int = 10_000
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 2_000
    poll_timeout_ms: int = 200


class ConsumerWorker(ConsumerRebalanceListener):  # type: ignore[misc]
    """Runs one ``KafkaConsumer`` of the group until :meth:`stop`; ``assignment`` is what it owns now."""

    def __init__(
        self, name: str, *, config: ConsumerConfig, processor: BatchProcessor, metrics: ConsumerMetrics
    ) -> None:
        self.name = name
        self._config = config
        self._processor = processor
        self._metrics = metrics
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._consumer: Any = None
        self.joined = threading.Event()
        self.assignment: frozenset[int] = frozenset()
        self.failed: BaseException | None = None
        self._next: dict[Any, int] = {}  # next offset to commit, per partition
        self._pending: dict[Any, int] = {}  # done but not yet committed
        self._paused_until: dict[Any, float] = {}
        self._failures: dict[Any, int] = {}

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # --- the loop -------------------------------------------------------------------------------

    def _run(self) -> None:
        set_actor(ACTOR)  # a thread starts with an empty context; the bridge's coroutines copy this one
        try:
            self._consumer = self._connect()
            self._consumer.subscribe([self._config.topic], listener=self)
            while not self._stopping.is_set():
                self._poll_once()
        except BaseException as exc:
            self.failed = exc
            log.exception("consumer %s stopped on an error", self.name)
        finally:
            self._close()

    def _connect(self) -> Any:
        c = self._config
        return KafkaConsumer(
            bootstrap_servers=c.bootstrap_servers,
            group_id=c.group_id,
            client_id=self.name,
            enable_auto_commit=False,
            auto_offset_reset=c.auto_offset_reset,
            max_poll_records=c.max_poll_records,
            max_poll_interval_ms=c.max_poll_interval_ms,
            session_timeout_ms=c.session_timeout_ms,
            heartbeat_interval_ms=c.heartbeat_interval_ms,
        )

    def _poll_once(self) -> None:
        self._resume_due()
        batch = self._consumer.poll(timeout_ms=self._config.poll_timeout_ms)
        if batch:
            results = self._processor.process(batch)
            for tp, result in results.items():
                self._settle(tp, result)
        self._commit()
        self._report_lag()

    def _settle(self, tp: Any, result: PartitionResult) -> None:
        if result.done_until is not None:
            self._pending[tp] = result.done_until
            self._next[tp] = result.done_until
        if result.stopped_at is None:
            self._failures.pop(tp, None)
            return
        failures = self._failures.get(tp, 0) + 1
        self._failures[tp] = failures
        delay = min(BACKOFF_FIRST * 2 ** (failures - 1), BACKOFF_MAX)
        self._consumer.seek(tp, result.stopped_at)
        self._consumer.pause(tp)
        self._paused_until[tp] = time.monotonic() + delay
        log.info(
            "partition paused for %.1fs",
            delay,
            extra={"partition": tp.partition, "offset": result.stopped_at},
        )

    def _resume_due(self) -> None:
        now = time.monotonic()
        due = [tp for tp, until in self._paused_until.items() if until <= now]
        for tp in due:
            del self._paused_until[tp]
            self._consumer.resume(tp)

    def _commit(self) -> None:
        if not self._pending:
            return
        offsets = {tp: OffsetAndMetadata(offset, "", -1) for tp, offset in self._pending.items()}
        try:
            self._consumer.commit(offsets)
        except KafkaError as exc:  # a rebalance or the broker: the next owner re-reads, de-duplicated
            log.warning("offset commit failed: %s", exc)
            return
        for tp, offset in self._pending.items():
            self._processor.committed(tp.topic, tp.partition, offset)
        self._pending.clear()

    def _report_lag(self) -> None:
        for tp, position in self._next.items():
            end = self._consumer.highwater(tp)
            if end is not None:
                self._metrics.lag(tp.topic, tp.partition, max(0, end - position))

    def _close(self) -> None:
        if self._consumer is None:
            return
        try:
            self._commit()
            self._consumer.close(autocommit=False)  # leaves the group: its partitions move at once
        except Exception:
            log.exception("closing consumer %s failed", self.name)
        log.info("consumer %s closed", self.name)

    # --- rebalance callbacks (called inside poll) ------------------------------------------------

    def on_partitions_revoked(self, revoked: Any) -> None:
        self._commit()  # what is done is committed before the partitions move
        for tp in revoked:
            self._processor.forget(tp.topic, tp.partition)
            self._metrics.forget_partition(tp.topic, tp.partition)
            for state in (self._next, self._pending, self._paused_until, self._failures):
                state.pop(tp, None)
        self.assignment = frozenset(p for p in self.assignment if p not in {tp.partition for tp in revoked})

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.assignment = frozenset(tp.partition for tp in self._consumer.assignment())
        self.joined.set()
        log.info("partitions assigned", extra={"consumer": self.name, "partitions": sorted(self.assignment)})


__all__ = ["ConsumerConfig", "ConsumerWorker", "TopicPartition"]
