"""Races found in review, forced on real PostgreSQL: no deadlock, no lost wake-up, no order left waiting.

Hooks pause one transaction at a chosen point while another runs (bounded waits: a transaction that
must legitimately wait for the paused one is let through after a while).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import pytest

from courier_adapters.postgres import invariants
from courier_adapters.postgres import repositories as repos
from courier_adapters.postgres.database import PostgresDatabase
from courier_core import Assignment, AssignOrder, CreateCourier, UpdateCourier
from courier_core.errors import DeliveryExists, OrderFinished
from courier_core.model import KnownOrder
from tests.integration.test_dispatch_pg import services

pytestmark = pytest.mark.integration
Hook = Callable[..., Awaitable[None]]
HOOKS: contextvars.ContextVar[dict[tuple[str, str], Hook] | None] = contextvars.ContextVar(
    "hooks", default=None
)


@pytest.fixture(autouse=True)
def hooked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let a test run code before or after some repository methods, in its own task only."""
    for cls, name in (
        (repos.PostgresDeliveryRepository, "lock_order"),
        (repos.PostgresWaitingOrderRepository, "pop_oldest"),
    ):
        original = getattr(cls, name)

        def wrapper(original: Any = original, name: str = name) -> Any:
            async def call(self: Any, *args: Any, **kwargs: Any) -> Any:
                hooks = HOOKS.get() or {}
                if ("before", name) in hooks:
                    await hooks[("before", name)](*args)
                result = await original(self, *args, **kwargs)
                if ("after", name) in hooks:
                    await hooks[("after", name)](result)
                return result

            return call

        monkeypatch.setattr(cls, name, wrapper())


async def pause(event: asyncio.Event, seconds: float = 1.0) -> None:
    with contextlib.suppress(TimeoutError):  # past it, the other transaction waits for us: go on
        await asyncio.wait_for(event.wait(), seconds)


def waiting(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT order_id FROM waiting_orders ORDER BY since")]


async def test_no_deadlock_when_a_resumed_courier_and_a_named_assign_meet(database: PostgresDatabase) -> None:
    couriers, deliveries = services(database)
    courier = await couriers.create(CreateCourier(name="Ivan", phone="+79990000001", status="paused"))
    await deliveries.assign(AssignOrder("W", wait=True))
    go = asyncio.Event()

    async def resume() -> object:
        HOOKS.set({("after", "pop_oldest"): lambda _: pause(go)})
        return await couriers.update(UpdateCourier(id=courier.id, status="available"))

    async def assign_named() -> object:
        await asyncio.sleep(0.2)
        try:
            return await deliveries.assign(AssignOrder("W", courier_id=courier.id))
        except DeliveryExists as exc:  # the resumed courier took W first: fine
            return exc
        finally:
            go.set()

    results = await asyncio.gather(resume(), assign_named(), return_exceptions=True)
    assert not [r for r in results if isinstance(r, BaseException) and not isinstance(r, DeliveryExists)]
    assert (await deliveries.get("W")).courier_id == courier.id
    assert invariants.check(database.url) == []


async def test_no_deadlock_when_a_waiting_order_is_resent_while_a_courier_frees(
    database: PostgresDatabase,
) -> None:
    couriers, deliveries = services(database)
    await couriers.create(CreateCourier(name="Ivan", phone="+79990000001", status="available"))
    await deliveries.assign(AssignOrder("V"))
    await deliveries.assign(AssignOrder("W", wait=True))
    go = asyncio.Event()

    async def complete() -> object:
        HOOKS.set({("after", "pop_oldest"): lambda _: pause(go)})
        return await deliveries.complete("V")

    async def resend() -> object:
        await asyncio.sleep(0.2)
        try:
            return await deliveries.assign(AssignOrder("W", wait=True))
        except DeliveryExists as exc:
            return exc
        finally:
            go.set()

    results = await asyncio.gather(complete(), resend(), return_exceptions=True)
    assert not [r for r in results if isinstance(r, BaseException) and not isinstance(r, DeliveryExists)]
    assert (await deliveries.get("W")).is_active
    assert waiting(database.url) == []
    assert invariants.check(database.url) == []


async def test_no_order_waits_next_to_a_courier_freed_at_the_same_moment(database: PostgresDatabase) -> None:
    couriers, deliveries = services(database)
    courier = await couriers.create(CreateCourier(name="Ivan", phone="+79990000001", status="available"))
    await deliveries.assign(AssignOrder("V"))
    popped_empty, go = asyncio.Event(), asyncio.Event()

    async def after_pop(result: object) -> None:
        if result is None:
            popped_empty.set()
            await pause(go)

    async def complete() -> object:
        HOOKS.set({("after", "pop_oldest"): after_pop})
        return await deliveries.complete("V")

    async def queue_new_order() -> object:
        await popped_empty.wait()  # the freeing transaction saw an empty queue and is not done yet
        try:
            return await deliveries.assign(AssignOrder("X", wait=True))
        finally:
            go.set()

    _, queued = await asyncio.gather(complete(), queue_new_order())
    assert isinstance(queued, Assignment) or (await deliveries.get("X")).courier_id == courier.id
    assert waiting(database.url) == []
    later = await deliveries.assign(AssignOrder("Y", wait=True))  # Y cannot jump ahead of X
    assert not isinstance(later, Assignment)


async def test_an_assigned_order_leaves_the_queue_and_unassign_does_not_hand_it_back(
    database: PostgresDatabase,
) -> None:
    couriers, deliveries = services(database)
    await couriers.create(CreateCourier(name="Ivan", phone="+79990000001", status="available"))
    with psycopg.connect(database.url, autocommit=True) as conn:  # left waiting by some past race
        conn.execute("INSERT INTO waiting_orders (order_id) VALUES ('W')")
    await deliveries.assign(AssignOrder("W"))
    assert waiting(database.url) == []
    await deliveries.unassign("W")
    assert waiting(database.url) == []
    with pytest.raises(Exception, match="delivery not found"):
        await deliveries.get("W")


async def test_a_courier_being_edited_is_waited_for_not_reported_missing(database: PostgresDatabase) -> None:
    couriers, deliveries = services(database)
    courier = await couriers.create(CreateCourier(name="Ivan", phone="+79990000001", status="available"))
    uow = deliveries._uow()  # an operator's edit holds the courier's row lock for a moment
    async with uow:
        await uow.couriers.get(courier.id, for_update=True)
        assign = asyncio.create_task(deliveries.assign(AssignOrder("A")))
        await asyncio.sleep(0.3)
        assert not assign.done()
        await uow.commit()
    assert (await assign).courier_id == courier.id  # type: ignore[union-attr]


async def test_a_finished_order_stays_finished_whatever_arrives_later(database: PostgresDatabase) -> None:
    couriers, deliveries = services(database)
    await couriers.create(CreateCourier(name="Ivan", phone="+79990000001", status="available"))
    async with deliveries._uow() as uow:
        now = await uow.now()
        await uow.orders.record(KnownOrder("F", "cancelled", now))
        assert not await uow.orders.record(KnownOrder("F", "created", now.replace(year=now.year + 1)))
        await uow.commit()
    with pytest.raises(OrderFinished):
        await deliveries.assign(AssignOrder("F"))


async def test_a_dead_pooled_connection_is_replaced_without_failing_the_request(
    database: PostgresDatabase,
) -> None:
    couriers, _ = services(database)
    courier = await couriers.create(CreateCourier(name="Ivan", phone="+79990000001", status="available"))
    with psycopg.connect(database.url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    for _ in range(3):  # every pooled connection was killed: each is replaced on first use
        assert (await couriers.get(courier.id)).id == courier.id
    async with services(database)[1]._uow() as uow:
        assert await uow.couriers.get(courier.id) is not None


async def test_options_in_the_url_are_kept(database_url: str) -> None:
    joint = "&" if "?" in database_url else "?"  # COURIER_TEST_DATABASE_URL may have no query
    db = PostgresDatabase(f"{database_url}{joint}options=-c%20search_path%3Dcourier_x%2Cpublic")
    await db.open()
    try:
        async with db.pool.connection() as conn:
            row = await (await conn.execute("SHOW search_path")).fetchone()
            timezone = await (await conn.execute("SHOW timezone")).fetchone()
    finally:
        await db.close()
    assert row is not None and row[0].replace(" ", "") == "courier_x,public"
    assert timezone == ("UTC",)
