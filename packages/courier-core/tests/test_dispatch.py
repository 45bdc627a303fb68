"""Assignment, unassignment, completion, expiry and the waiting queue, against in-memory ports."""

from datetime import timedelta

import pytest

from courier_core import Assignment, AssignOrder, CreateCourier, ListDeliveries, Queued, UpdateCourier
from courier_core.errors import (
    CourierNotAvailable,
    CourierNotFound,
    DeliveryExists,
    DeliveryNotFound,
    InvalidInput,
    NoAvailableCouriers,
    OrderFinished,
)
from courier_core.model import CourierStatus, Delivery, DeliveryCursor, DeliveryStatus, KnownOrder
from courier_core.testing import FakeClock, RecordingMetrics, Services


async def add_couriers(services: Services, *statuses: str, transport: str = "car") -> None:
    for i, status in enumerate(statuses):
        await services.couriers.create(
            CreateCourier(name="Ivan", phone=f"+7999000{i:04d}", status=status, transport_type=transport)
        )


async def assign(services: Services, order_id: str, courier_id: int | None = None) -> Assignment:
    result = await services.deliveries.assign(AssignOrder(order_id=order_id, courier_id=courier_id))
    assert isinstance(result, Assignment)
    return result


async def test_assigns_least_loaded_available_courier(services: Services) -> None:
    await add_couriers(services, "available", "available", "available")
    assert [(await assign(services, f"o{i}")).courier_id for i in range(3)] == [1, 2, 3]
    await services.deliveries.complete("o1")  # courier 2 is free again, with 1 delivery
    await services.deliveries.unassign("o0")  # courier 1 is free again, with 0 deliveries
    assert (await assign(services, "o3")).courier_id == 1


async def test_ties_go_to_the_lowest_id(services: Services) -> None:
    await add_couriers(services, "available", "available")
    await assign(services, "a")
    await assign(services, "b")
    await services.deliveries.complete("a")
    await services.deliveries.complete("b")
    assert (await assign(services, "c")).courier_id == 1


async def test_paused_and_busy_couriers_are_never_picked(services: Services, clock: FakeClock) -> None:
    await add_couriers(services, "paused", "available")
    first = await assign(services, "o1")
    assert first.courier_id == 2
    assert first.deadline == clock.current + timedelta(minutes=5)
    with pytest.raises(NoAvailableCouriers):
        await services.deliveries.assign(AssignOrder(order_id="o2"))
    assert isinstance(services.metrics, RecordingMetrics)
    assert services.metrics.assignments == {"assigned": 1, "no_courier": 1}


async def test_an_order_gets_one_delivery_at_most(services: Services) -> None:
    await add_couriers(services, "available", "available")
    await assign(services, "o1")
    with pytest.raises(DeliveryExists):
        await services.deliveries.assign(AssignOrder(order_id="o1"))
    await services.deliveries.complete("o1")
    with pytest.raises(DeliveryExists):
        await services.deliveries.assign(AssignOrder(order_id="o1"))


@pytest.mark.parametrize("reserved", ["assign", "unassign", "complete"])
async def test_the_apis_fixed_paths_are_never_order_ids(services: Services, reserved: str) -> None:
    await add_couriers(services, "available")
    with pytest.raises(InvalidInput) as refused:
        await services.deliveries.assign(AssignOrder(order_id=reserved))
    assert refused.value.field == "order_id" and "reserved" in refused.value.message
    assert (await assign(services, "Assign")).order_id == "Assign"  # only the exact paths


async def test_a_finished_order_is_never_assigned(services: Services, clock: FakeClock) -> None:
    await add_couriers(services, "available")
    async with services.uow() as uow:
        await uow.orders.record(KnownOrder("o1", "canceled", clock.current))
        await uow.commit()
    with pytest.raises(OrderFinished):
        await services.deliveries.assign(AssignOrder(order_id="o1"))


async def test_assign_to_a_chosen_courier_or_excluding_some(services: Services) -> None:
    await add_couriers(services, "available", "available", "paused")
    assert (await assign(services, "o1", courier_id=2)).courier_id == 2
    with pytest.raises(CourierNotAvailable):
        await services.deliveries.assign(AssignOrder(order_id="o2", courier_id=3))
    with pytest.raises(CourierNotFound):
        await services.deliveries.assign(AssignOrder(order_id="o2", courier_id=9))
    with pytest.raises(NoAvailableCouriers):
        await services.deliveries.assign(AssignOrder(order_id="o2", exclude_courier_ids=[1]))
    with pytest.raises(InvalidInput) as err:
        await services.deliveries.assign(AssignOrder(order_id="o2", exclude_courier_ids=[0]))
    assert err.value.field == "exclude_courier_ids"


async def test_unassign_frees_the_courier_and_forgets_the_delivery(services: Services) -> None:
    await add_couriers(services, "available")
    await assign(services, "o1")
    outcome = await services.deliveries.unassign("o1")
    assert (outcome.status, outcome.courier_id) == ("unassigned", 1)
    courier = await services.couriers.get(1)
    assert (courier.status, courier.total_deliveries) == (CourierStatus.AVAILABLE, 0)
    with pytest.raises(DeliveryNotFound):
        await services.deliveries.get("o1")
    with pytest.raises(DeliveryNotFound):
        await services.deliveries.unassign("o1")
    assert (await assign(services, "o1")).courier_id == 1  # it can be assigned again


async def test_complete_is_idempotent_and_answers_the_actual_status(services: Services) -> None:
    await add_couriers(services, "available")
    await assign(services, "o1")
    assert (await services.deliveries.complete("o1")).status == "completed"
    assert (await services.deliveries.complete("o1")).status == "completed"
    delivery = await services.deliveries.get("o1")
    assert delivery.status is DeliveryStatus.COMPLETED and delivery.finished_at is not None
    with pytest.raises(DeliveryNotFound):
        await services.deliveries.complete("never")
    with pytest.raises(DeliveryNotFound):
        await services.deliveries.unassign("o1")  # completed is not active


async def test_expired_deliveries_free_their_couriers_once(services: Services, clock: FakeClock) -> None:
    await add_couriers(services, "available", "available")
    await assign(services, "o1")
    clock.advance(timedelta(minutes=3))
    await assign(services, "o2")
    clock.advance(timedelta(minutes=3))  # o1 is 6 min old (car: 5 min), o2 is 3 min old
    assert await services.deliveries.release_expired() == 1
    assert await services.deliveries.release_expired() == 0
    assert (await services.deliveries.get("o1")).status is DeliveryStatus.EXPIRED
    assert (await services.couriers.get(1)).status is CourierStatus.AVAILABLE
    assert (await services.couriers.get(2)).status is CourierStatus.BUSY
    assert (await services.deliveries.complete("o1")).status == "expired"  # confirms, changes nothing


async def test_release_expired_works_through_large_backlogs(services: Services, clock: FakeClock) -> None:
    for i in range(501):
        await services.couriers.create(CreateCourier(name="Ivan", phone=f"+{i:011d}", status="available"))
        await assign(services, f"o{i}")
    clock.advance(timedelta(hours=1))
    assert await services.deliveries.release_expired() == 501
    assert services.metrics.expired == 501  # type: ignore[attr-defined]


async def test_lists_deliveries_newest_first_with_paging(services: Services, clock: FakeClock) -> None:
    await add_couriers(services, "available", "available", "available")
    for order in ("a", "b", "c"):
        await assign(services, order)
        clock.advance(timedelta(seconds=1))
    await services.deliveries.complete("b")
    page = await services.deliveries.list(ListDeliveries(limit=2))
    assert [d.order_id for d in page.items] == ["c", "b"]
    assert page.next is not None
    rest = await services.deliveries.list(ListDeliveries(limit=2, after=page.next))
    assert [d.order_id for d in rest.items] == ["a"] and rest.next is None
    done = await services.deliveries.list(ListDeliveries(status="completed", courier_id=2))
    assert [d.order_id for d in done.items] == ["b"]
    with pytest.raises(InvalidInput):
        await services.deliveries.list(ListDeliveries(status="lost"))


async def test_an_order_waits_and_gets_the_next_courier_freed(services: Services) -> None:
    await add_couriers(services, "available")
    await assign(services, "o1")
    queued = await services.deliveries.assign(AssignOrder(order_id="o2", wait=True))
    assert isinstance(queued, Queued)
    assert [w.order_id for w in await services.deliveries.waiting()] == ["o2"]
    await services.deliveries.complete("o1")
    delivery = await services.deliveries.get("o2")
    assert delivery.courier_id == 1 and delivery.is_active
    assert await services.deliveries.waiting() == []


async def test_waiting_orders_are_served_oldest_first(services: Services, clock: FakeClock) -> None:
    for order in ("w1", "w2"):
        await services.deliveries.assign(AssignOrder(order_id=order, wait=True))
        clock.advance(timedelta(seconds=1))
    await add_couriers(services, "available")  # a new courier serves the oldest at once
    assert (await services.deliveries.get("w1")).courier_id == 1
    with pytest.raises(DeliveryNotFound):
        await services.deliveries.get("w2")


async def test_a_resumed_courier_serves_the_queue(services: Services) -> None:
    await add_couriers(services, "paused")
    await services.deliveries.assign(AssignOrder(order_id="w1", wait=True))
    await services.couriers.update(UpdateCourier(id=1, status="available"))
    assert (await services.couriers.get(1)).status is CourierStatus.BUSY
    assert (await services.deliveries.get("w1")).courier_id == 1


async def test_the_queue_skips_orders_finished_or_assigned_meanwhile(
    services: Services, clock: FakeClock
) -> None:
    for order in ("gone", "done", "next"):
        await services.deliveries.assign(AssignOrder(order_id=order, wait=True))
        clock.advance(timedelta(seconds=1))
    async with services.uow() as uow:
        await uow.orders.record(KnownOrder("gone", "deleted", clock.current))
        await uow.commit()
    await add_couriers(services, "available", "paused")
    await services.deliveries.unassign("done")  # "done" got courier 1 ... and gives it back
    # the queue now holds only "next": courier 1 took "done", then was freed and took "next"
    assert (await services.deliveries.get("next")).courier_id == 1
    with pytest.raises(DeliveryNotFound):
        await services.deliveries.get("gone")
    assert await services.deliveries.waiting() == []


async def test_waiting_twice_keeps_the_first_place(services: Services, clock: FakeClock) -> None:
    first = await services.deliveries.assign(AssignOrder(order_id="w1", wait=True))
    clock.advance(timedelta(seconds=5))
    again = await services.deliveries.assign(AssignOrder(order_id="w1", wait=True))
    assert isinstance(first, Queued) and isinstance(again, Queued)
    assert again.since == first.since


async def test_waiting_cannot_be_combined_with_a_choice_of_courier(services: Services) -> None:
    await add_couriers(services, "available")
    for command in (
        AssignOrder(order_id="o1", wait=True, courier_id=1),
        AssignOrder(order_id="o1", wait=True, exclude_courier_ids=[1]),
    ):
        with pytest.raises(InvalidInput) as err:
            await services.deliveries.assign(command)
        assert err.value.field == "wait"


async def test_an_assigned_order_leaves_the_waiting_queue(services: Services) -> None:
    await add_couriers(services, "available")
    async with services.uow() as uow:  # left waiting by some past race
        await uow.waiting.add("w1")
        await uow.commit()
    await assign(services, "w1")
    assert await services.deliveries.waiting() == []
    await services.deliveries.unassign("w1")
    with pytest.raises(DeliveryNotFound):
        await services.deliveries.get("w1")


async def test_a_bad_cursor_is_invalid_input(services: Services, clock: FakeClock) -> None:
    with pytest.raises(InvalidInput) as err:
        await services.deliveries.list(ListDeliveries(after=DeliveryCursor(clock.current, "a\x00")))
    assert err.value.field == "after"


async def test_reads_outside_a_transaction_see_only_committed_data(services: Services) -> None:
    await add_couriers(services, "available")
    async with services.uow() as uow:
        courier = await uow.couriers.get(1)
        assert courier is not None
        courier.name = "Petr"
        await uow.couriers.save(courier)
        assert (await services.couriers.get(1)).name == "Ivan"  # not committed yet
    assert (await services.couriers.get(1)).name == "Ivan"  # rolled back


async def test_the_fake_refuses_a_second_active_delivery_for_a_courier(
    services: Services, clock: FakeClock
) -> None:
    await add_couriers(services, "available")
    await assign(services, "o1")
    with pytest.raises(CourierNotAvailable):
        async with services.uow() as uow:
            await uow.deliveries.add(Delivery("o2", 1, DeliveryStatus.ACTIVE, clock.current, clock.current))
