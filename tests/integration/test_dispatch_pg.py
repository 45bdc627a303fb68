"""Dispatch on real PostgreSQL: the assignment rule, expiry on the database clock, and concurrency."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from datetime import timedelta

import pytest

from courier_adapters.postgres import invariants
from courier_adapters.postgres.database import PostgresDatabase
from courier_adapters.postgres.uow import PostgresUnitOfWorkFactory, journal_readers, read_repositories
from courier_core import Assignment, AssignOrder, CreateCourier, DeadlinePolicy, UpdateCourier
from courier_core.errors import (
    CourierExists,
    DeliveryExists,
    DeliveryNotFound,
    DependencyUnavailable,
    NoAvailableCouriers,
)
from courier_core.metrics import NullMetrics
from courier_core.model import CourierStatus, DeliveryStatus
from courier_core.usecases import CourierService, DeliveryService, WaitingQueue

pytestmark = pytest.mark.integration
PHONES = itertools.count(1)


def services(database: PostgresDatabase, policy: DeadlinePolicy | None = None):
    policy = policy or DeadlinePolicy()
    uow = PostgresUnitOfWorkFactory(database)
    couriers, deliveries, queue = read_repositories(database)
    _, history, decisions = journal_readers(database)
    waiting = WaitingQueue(policy=policy, metrics=NullMetrics())
    return (
        CourierService(uow=uow, couriers=couriers, waiting=waiting, history=history),
        DeliveryService(
            uow=uow,
            deliveries=deliveries,
            queue=queue,
            waiting=waiting,
            policy=policy,
            metrics=NullMetrics(),
            decisions=decisions,
            history=history,
        ),
    )


async def add(couriers: CourierService, count: int, status: str = "available") -> list[int]:
    created = []
    for _ in range(count):
        phone = f"+7{next(PHONES):010d}"
        courier = await couriers.create(
            CreateCourier(name="Ivan", phone=phone, status=status, transport_type="car")
        )
        created.append(courier.id)
    return created


async def test_assigns_least_loaded_available_courier_on_postgres(database) -> None:
    couriers, deliveries = services(database)
    ids = await add(couriers, 3)
    await add(couriers, 1, status="paused")
    picks = [(await deliveries.assign(AssignOrder(order_id=f"o{i}"))).courier_id for i in range(3)]
    assert picks == ids  # ties by lowest id
    await deliveries.complete("o2")
    await deliveries.unassign("o0")
    assert (await deliveries.assign(AssignOrder(order_id="o3"))).courier_id == ids[0]  # 0 so far
    assert (await deliveries.assign(AssignOrder(order_id="o4"))).courier_id == ids[2]
    with pytest.raises(NoAvailableCouriers):  # paused and busy are never picked
        await deliveries.assign(AssignOrder(order_id="o5"))
    assert invariants.check(database.url) == []


async def test_refuses_duplicates_of_orders_and_phones(database) -> None:
    couriers, deliveries = services(database)
    await add(couriers, 2)
    await deliveries.assign(AssignOrder(order_id="o1"))
    with pytest.raises(DeliveryExists):
        await deliveries.assign(AssignOrder(order_id="o1"))
    first = await couriers.get(1)
    with pytest.raises(CourierExists):
        await couriers.create(CreateCourier(name="Petr", phone=first.phone, status="available"))
    with pytest.raises(CourierExists):
        await couriers.update(UpdateCourier(id=2, phone=first.phone))


async def test_expires_on_the_database_clock_and_frees_the_courier(database) -> None:
    couriers, deliveries = services(database, DeadlinePolicy(car=timedelta(milliseconds=200)))
    [courier_id] = await add(couriers, 1)
    assignment = await deliveries.assign(AssignOrder(order_id="o1"))
    assert isinstance(assignment, Assignment)
    assert await deliveries.release_expired() == 0
    await asyncio.sleep(0.4)
    assert await deliveries.release_expired() == 1
    assert (await deliveries.get("o1")).status is DeliveryStatus.EXPIRED
    assert (await couriers.get(courier_id)).status is CourierStatus.AVAILABLE
    assert (await deliveries.complete("o1")).status == "expired"


async def test_waiting_order_is_served_by_the_next_courier_freed(database) -> None:
    couriers, deliveries = services(database)
    await add(couriers, 1)
    await deliveries.assign(AssignOrder(order_id="o1"))
    await deliveries.assign(AssignOrder(order_id="w1", wait=True))
    await deliveries.complete("o1")
    assert (await deliveries.get("w1")).is_active
    assert await deliveries.waiting() == []


async def test_concurrent_assigns_never_double_book(database) -> None:
    couriers, deliveries = services(database)
    await add(couriers, 5)

    async def attempt(i: int) -> str:
        try:
            await deliveries.assign(AssignOrder(order_id=f"order-{i}"))
        except NoAvailableCouriers:
            return "none"
        return "assigned"

    results = await asyncio.gather(*(attempt(i) for i in range(60)))
    assert results.count("assigned") == 5
    assert invariants.check(database.url) == []


async def test_concurrent_assigns_of_one_order_serialise_on_the_order(database) -> None:
    couriers, deliveries = services(database)
    await add(couriers, 10)

    async def attempt() -> str:
        try:
            await deliveries.assign(AssignOrder(order_id="the-order"))
        except DeliveryExists:
            return "exists"
        return "assigned"

    results = await asyncio.gather(*(attempt() for _ in range(30)))
    assert sorted(set(results)) == ["assigned", "exists"]  # never a false "no available couriers"
    assert results.count("assigned") == 1


async def test_churn_of_assign_complete_unassign_and_expiry_keeps_invariants(database) -> None:
    couriers, deliveries = services(database, DeadlinePolicy(car=timedelta(milliseconds=50)))
    await add(couriers, 4)

    async def worker(w: int) -> None:
        for i in range(25):
            order = f"w{w}-{i}"
            try:
                result = await deliveries.assign(AssignOrder(order_id=order, wait=i % 3 == 0))
            except NoAvailableCouriers:
                continue
            if not isinstance(result, Assignment):
                continue  # queued: a later freed courier takes it
            if i % 2:
                await deliveries.complete(order)
            elif i % 5 == 0:
                with contextlib.suppress(DeliveryNotFound):  # it may have expired meanwhile
                    await deliveries.unassign(order)

    async def reaper() -> None:
        for _ in range(20):
            await deliveries.release_expired()
            await asyncio.sleep(0.02)

    await asyncio.gather(*(worker(w) for w in range(6)), reaper())
    assert invariants.check(database.url) == []


async def test_an_unreachable_database_is_dependency_unavailable(tmp_path) -> None:
    db = PostgresDatabase(f"postgresql://postgres@/courier?host={tmp_path}", acquire_timeout=0.5)
    with pytest.raises(DependencyUnavailable) as err:
        await db.open(timeout=0.5)
    assert str(tmp_path) not in err.value.message
    await db.close()
