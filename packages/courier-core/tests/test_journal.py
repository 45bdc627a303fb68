"""What every change leaves behind: outbox events (type, key, order), history (actor), decisions."""

from datetime import timedelta

import pytest

from courier_core import AssignOrder, CreateCourier, ListDeliveries, UpdateCourier
from courier_core.actor import acting_as, current_actor, set_actor
from courier_core.errors import (
    CourierNotAvailable,
    CourierNotFound,
    DeliveryNotFound,
    InvalidInput,
    NoAvailableCouriers,
)
from courier_core.model import (
    Assignment,
    CourierStatus,
    DryRun,
    NewCourier,
    Strategy,
    Subject,
    TransportType,
)
from courier_core.testing import FakeClock, Services
from courier_core.usecases import HandOver
from courier_core.views import decision_view, dry_run_view, handover_view, history_view


async def courier(services: Services, n: int, status: str = "available", transport: str = "car") -> int:
    created = await services.couriers.create(
        CreateCourier(name="Ivan", phone=f"+7999000{n:04d}", status=status, transport_type=transport)
    )
    return created.id


def events(services: Services) -> list[tuple[str, str]]:
    state = services.store.state
    return [(state.outbox[p].type.value, state.outbox[p].key) for p in sorted(state.outbox)]


def history(
    services: Services, subject: Subject, subject_id: str
) -> list[tuple[str, str | None, str | None]]:
    return [
        (e.change, e.from_state, e.to_state)
        for e in services.store.state.history
        if e.subject is subject and e.subject_id == subject_id
    ]


async def test_assign_and_complete_leave_keyed_events_in_order(services: Services) -> None:
    await courier(services, 1)
    await services.deliveries.assign(AssignOrder("o-1"))
    await services.deliveries.complete("o-1")
    assert events(services) == [
        ("courier.created", "1"),
        ("delivery.assigned", "o-1"),
        ("courier.status_changed", "1"),
        ("delivery.completed", "o-1"),
        ("courier.status_changed", "1"),
    ]
    assigned = services.store.state.outbox[2].message()
    assert assigned["order_id"] == "o-1" and assigned["courier_id"] == 1
    assert assigned["type"] == "delivery.assigned" and str(assigned["occurred_at"]).endswith("Z")
    assert assigned["deadline"] is not None and assigned["strategy"] == "least_loaded"
    assert history(services, Subject.DELIVERY, "o-1") == [
        ("assigned", None, "active"),
        ("completed", "active", "completed"),
    ]
    assert history(services, Subject.COURIER, "1") == [
        ("created", None, "available"),
        ("status", "available", "busy"),
        ("status", "busy", "available"),
    ]


async def test_a_failed_change_leaves_nothing(services: Services) -> None:
    await courier(services, 1, status="paused")
    before = dict(services.store.state.outbox)
    with pytest.raises(NoAvailableCouriers):
        await services.deliveries.assign(AssignOrder("o-1"))
    assert services.store.state.outbox == before
    assert history(services, Subject.DELIVERY, "o-1") == []


async def test_history_records_the_actor(services: Services) -> None:
    with acting_as("api:alice"):
        await courier(services, 1)
        assert current_actor() == "api:alice"
    with acting_as("consumer"):
        await services.deliveries.assign(AssignOrder("o-1"))
    assert current_actor() == "system"
    entries = await services.couriers.history(1)
    assert [(e.change, e.actor) for e in entries] == [("created", "api:alice"), ("status", "consumer")]
    assert history_view(entries[1])["details"] == {"reason": "assigned", "order_id": "o-1"}
    delivery = await services.deliveries.history("o-1")
    assert [(e.change, e.actor) for e in delivery] == [("assigned", "consumer")]


async def test_set_actor_keeps_the_name_for_the_context() -> None:
    with acting_as("outer"):
        set_actor("x" * 500)
        assert current_actor() == "x" * 120
    assert current_actor() == "system"


async def test_unknown_courier_has_no_history(services: Services) -> None:
    with pytest.raises(CourierNotFound):
        await services.couriers.history(42)


async def test_unassign_expire_and_waiting_orders(services: Services, clock: FakeClock) -> None:
    await services.deliveries.assign(AssignOrder("w-1", wait=True))  # nobody yet: it waits
    await courier(services, 1)  # takes the waiting order at once
    await services.deliveries.unassign("w-1")
    await services.deliveries.assign(AssignOrder("o-2"))
    clock.advance(timedelta(hours=1))
    assert await services.deliveries.release_expired() == 1
    assert events(services) == [
        ("order.waiting", "w-1"),
        ("courier.created", "1"),
        ("delivery.assigned", "w-1"),
        ("courier.status_changed", "1"),
        ("delivery.unassigned", "w-1"),
        ("courier.status_changed", "1"),
        ("delivery.assigned", "o-2"),
        ("courier.status_changed", "1"),
        ("delivery.expired", "o-2"),
        ("courier.status_changed", "1"),
    ]
    assert (await services.deliveries.decision("w-1")).strategy is Strategy.WAITING_QUEUE
    taken = (await services.couriers.history(1))[1]  # created available, took w-1 at once
    assert (taken.to_state, taken.details) == ("busy", {"reason": "assigned", "order_id": "w-1"})
    assert history(services, Subject.DELIVERY, "w-1") == [
        ("waiting", None, "waiting"),
        ("assigned", None, "active"),
        ("unassigned", "active", "unassigned"),
    ]


async def test_couriers_registered_in_bulk_are_recorded_then_serve_the_queue(services: Services) -> None:
    await services.deliveries.assign(AssignOrder("w-1", wait=True))
    async with services.uow() as uow:  # what the CLI's import does with one batch
        created = [
            await uow.couriers.add(NewCourier("Ivan", f"+7999000{n:04d}", status, TransportType.CAR))
            for n, status in enumerate(
                [CourierStatus.PAUSED, CourierStatus.AVAILABLE, CourierStatus.AVAILABLE]
            )
        ]
        assert await services.waiting.registered(uow, created) == 1
        await uow.commit()
    assert events(services) == [
        ("order.waiting", "w-1"),
        ("courier.created", "1"),
        ("courier.created", "2"),
        ("courier.created", "3"),
        ("delivery.assigned", "w-1"),  # the first available courier of the batch took it
        ("courier.status_changed", "2"),
    ]
    assert history(services, Subject.COURIER, "2") == [
        ("created", None, "available"),
        ("status", "available", "busy"),
    ]
    async with services.uow() as uow:  # an empty queue: recorded, nobody served
        more = [
            await uow.couriers.add(
                NewCourier("Ivan", "+79990009999", CourierStatus.AVAILABLE, TransportType.CAR)
            )
        ]
        assert await services.waiting.registered(uow, more) == 0
        await uow.commit()
    assert events(services)[-1] == ("courier.created", "4")


async def test_operator_edits_are_events_and_history(services: Services) -> None:
    await services.deliveries.assign(AssignOrder("w-1", wait=True))
    await courier(services, 1, status="paused")
    await services.couriers.update(UpdateCourier(1, name="Pyotr"))
    await services.couriers.update(UpdateCourier(1, status="available"))  # and takes w-1
    await services.deliveries.complete("w-1")
    await services.couriers.delete(1)
    kinds = events(services)
    assert kinds[2:] == [
        ("courier.updated", "1"),
        ("delivery.assigned", "w-1"),
        ("courier.updated", "1"),
        ("courier.status_changed", "1"),
        ("courier.status_changed", "1"),
        ("delivery.completed", "w-1"),
        ("courier.status_changed", "1"),
        ("courier.deleted", "1"),
    ]
    updated = [services.store.state.outbox[p].data for p in sorted(services.store.state.outbox)]
    assert updated[2]["changed"] == ["name"] and updated[2]["name"] == "Pyotr"
    assert history(services, Subject.COURIER, "1") == [
        ("created", None, "paused"),
        ("status", "paused", "available"),
        ("status", "available", "busy"),
        ("status", "busy", "available"),
        ("deleted", "available", None),
    ]


async def test_decisions_say_why(services: Services) -> None:
    for n in range(4):
        await courier(services, n)
    await services.deliveries.assign(AssignOrder("a"))  # courier 1 now has a delivery
    await services.deliveries.complete("a")
    await services.deliveries.assign(AssignOrder("b", exclude_courier_ids=[2]))
    decision = await services.deliveries.decision("b")
    assert (decision.courier_id, decision.strategy, decision.tie_break) == (
        3,
        Strategy.LEAST_LOADED,
        "lowest_id",
    )
    # candidates: 1 (one delivery), 3 and 4 (none); 2 excluded; tied with 3: 3 and 4
    assert (decision.candidates, decision.tied, decision.courier_deliveries) == (3, 2, 0)
    assert decision.excluded == (2,) and not decision.candidates_capped
    await services.deliveries.assign(AssignOrder("c", courier_id=1))
    requested = decision_view(await services.deliveries.decision("c"))
    assert requested["strategy"] == "requested" and requested["courier_deliveries"] == 1
    with pytest.raises(DeliveryNotFound):
        await services.deliveries.decision("never")


async def test_candidates_are_counted_up_to_the_cap(services: Services) -> None:
    from courier_core.model import CANDIDATES_CAP

    for n in range(CANDIDATES_CAP + 2):
        await courier(services, n)
    await services.deliveries.assign(AssignOrder("a"))
    decision = await services.deliveries.decision("a")
    assert (decision.candidates, decision.candidates_capped) == (CANDIDATES_CAP, True)
    assert decision.tied == CANDIDATES_CAP


async def test_dry_run_changes_nothing(services: Services) -> None:
    await courier(services, 1)
    await courier(services, 2)
    before = (dict(services.store.state.outbox), dict(services.store.state.couriers))
    result = await services.deliveries.assign(AssignOrder("o-1", exclude_courier_ids=[1], dry_run=True))
    assert isinstance(result, DryRun) and result.courier_id == 2
    view = dry_run_view(result)
    assert view["dry_run"] is True and view["decision"]["candidates"] == 1
    assert (dict(services.store.state.outbox), dict(services.store.state.couriers)) == before
    with pytest.raises(DeliveryNotFound):
        await services.deliveries.get("o-1")
    real = await services.deliveries.assign(AssignOrder("o-1", exclude_courier_ids=[1]))
    assert isinstance(real, Assignment) and real.courier_id == result.courier_id
    assert services.metrics.assignments == {"assigned": 1}  # type: ignore[attr-defined]


async def test_dry_run_reports_refusals_without_counting_them(services: Services) -> None:
    with pytest.raises(NoAvailableCouriers):
        await services.deliveries.assign(AssignOrder("o-1", dry_run=True))
    with pytest.raises(InvalidInput):
        await services.deliveries.assign(AssignOrder("o-1", dry_run=True, wait=True))
    with pytest.raises(InvalidInput):
        async with services.uow() as uow:
            await services.deliveries.assign_in(uow, AssignOrder("o-1", dry_run=True))
    assert services.metrics.assignments == {}  # type: ignore[attr-defined]


async def test_handover_moves_the_delivery_and_keeps_the_deadline(services: Services) -> None:
    await courier(services, 1)
    assigned = await services.deliveries.assign(AssignOrder("o-1"))
    await courier(services, 2)
    assert isinstance(assigned, Assignment)
    moved = await services.deliveries.hand_over(HandOver(1, 2))
    assert (moved.order_id, moved.from_courier_id, moved.to_courier_id) == ("o-1", 1, 2)
    assert moved.deadline == assigned.deadline
    assert handover_view(moved)["courier_id"] == 2
    source, target = await services.couriers.get(1), await services.couriers.get(2)
    assert (source.status, source.total_deliveries) == (CourierStatus.AVAILABLE, 0)
    assert (target.status, target.total_deliveries) == (CourierStatus.BUSY, 1)
    delivery = await services.deliveries.get("o-1")
    assert (delivery.courier_id, delivery.deadline) == (2, assigned.deadline)
    assert events(services)[-3:] == [
        ("delivery.handed_over", "o-1"),
        ("courier.status_changed", "2"),
        ("courier.status_changed", "1"),
    ]
    handed = [services.store.state.outbox[p] for p in sorted(services.store.state.outbox)][-3]
    assert handed.data["from_courier_id"] == 1 and handed.data["courier_id"] == 2
    assert history(services, Subject.DELIVERY, "o-1")[-1] == ("handed_over", "active", "active")


async def test_handover_to_a_busy_courier_changes_nothing_while_orders_wait(services: Services) -> None:
    await courier(services, 1)
    await courier(services, 2)
    await services.deliveries.assign(AssignOrder("o-1"))
    await services.deliveries.assign(AssignOrder("o-2"))
    await services.deliveries.assign(AssignOrder("w-1", wait=True))  # nobody free: it waits
    before = (dict(services.store.state.outbox), dict(services.store.state.waiting))
    with pytest.raises(CourierNotAvailable):
        await services.deliveries.hand_over(HandOver(1, 2))
    assert (dict(services.store.state.outbox), dict(services.store.state.waiting)) == before
    await services.deliveries.complete("o-2")  # courier 2 is freed: the waiting order takes it
    assert (await services.deliveries.get("w-1")).courier_id == 2


async def test_handover_refusals(services: Services) -> None:
    await courier(services, 1)
    await courier(services, 2)
    with pytest.raises(InvalidInput) as same:
        await services.deliveries.hand_over(HandOver(1, 1))
    assert same.value.field == "to_courier_id"
    with pytest.raises(DeliveryNotFound):
        await services.deliveries.hand_over(HandOver(1, 2))
    with pytest.raises(CourierNotFound):
        await services.deliveries.hand_over(HandOver(9, 2))
    await services.deliveries.assign(AssignOrder("o-1"))
    with pytest.raises(CourierNotFound):
        await services.deliveries.hand_over(HandOver(1, 9))
    await services.couriers.update(UpdateCourier(2, status="paused"))
    before = dict(services.store.state.outbox)
    with pytest.raises(CourierNotAvailable):
        await services.deliveries.hand_over(HandOver(1, 2))
    assert services.store.state.outbox == before
    assert (await services.deliveries.get("o-1")).courier_id == 1


async def test_at_risk_lists_active_deliveries_past_most_of_their_window(
    services: Services, clock: FakeClock
) -> None:
    await courier(services, 1, transport="car")  # 5 minutes
    await courier(services, 2, transport="on_foot")  # 30 minutes
    await services.deliveries.assign(AssignOrder("car"))
    await services.deliveries.assign(AssignOrder("foot"))
    clock.advance(timedelta(minutes=4, seconds=30))  # 90 % of the car's window, 15 % of the walk
    page = await services.deliveries.list(ListDeliveries(status="active", at_risk=True))
    assert [d.order_id for d in page.items] == ["car"]
    assert [d.order_id for d in (await services.deliveries.list(ListDeliveries(at_risk=True))).items] == [
        "car"
    ]
    with pytest.raises(InvalidInput):
        await services.deliveries.list(ListDeliveries(status="completed", at_risk=True))


@pytest.mark.parametrize("frees", ["unassign", "complete", "expire"])
async def test_every_way_of_freeing_a_courier_gives_it_the_oldest_waiting_order(
    services: Services, clock: FakeClock, frees: str
) -> None:
    await courier(services, 1)
    await services.deliveries.assign(AssignOrder("o-1"))
    # (a handover cannot free a courier while an order waits: its target would have taken the order)
    await services.deliveries.assign(AssignOrder("w-1", wait=True))  # nobody free: it waits
    if frees == "expire":
        clock.advance(timedelta(hours=1))
        assert await services.deliveries.release_expired() == 1
    else:
        await getattr(services.deliveries, frees)("o-1")
    assert (await services.deliveries.get("w-1")).courier_id == 1
    assert await services.deliveries.waiting() == []
    # freed and given the order in one transaction: busy throughout, so no status change is
    # published, but its history records both steps
    assert [e for e in history(services, Subject.COURIER, "1") if e[0] == "status"] == [
        ("status", "available", "busy"),
        ("status", "busy", "available"),
        ("status", "available", "busy"),
    ]
    taken = (await services.couriers.history(1))[-1]
    assert taken.details == {"reason": "assigned", "order_id": "w-1"}
    freed = (await services.couriers.history(1))[-2]
    assert freed.details == {
        "reason": {"unassign": "unassigned", "complete": "completed"}.get(frees, "expired"),
        "order_id": "o-1",
    }
    assert events(services)[-1] == ("delivery.assigned", "w-1")
    assert [e[0] for e in events(services)].count("courier.status_changed") == 1  # the first assign
