"""The outbox relay against the in-memory outbox and a recording publisher."""

from datetime import timedelta

import pytest

from courier_core import AssignOrder, CreateCourier
from courier_core.errors import DependencyUnavailable
from courier_core.testing import FakeClock, InMemoryOutboxRepository, RecordingPublisher, Services
from courier_core.usecases import OutboxRelay


async def changes(services: Services, couriers: int) -> None:
    for n in range(couriers):
        await services.couriers.create(
            CreateCourier(name="Ivan", phone=f"+7999000{n:04d}", status="available")
        )
        await services.deliveries.assign(AssignOrder(f"o-{n}"))


def relay(services: Services, publisher: RecordingPublisher, batch: int = 2) -> OutboxRelay:
    return OutboxRelay(outbox=InMemoryOutboxRepository(services.store), publisher=publisher, batch=batch)


async def test_relays_in_commit_order_and_marks_sent(services: Services) -> None:
    await changes(services, 2)  # 3 events each
    publisher = RecordingPublisher()
    outbox = InMemoryOutboxRepository(services.store)
    assert await relay(services, publisher).relay_once() == 2
    assert [s.position for s in await outbox.pending(limit=10)] == [3, 4, 5, 6]
    assert await relay(services, publisher).drain() == 4
    assert [s.position for s in publisher.published] == [1, 2, 3, 4, 5, 6]
    assert await outbox.pending(limit=10) == []
    assert await relay(services, publisher).relay_once() == 0


async def test_a_failed_publish_marks_nothing_sent(services: Services) -> None:
    await changes(services, 1)
    publisher = RecordingPublisher()
    publisher.fail = DependencyUnavailable("broker down")
    with pytest.raises(DependencyUnavailable):
        await relay(services, publisher).drain()
    outbox = InMemoryOutboxRepository(services.store)
    assert len(await outbox.pending(limit=10)) == 3
    publisher.fail = None
    assert await relay(services, publisher, batch=10).drain() == 3


async def test_drain_stops_at_what_was_pending_when_it_started(services: Services) -> None:
    await changes(services, 1)
    outbox = InMemoryOutboxRepository(services.store)
    upto = await outbox.last_position()

    class AddingPublisher(RecordingPublisher):
        async def publish(self, events):  # type: ignore[no-untyped-def]
            await super().publish(events)
            if len(self.published) == 2:  # a change commits while the relay drains
                await services.deliveries.unassign("o-0")

    publisher = AddingPublisher()
    assert await relay(services, publisher).drain() == upto == 3
    assert len(await outbox.pending(limit=10)) == 2  # the unassign's two events: for the next run


async def test_after_and_prune_keep_pending_events(services: Services, clock: FakeClock) -> None:
    await changes(services, 2)
    outbox = InMemoryOutboxRepository(services.store)
    assert [s.position for s in await outbox.after(4, limit=10)] == [5, 6]
    assert [s.position for s in await outbox.after(0, limit=2)] == [1, 2]
    await outbox.mark_sent([1, 2, 99])
    clock.advance(timedelta(hours=2))
    assert await outbox.prune(older_than=3600) == 2
    assert [s.position for s in await outbox.after(0, limit=10)] == [3, 4, 5, 6]
    assert await outbox.last_position() == 6


def test_batch_must_be_positive(services: Services) -> None:
    with pytest.raises(ValueError, match="batch"):
        relay(services, RecordingPublisher(), batch=0)
