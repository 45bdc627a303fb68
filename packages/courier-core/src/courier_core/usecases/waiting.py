"""The waiting queue's one rule: a courier that becomes free is given to the oldest waiting order,
in the same transaction (:class:`WaitingQueue`). Every path that frees or adds a courier calls it.
"""

from __future__ import annotations

from collections.abc import Sequence

from courier_core.model import (
    Courier,
    DeadlinePolicy,
    Decision,
    Delivery,
    Strategy,
)
from courier_core.ports import (
    Metrics,
    UnitOfWork,
    UnitOfWorkFactory,
)
from courier_core.usecases import journal


class WaitingQueue:
    """Gives freed couriers to waiting orders, oldest first, inside the caller's transaction."""

    def __init__(self, *, policy: DeadlinePolicy, metrics: Metrics) -> None:
        self._policy = policy
        self._metrics = metrics

    async def give_courier(self, uow: UnitOfWork, courier: Courier) -> Delivery | None:
        """Give the available ``courier`` to the oldest waiting order that still needs one.

        Takes the queue's shared lock first, so an order being queued at this moment (which takes it
        exclusively) is either seen here or sees this courier free: none waits next to a free courier.
        Orders that finished or got a delivery meanwhile leave the queue on the way. The caller saves
        the courier; returns the new delivery, if any.
        """
        if not courier.is_available:
            return None
        await uow.waiting.lock_queue(exclusive=False)
        while True:
            waiting = await uow.waiting.pop_oldest()  # its order is locked for us: no waiting on it
            if waiting is None:
                return None
            known = await uow.orders.get(waiting.order_id)
            if known is not None and known.is_finished:
                continue
            if await uow.deliveries.get(waiting.order_id) is not None:
                continue
            deliveries_before = courier.total_deliveries
            delivery = courier.start_delivery(waiting.order_id, now=await uow.now(), policy=self._policy)
            await uow.deliveries.add(delivery)
            decision = Decision(
                order_id=waiting.order_id,
                courier_id=courier.id,
                strategy=Strategy.WAITING_QUEUE,
                candidates=1,
                candidates_capped=False,
                courier_deliveries=deliveries_before,
                tie_break="oldest_waiting_order",
                tied=1,
                excluded=(),
                decided_at=delivery.assigned_at,
            )
            await journal.delivery_assigned(uow, delivery, decision)
            self._metrics.assignment("assigned")
            return delivery

    async def courier_freed(self, uow: UnitOfWork, courier: Courier) -> None:
        """``courier`` was freed (a delivery ended or moved away): it takes the oldest waiting order,
        if any, is stored, and what it recorded is journalled. Unassign, complete, expire and handover
        end here."""
        await self.give_courier(uow, courier)
        await uow.couriers.store(courier)  # nothing read back: it goes out with the commit
        await journal.courier_changed(uow, courier)

    async def registered(self, uow: UnitOfWork, created: Sequence[Courier]) -> int:
        """Couriers were just stored (a bulk import): record each as created, then give the available
        ones, in order, to the waiting orders until the queue is empty. Returns how many took an order."""
        for courier in created:
            await journal.courier_created(uow, courier)
        if not await uow.waiting.list(limit=1):
            return 0  # the common case: one read, then nothing to do
        served = 0
        for courier in created:
            if not courier.is_available:
                continue
            if await self.offer(uow, courier) is None:
                break  # the queue is empty
            served += 1
        return served

    async def offer(self, uow: UnitOfWork, courier: Courier) -> Courier | None:
        """An available ``courier`` (just created or imported, or found free by a sweep) takes the
        oldest waiting order, if any; then it is saved and its change to busy recorded. Returns it as
        saved, or ``None`` when it took nothing (the queue is empty, or it is not available)."""
        given = await self.give_courier(uow, courier)
        if given is None:
            return None
        saved = await uow.couriers.save(courier)
        await journal.courier_changed(uow, courier, saved=saved)
        return saved


class WaitingSweeper:
    """Gives available couriers to waiting orders that a race left waiting.

    Assignment skips couriers locked by other transactions, so an order can join the queue while a
    courier is being freed by a transaction that cannot see it yet; both commit, and the order would
    wait for the *next* freed courier. A periodic sweep closes that gap (idempotent, safe anywhere).
    """

    def __init__(self, *, uow: UnitOfWorkFactory, waiting: WaitingQueue, limit: int = 100) -> None:
        self._uow = uow
        self._waiting = waiting
        self._limit = limit

    async def sweep(self) -> int:
        """Assign up to ``limit`` waiting orders in one transaction; return how many."""
        assigned = 0
        async with self._uow() as uow:
            while assigned < self._limit and await uow.waiting.list(limit=1):
                picked = await uow.couriers.pick_available()
                if picked is None:
                    break
                if await self._waiting.offer(uow, picked.courier) is None:
                    break
                assigned += 1
            await uow.commit()
        return assigned
