"""The consumer's batch processor on core's fakes: fast path, fallback, attempts, dead letters, outages."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import pytest
from prometheus_client import CollectorRegistry

from courier_adapters.kafka.dead_letters import DeadLetter
from courier_consumer.deferred import DeferredOrders
from courier_consumer.processing import BatchProcessor, LoopBridge, PartitionResult
from courier_consumer.telemetry import ConsumerMetrics
from courier_core.errors import DependencyUnavailable
from courier_core.ports import UnitOfWork
from courier_core.testing import Services
from courier_core.usecases import CreateCourier
from courier_core.usecases.events import (
    OrderEvent,
    OrderEventService,
    OrderVerifier,
    Outcome,
    default_handlers,
)


@dataclass
class Rec:
    topic: str
    partition: int
    offset: int
    value: bytes | None
    timestamp: int = 1_795_000_000_000


class Letters:
    topic = "dlq"

    def __init__(self) -> None:
        self.sent: list[DeadLetter] = []
        self.down = False

    def send(self, letter: DeadLetter) -> None:
        if self.down:
            raise DependencyUnavailable(dependency="broker")
        self.sent.append(letter)


def value(order_id: str, status: str = "created") -> bytes:
    return json.dumps({"order_id": order_id, "status": status, "created_at": "2026-11-24T10:00:00Z"}).encode()


@dataclass
class Rig:
    processor: BatchProcessor
    letters: Letters
    registry: CollectorRegistry
    services: Services

    async def process(self, records: Sequence[Rec]) -> dict[object, PartitionResult]:
        batch: dict[object, list[Rec]] = {}
        for record in records:
            batch.setdefault(record.partition, []).append(record)
        return await asyncio.to_thread(self.processor.process, batch)

    def counted(self, status: str, result: str) -> float:
        return (
            self.registry.get_sample_value(
                "courier_kafka_messages_total", {"status": status, "result": result}
            )
            or 0
        )


def rig(services: Services, *, broken: Collection[str] = (), transient: Collection[str] = ()) -> Rig:
    handlers = dict(default_handlers(services.deliveries))
    assign = handlers["created"]

    async def created(uow: UnitOfWork, event: OrderEvent) -> Outcome:
        if event.order_id in broken:
            raise RuntimeError("a bug")
        if event.order_id in transient:
            raise DependencyUnavailable()
        return await assign(uow, event)

    handlers["created"] = created
    registry = CollectorRegistry()
    metrics = ConsumerMetrics(registry)
    service = OrderEventService(
        uow=services.uow, handlers=handlers, verifier=OrderVerifier(None, metrics=services.metrics)
    )
    letters = Letters()
    processor = BatchProcessor(
        bridge=LoopBridge(asyncio.get_running_loop(), timeout=10),
        service=service,
        deferred=DeferredOrders(metrics=metrics, budget=30),
        dead_letters=letters,
        metrics=metrics,
        max_attempts=3,
    )
    return Rig(processor, letters, registry, services)


async def couriers(services: Services, count: int) -> None:
    for i in range(count):
        await services.couriers.create(
            CreateCourier(name="Ivan", phone=f"+7999000{i:04d}", status="available")
        )


async def test_a_clean_poll_is_applied_in_one_transaction(services: Services) -> None:
    await couriers(services, 3)
    r = rig(services)
    before = len(services.uow.started)
    results = await r.process(
        [Rec("t", 0, 0, value("a")), Rec("t", 0, 1, value("b")), Rec("t", 1, 7, value("c"))]
    )
    assert results == {0: PartitionResult(2), 1: PartitionResult(8)}
    assert len(services.uow.started) == before + 1
    assert set(services.store.state.deliveries) == {"a", "b", "c"}
    assert r.counted("created", "applied") == 3


async def test_poison_is_dead_lettered_and_the_rest_applied(services: Services) -> None:
    await couriers(services, 1)
    r = rig(services)
    results = await r.process([Rec("t", 0, 0, b"{oops"), Rec("t", 0, 1, value("a"))])
    assert results == {0: PartitionResult(2)}
    assert [(d.offset, d.error) for d in r.letters.sent] == [(0, "value is not valid JSON")]
    assert "a" in services.store.state.deliveries
    assert r.counted("invalid", "dead_lettered") == 1


async def test_a_broken_record_is_retried_then_dead_lettered_and_its_neighbours_applied(
    services: Services,
) -> None:
    await couriers(services, 3)
    r = rig(services, broken={"bad"})
    records = [Rec("t", 0, 0, value("a")), Rec("t", 0, 1, value("bad")), Rec("t", 0, 2, value("b"))]
    assert await r.process(records) == {0: PartitionResult(1, 1, transient=False)}
    assert "a" in services.store.state.deliveries
    assert await r.process(records[1:]) == {0: PartitionResult(None, 1, transient=False)}
    assert r.letters.sent == []
    assert await r.process(records[1:]) == {0: PartitionResult(3)}
    assert [d.offset for d in r.letters.sent] == [1]
    assert r.letters.sent[0].error.startswith("failed 3 times")
    assert set(services.store.state.deliveries) == {"a", "b"}
    assert r.counted("created", "retried") == 2


async def test_an_outage_stops_every_partition_at_its_first_record(services: Services) -> None:
    await couriers(services, 3)
    r = rig(services, transient={"slow"})
    records = [Rec("t", 0, 4, value("a")), Rec("t", 1, 9, value("slow"))]
    assert await r.process(records) == {0: PartitionResult(None, 4), 1: PartitionResult(None, 9)}
    assert services.store.state.deliveries == {}
    assert r.letters.sent == []


async def test_a_dead_letter_topic_that_is_down_stops_the_partition(services: Services) -> None:
    r = rig(services)
    r.letters.down = True
    assert await r.process([Rec("t", 2, 5, b"nope")]) == {2: PartitionResult(None, 5)}
    r.letters.down = False
    assert await r.process([Rec("t", 2, 5, b"nope")]) == {2: PartitionResult(6)}
    assert len(r.letters.sent) == 1


async def test_a_poison_sent_before_a_failed_poll_is_not_sent_twice(services: Services) -> None:
    r = rig(services, transient={"slow"})
    records = [Rec("t", 0, 0, b"nope"), Rec("t", 0, 1, value("slow"))]
    assert await r.process(records) == {0: PartitionResult(None, 0)}
    assert await r.process(records) == {0: PartitionResult(None, 0)}
    assert len(r.letters.sent) == 1
    r.processor.committed("t", 0, 1)  # committed: a later record at that offset is another record
    assert await r.process(records) == {0: PartitionResult(None, 0)}
    assert len(r.letters.sent) == 2


@pytest.mark.parametrize("timestamp", [-1, 1_795_000_000_000])
async def test_missing_created_at_uses_the_record_timestamp_when_there_is_one(
    services: Services, timestamp: int
) -> None:
    await couriers(services, 1)
    r = rig(services)
    raw = json.dumps({"order_id": "a", "status": "created"}).encode()
    await r.process([Rec("t", 0, 0, raw, timestamp)])
    assert ("a" in services.store.state.deliveries) is (timestamp >= 0)
    assert len(r.letters.sent) == (0 if timestamp >= 0 else 1)


async def test_a_timestamp_past_year_9999_counts_as_none(services: Services) -> None:
    """A producer sets the record's timestamp: one no datetime can hold must not stop the consumer."""
    await couriers(services, 1)
    r = rig(services)
    without = json.dumps({"order_id": "a", "status": "created"}).encode()
    results = await r.process([Rec("t", 0, 0, without, 2**62), Rec("t", 0, 1, value("b"), 2**62)])
    assert results == {0: PartitionResult(2)}
    assert [(d.offset, d.error) for d in r.letters.sent] == [
        (0, "created_at is missing and the record has no timestamp")
    ]
    assert set(services.store.state.deliveries) == {"b"}


async def test_json_nested_deeper_than_the_parser_goes_is_dead_lettered(services: Services) -> None:
    r = rig(services)
    assert await r.process([Rec("t", 0, 0, b"[" * 100_000)]) == {0: PartitionResult(1)}
    assert [(d.offset, d.error) for d in r.letters.sent] == [(0, "value is not valid JSON")]
