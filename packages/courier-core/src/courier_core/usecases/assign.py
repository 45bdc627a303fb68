"""Assigning an order to a courier (least-loaded, or the one asked for), its dry run, and waiting."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from courier_core.errors import (
    CourierNotAvailable,
    CourierNotFound,
    DeliveryExists,
    InvalidInput,
    NoAvailableCouriers,
    OrderFinished,
)
from courier_core.model import (
    CANDIDATES_CAP,
    Assignment,
    Courier,
    DeadlinePolicy,
    Decision,
    DryRun,
    Picked,
    Queued,
    Strategy,
    validate_courier_id,
    validate_new_order_id,
)
from courier_core.ports import (
    Metrics,
    UnitOfWork,
    UnitOfWorkFactory,
)
from courier_core.usecases import journal
from courier_core.usecases.transactions import in_transaction


@dataclass(frozen=True, slots=True)
class AssignOrder:
    """Assign ``order_id``: to ``courier_id`` when given, else to the least-loaded courier.

    With ``wait=True`` an order that finds no courier free joins the waiting queue instead of failing.
    """

    order_id: object
    courier_id: object = None
    exclude_courier_ids: Sequence[object] = field(default_factory=tuple)
    wait: bool = False
    dry_run: bool = False


def _arguments(command: AssignOrder) -> tuple[str, int | None, tuple[int, ...]]:
    """The order, the courier asked for (if any) and those excluded, checked."""
    order_id = validate_new_order_id(command.order_id)
    chosen = None if command.courier_id is None else validate_courier_id(command.courier_id, "courier_id")
    exclude = tuple(validate_courier_id(c, "exclude_courier_ids") for c in command.exclude_courier_ids)
    if command.wait and (chosen is not None or exclude):
        # The queue gives an order the next courier freed, whoever it is.
        raise InvalidInput("wait", "wait cannot be combined with courier_id or exclude_courier_ids")
    return order_id, chosen, exclude


async def _ensure_assignable(uow: UnitOfWork, order_id: str) -> None:
    """Lock the order, then refuse it when it finished (``OrderFinished``) or has a delivery
    (``DeliveryExists``)."""
    locked = await uow.deliveries.lock_order(order_id)
    if locked.known is not None and locked.known.is_finished:
        raise OrderFinished()
    if locked.delivery is not None:
        raise DeliveryExists()


def _decide(
    order_id: str, picked: Picked, *, chosen: int | None, exclude: tuple[int, ...], now: datetime
) -> Decision:
    """Why ``picked`` gets the order: the strategy, the candidates seen, the tie-break."""
    return Decision(
        order_id=order_id,
        courier_id=picked.courier.id,
        strategy=Strategy.LEAST_LOADED if chosen is None else Strategy.REQUESTED,
        candidates=min(picked.candidates, CANDIDATES_CAP),
        candidates_capped=picked.candidates > CANDIDATES_CAP,
        courier_deliveries=picked.courier.total_deliveries,
        tie_break="lowest_id" if chosen is None else "none",
        tied=min(picked.tied, CANDIDATES_CAP),
        excluded=exclude,
        decided_at=now,
    )


class Assignments:
    """Assign an order: choose a courier, decide (the why that is recorded), apply; or preview that."""

    def __init__(self, *, uow: UnitOfWorkFactory, policy: DeadlinePolicy, metrics: Metrics) -> None:
        self._uow = uow
        self._policy = policy
        self._metrics = metrics

    async def assign(self, command: AssignOrder) -> Assignment | Queued | DryRun:
        """Assign an order in its own transaction (see :meth:`assign_in`); a dry run is :meth:`preview`."""
        if command.dry_run:
            return await self.preview(command)
        return await in_transaction(self._uow, lambda uow: self.assign_in(uow, command))

    async def preview(self, command: AssignOrder) -> DryRun:
        """Who would be assigned the order, and why, without assigning it: the same checks and choice
        as :meth:`assign_in`, in a transaction that is rolled back. Counts nothing in the metrics."""
        order_id, chosen, exclude = _arguments(command)
        if command.wait:
            raise InvalidInput("wait", "wait cannot be combined with dry_run")
        async with self._uow() as uow:  # leaving without commit rolls back
            await _ensure_assignable(uow, order_id)
            picked = await self._choose(uow, chosen=chosen, exclude=exclude)
            if picked is None:
                raise NoAvailableCouriers()
            decision = _decide(order_id, picked, chosen=chosen, exclude=exclude, now=await uow.now())
            courier = picked.courier
            return DryRun(
                order_id=order_id,
                courier_id=courier.id,
                transport_type=courier.transport_type,
                deadline=self._policy.deadline(courier.transport_type, decision.decided_at),
                decision=decision,
            )

    async def assign_in(self, uow: UnitOfWork, command: AssignOrder) -> Assignment | Queued:
        """Assign an order inside ``uow``'s transaction, serialised on the order: choose a courier,
        decide (the recorded why), apply.

        Raises ``OrderFinished``, ``DeliveryExists``, ``NoAvailableCouriers`` (unless ``wait``) or
        ``CourierNotAvailable`` (a chosen courier that is not available); nothing is written then.
        """
        if command.dry_run:
            raise InvalidInput("dry_run", "a dry run has no transaction of its own to join")
        order_id, chosen, exclude = _arguments(command)
        try:
            await _ensure_assignable(uow, order_id)
        except OrderFinished:
            self._metrics.assignment("finished")
            raise
        except DeliveryExists:
            self._metrics.assignment("exists")
            raise
        picked = await self._choose(uow, chosen=chosen, exclude=exclude)
        if picked is None and command.wait:
            # Exclusive against couriers being freed (see WaitingQueue.give_courier): look once more
            # under the lock, then queue; a courier freed after this will see the order.
            await uow.waiting.lock_queue(exclusive=True)
            picked = await uow.couriers.pick_available()
            if picked is None:
                waiting = await uow.waiting.add(order_id)
                await journal.order_waiting(uow, waiting)
                self._metrics.assignment("waiting")
                return Queued(order_id=order_id, since=waiting.since)
        if picked is None:
            self._metrics.assignment("no_courier")
            raise NoAvailableCouriers()
        decision = _decide(order_id, picked, chosen=chosen, exclude=exclude, now=await uow.now())
        return await self._apply(uow, picked.courier, decision)

    async def _apply(self, uow: UnitOfWork, courier: Courier, decision: Decision) -> Assignment:
        delivery = courier.start_delivery(decision.order_id, now=decision.decided_at, policy=self._policy)
        # Nothing is read back: the three writes go out with the journal and COMMIT, in one trip.
        await uow.deliveries.add(delivery)
        await uow.couriers.store(courier)
        await uow.waiting.discard(decision.order_id)  # it may have waited: an assigned order waits no more
        await journal.delivery_assigned(uow, delivery, decision)
        await journal.courier_changed(uow, courier)
        self._metrics.assignment("assigned")
        return Assignment(
            courier_id=courier.id,
            order_id=decision.order_id,
            transport_type=courier.transport_type,
            deadline=delivery.deadline,
        )

    async def _choose(self, uow: UnitOfWork, *, chosen: int | None, exclude: Sequence[int]) -> Picked | None:
        if chosen is None:
            picked = await uow.couriers.pick_available(exclude=exclude)
            if picked is None:  # every candidate locked (being edited or freed)? wait for the best
                picked = await uow.couriers.pick_available(exclude=exclude, wait=True)
            return picked
        courier = await uow.couriers.get(chosen, for_update=True)
        if courier is None:
            raise CourierNotFound()
        if not courier.is_available or chosen in exclude:
            raise CourierNotAvailable()
        return Picked(courier=courier, candidates=1, tied=1)
