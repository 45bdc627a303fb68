"""The contracts of courier-core's repository ports, held by the fake and by PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from courier_core.errors import CourierExists, DeliveryExists
from courier_core.model import (
    CourierStatus,
    Delivery,
    DeliveryCursor,
    DeliveryStatus,
    KnownOrder,
    NewCourier,
    TransportType,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def new(phone: str, status: CourierStatus = CourierStatus.AVAILABLE) -> NewCourier:
    return NewCourier(name="Ivan", phone=phone, status=status, transport_type=TransportType.CAR)


def delivery(order_id: str, courier_id: int, at: datetime = T0) -> Delivery:
    return Delivery(order_id, courier_id, DeliveryStatus.ACTIVE, at, at + timedelta(minutes=5))


async def test_couriers_get_ids_and_keep_their_fields(uow_factory) -> None:
    async with uow_factory() as uow:
        a = await uow.couriers.add(new("+70000000001"))
        b = await uow.couriers.add(new("+70000000002", CourierStatus.PAUSED))
        await uow.commit()
    assert b.id > a.id > 0
    async with uow_factory() as uow:
        got = await uow.couriers.get(b.id)
    assert got is not None
    assert (got.phone, got.status, got.total_deliveries, got.version) == (
        "+70000000002",
        CourierStatus.PAUSED,
        0,
        1,
    )


async def test_phone_is_unique_among_couriers_not_deleted(uow_factory) -> None:
    async with uow_factory() as uow:
        first = await uow.couriers.add(new("+70000000001"))
        await uow.commit()
    with pytest.raises(CourierExists):
        async with uow_factory() as uow:
            await uow.couriers.add(new("+70000000001"))
    async with uow_factory() as uow:
        await uow.couriers.delete(first.id)
        again = await uow.couriers.add(new("+70000000001"))
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.couriers.get(first.id) is None
        assert await uow.couriers.get(again.id) is not None


async def test_save_advances_version_and_refuses_a_taken_phone(uow_factory) -> None:
    async with uow_factory() as uow:
        a = await uow.couriers.add(new("+70000000001"))
        b = await uow.couriers.add(new("+70000000002"))
        a.name = "Petr"
        saved = await uow.couriers.save(a)
        await uow.commit()
    assert (saved.name, saved.version) == ("Petr", 2)
    b.phone = a.phone
    with pytest.raises(CourierExists):
        async with uow_factory() as uow:
            await uow.couriers.save(b)


async def test_uncommitted_work_is_rolled_back(uow_factory) -> None:
    async with uow_factory() as uow:
        await uow.couriers.add(new("+70000000001"))
    async with uow_factory() as uow:
        assert await uow.couriers.list() == []


async def test_pick_takes_fewest_deliveries_then_lowest_id(uow_factory) -> None:
    async with uow_factory() as uow:
        ids = [(await uow.couriers.add(new(f"+7000000000{i}"))).id for i in range(4)]
        paused = await uow.couriers.get(ids[0])
        paused.status = CourierStatus.PAUSED
        await uow.couriers.save(paused)
        loaded = await uow.couriers.get(ids[1])
        loaded.total_deliveries = 3
        await uow.couriers.save(loaded)
        await uow.commit()
    async with uow_factory() as uow:
        # (courier, candidates, tied with it): paused ids[0] is no candidate, ids[1] has 3 deliveries
        picks = [
            await uow.couriers.pick_available(),
            await uow.couriers.pick_available(exclude=[ids[2]]),
            await uow.couriers.pick_available(exclude=[ids[2], ids[3]]),
        ]
        assert [(p.courier.id, p.candidates, p.tied) for p in picks] == [
            (ids[2], 3, 2),
            (ids[3], 2, 1),
            (ids[1], 1, 1),
        ]
        assert await uow.couriers.pick_available(exclude=ids) is None


async def test_lists_couriers_by_id_with_filters(uow_factory) -> None:
    async with uow_factory() as uow:
        ids = [(await uow.couriers.add(new(f"+7000000000{i}"))).id for i in range(3)]
        await uow.couriers.delete(ids[1])
        await uow.commit()
    async with uow_factory() as uow:
        assert [c.id for c in await uow.couriers.list()] == [ids[0], ids[2]]
        assert [c.id for c in await uow.couriers.list(after=ids[0], limit=1)] == [ids[2]]
        assert await uow.couriers.list(status=CourierStatus.BUSY) == []
        assert len(await uow.couriers.list(transport_type=TransportType.CAR)) == 2


async def test_one_delivery_per_order(uow_factory) -> None:
    async with uow_factory() as uow:
        c = await uow.couriers.add(new("+70000000001"))
        await uow.deliveries.lock_order("o1")
        await uow.deliveries.add(delivery("o1", c.id))
        await uow.commit()

    async def add_again() -> None:
        async with uow_factory() as uow:
            await uow.deliveries.add(delivery("o1", c.id))
            await uow.commit()

    with pytest.raises(DeliveryExists):  # at the latest when the unit of work commits
        await add_again()
    async with uow_factory() as uow:
        got = await uow.deliveries.get("o1", for_update=True)
        assert got is not None and got.courier_id == c.id and got.is_active
        await uow.deliveries.remove("o1")
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.deliveries.get("o1") is None


async def test_finish_changes_an_active_delivery_once(uow_factory) -> None:
    async with uow_factory() as uow:
        c = await uow.couriers.add(new("+70000000001"))
        await uow.deliveries.add(delivery("o1", c.id))
        await uow.commit()
    async with uow_factory() as uow:
        done = await uow.deliveries.finish("o1", DeliveryStatus.COMPLETED)
        assert done is not None and done.status is DeliveryStatus.COMPLETED and done.finished_at
        assert await uow.deliveries.finish("o1", DeliveryStatus.EXPIRED) is None
        assert await uow.deliveries.finish("nope", DeliveryStatus.COMPLETED) is None
        await uow.commit()


async def test_expire_due_takes_only_active_deliveries_past_deadline(uow_factory) -> None:
    async with uow_factory() as uow:
        now = await uow.now()
        a = await uow.couriers.add(new("+70000000001"))
        b = await uow.couriers.add(new("+70000000002"))
        await uow.deliveries.add(delivery("late", a.id, now - timedelta(hours=1)))
        await uow.deliveries.add(delivery("fresh", b.id, now))
        await uow.commit()
    async with uow_factory() as uow:
        expired = await uow.deliveries.expire_due(limit=10)
        assert [(d.order_id, d.status) for d in expired] == [("late", DeliveryStatus.EXPIRED)]
        assert await uow.deliveries.expire_due(limit=10) == []
        await uow.commit()


async def test_lists_deliveries_newest_first_with_cursor(uow_factory) -> None:
    async with uow_factory() as uow:
        couriers = [await uow.couriers.add(new(f"+7000000000{i}")) for i in range(3)]
        for i, c in enumerate(couriers):
            await uow.deliveries.add(delivery(f"o{i}", c.id, T0 + timedelta(seconds=i)))
        await uow.deliveries.finish("o1", DeliveryStatus.COMPLETED)
        await uow.commit()
    async with uow_factory() as uow:
        assert [d.order_id for d in await uow.deliveries.list()] == ["o2", "o1", "o0"]
        cursor = DeliveryCursor(T0 + timedelta(seconds=2), "o2")
        assert [d.order_id for d in await uow.deliveries.list(after=cursor, limit=1)] == ["o1"]
        active = await uow.deliveries.list(status=DeliveryStatus.ACTIVE)
        assert [d.order_id for d in active] == ["o2", "o0"]
        assert [d.order_id for d in await uow.deliveries.list(courier_id=couriers[0].id)] == ["o0"]


async def test_known_orders_never_take_older_news(uow_factory) -> None:
    async with uow_factory() as uow:
        assert await uow.orders.record(KnownOrder("o1", "pending", T0 + timedelta(seconds=5)))
        assert not await uow.orders.record(KnownOrder("o1", "created", T0))
        assert await uow.orders.record(KnownOrder("o1", "canceled", T0 + timedelta(seconds=6)))
        assert not await uow.orders.record(KnownOrder("o1", "created", T0 + timedelta(days=1)))
        assert await uow.orders.record(KnownOrder("o2", "pending", T0))
        assert await uow.orders.record(KnownOrder("o2", "deleted", T0))  # a finished status wins a tie
        await uow.commit()
    async with uow_factory() as uow:
        known = await uow.orders.get("o1")
        assert known is not None and known.status == "canceled" and known.is_finished
        assert (await uow.orders.get("o2")).status == "deleted"
        assert await uow.orders.get("o3") is None


async def test_noted_orders_follow_the_same_rule_and_are_read_back(uow_factory) -> None:
    async with uow_factory() as uow:
        await uow.orders.note(KnownOrder("o1", "created", T0))
        assert (await uow.orders.get("o1")).status == "created"  # seen by the next read
        await uow.orders.note(KnownOrder("o1", "canceled", T0 + timedelta(seconds=1)))
        await uow.orders.note(KnownOrder("o1", "created", T0 + timedelta(seconds=2)))  # finished stays
        await uow.commit()
    async with uow_factory() as uow:
        assert (await uow.orders.get("o1")).status == "canceled"


async def test_waiting_queue_is_oldest_first_and_keeps_first_place(uow_factory) -> None:
    for order in ("w1", "w2"):
        async with uow_factory() as uow:
            await uow.waiting.add(order)
            await uow.commit()
    async with uow_factory() as uow:
        first = (await uow.waiting.list())[0]
        assert (await uow.waiting.add("w1")).since == first.since
        assert await uow.waiting.contains("w2") and not await uow.waiting.contains("w3")
        assert (await uow.waiting.pop_oldest()).order_id == "w1"
        assert await uow.waiting.remove("w2")
        assert not await uow.waiting.remove("w2")
        assert await uow.waiting.pop_oldest() is None
        await uow.commit()


async def test_processed_events_are_recognised(uow_factory) -> None:
    async with uow_factory() as uow:
        assert await uow.processed.add(b"k1")
        assert not await uow.processed.add(b"k1")
        await uow.commit()
    async with uow_factory() as uow:
        assert not await uow.processed.add(b"k1")
        assert await uow.processed.prune(older_than=3600) == 0


async def test_processed_events_are_recorded_a_batch_at_once(uow_factory) -> None:
    async with uow_factory() as uow:
        assert await uow.processed.add(b"k1")
        assert await uow.processed.add_many([b"k2", b"k1", b"k3", b"k2"]) == {b"k2", b"k3"}
        assert await uow.processed.add_many([]) == set()
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.processed.add_many([b"k3", b"k4"]) == {b"k4"}
        assert not await uow.processed.add(b"k4")


async def test_cursors_only_move_forward(uow_factory) -> None:
    async with uow_factory() as uow:
        assert await uow.cursors.get("reconcile") is None
        await uow.cursors.advance("reconcile", T0 + timedelta(hours=1))
        await uow.cursors.advance("reconcile", T0)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.cursors.get("reconcile") == T0 + timedelta(hours=1)
