"""Reconciliation end to end: the simulator over real gRPC, real PostgreSQL, the real assign use case."""

from __future__ import annotations

from datetime import timedelta

import pytest

from courier_adapters.containers import Adapters, UseCases
from courier_core.errors import DeliveryNotFound, DependencyUnavailable
from courier_core.metrics import NullMetrics
from courier_core.usecases import CreateCourier
from courier_core.usecases.reconcile import CURSOR, Reconciler
from courier_order_sim.faults import FaultMode
from tests.integration.grpc.conftest import GatewayFactory

pytestmark = pytest.mark.integration


@pytest.fixture
def reconciler(containers: tuple[Adapters, UseCases], make_gateway: GatewayFactory) -> Reconciler:
    adapters, use_cases = containers
    return Reconciler(
        uow=adapters.uow(),
        gateway=make_gateway(),
        deliveries=use_cases.deliveries(),
        lookback=timedelta(hours=1),
        overlap=timedelta(minutes=5),
        metrics=NullMetrics(),
    )


async def add_couriers(use_cases: UseCases, count: int) -> None:
    for n in range(count):
        await use_cases.couriers().create(
            CreateCourier(name="Anna", phone=f"+7999111{n:04d}", status="available", transport_type="scooter")
        )


async def test_assigns_a_missed_order_past_created_once_across_runs_and_never_a_finished_one(
    simulator, reconciler, use_cases, containers
):
    await add_couriers(use_cases, 3)
    missed = await simulator.create_order()
    await simulator.set_status(missed.id, "pending")
    await simulator.set_status(missed.id, "cooking")  # its "created" is long gone
    done = await simulator.create_order()
    await simulator.set_status(done.id, "completed")
    gone = await simulator.create_order(status="deleted")

    reports = [await reconciler.run_once() for _ in range(3)]

    assert [r.assigned for r in reports] == [1, 0, 0]
    assert [r.finished for r in reports] == [2, 2, 2]
    assert [r.already_done for r in reports] == [0, 1, 1]
    delivery = await use_cases.deliveries().get(missed.id)
    assert delivery.is_active
    for finished in (done, gone):
        with pytest.raises(DeliveryNotFound):
            await use_cases.deliveries().get(finished.id)
    adapters = containers[0]
    async with adapters.uow()() as uow:
        assert (await uow.orders.get(missed.id)).status == "cooking"
        assert (await uow.orders.get(done.id)).is_finished
        assert await uow.cursors.get(CURSOR) == max(o.created_at for o in (missed, done, gone))


async def test_an_order_without_a_free_courier_waits_and_gets_the_next_one(simulator, reconciler, use_cases):
    order = await simulator.create_order(status="confirmed")
    first = await reconciler.run_once()
    assert first.queued == 1
    assert [w.order_id for w in await use_cases.deliveries().waiting()] == [order.id]
    await add_couriers(use_cases, 1)
    assert (await use_cases.deliveries().get(order.id)).is_active
    second = await reconciler.run_once()
    assert (second.queued, second.assigned, second.already_done) == (0, 0, 1)


async def test_an_order_created_before_the_look_back_is_left_alone(simulator, reconciler, use_cases):
    await add_couriers(use_cases, 1)
    old = await simulator.create_order(status="pending")
    old.created_at -= timedelta(hours=2)
    report = await reconciler.run_once()
    assert report.seen == 0
    with pytest.raises(DeliveryNotFound):
        await use_cases.deliveries().get(old.id)


async def test_an_unavailable_order_service_fails_the_run_without_moving_the_cursor(
    simulator, reconciler, containers
):
    await simulator.create_order(status="pending")
    simulator.faults.inject(FaultMode.UNAVAILABLE)
    with pytest.raises(DependencyUnavailable):
        await reconciler.run_once()
    async with containers[0].uow()() as uow:
        assert await uow.cursors.get(CURSOR) is None
