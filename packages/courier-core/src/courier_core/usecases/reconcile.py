"""Reconciliation: the periodic catch-up with the order service (``order-service.md``).

Each run asks the order service for the orders created since ``cursor - overlap`` (the cursor is the
latest ``created_at`` already seen, kept in the database; on the first run it is now minus ``lookback``)
and assigns every order that is not finished, has no delivery and is not waiting, whatever its
non-finished status, so an order whose ``created`` event was lost still gets a courier. It assigns
through :meth:`DeliveryService.assign_in` like every other path, one transaction per order so that one
failure does not undo the others, and records the status the order service reported as known news.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from courier_core.errors import CourierError, DeliveryExists, InvalidInput, OrderFinished
from courier_core.model import KnownOrder, OrderInfo, Queued, is_finished_status, validate_order_id
from courier_core.ports import Metrics, OrderGateway, UnitOfWork, UnitOfWorkFactory
from courier_core.usecases.dispatch import AssignOrder, DeliveryService

CURSOR = "reconcile"
log = logging.getLogger("courier.reconcile")


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    """What one run did: orders ``seen``, and what became of them.

    ``invalid`` orders (an id courier cannot store) are skipped for good; ``failed`` ones (a transient
    error) hold the cursor back so that the next run tries them again.
    """

    since: datetime
    seen: int = 0
    assigned: int = 0
    queued: int = 0
    finished: int = 0
    already_done: int = 0
    invalid: int = 0
    failed: int = 0
    cursor: datetime | None = None


@dataclass(slots=True)
class _Tally:
    assigned: int = 0
    queued: int = 0
    finished: int = 0
    already_done: int = 0
    invalid: int = 0
    failed: int = 0

    def add(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)


class Reconciler:
    """Runs reconciliation passes; schedule :meth:`run_once` (the consumer does, every 30 s by default)."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        gateway: OrderGateway,
        deliveries: DeliveryService,
        lookback: timedelta,
        overlap: timedelta,
        metrics: Metrics,
    ) -> None:
        if lookback < timedelta(0) or overlap < timedelta(0):
            raise ValueError("lookback and overlap must not be negative")
        self._uow = uow
        self._gateway = gateway
        self._deliveries = deliveries
        self._lookback = lookback
        self._overlap = overlap
        self._metrics = metrics

    async def run_once(self) -> ReconcileReport:
        """One pass. Raises ``DependencyUnavailable`` when the order service or database cannot answer.

        The cursor moves to the latest ``created_at`` seen, but never past an order that failed, so
        the next pass tries that one again.
        """
        since = await self._since()
        orders = sorted(await self._gateway.list_orders(since=since), key=lambda o: o.created_at)
        tally = _Tally()
        first_failure: datetime | None = None
        for order in orders:
            outcome = await self._reconcile(order)
            tally.add(outcome)
            if outcome == "failed" and first_failure is None:
                first_failure = order.created_at
        cursor = first_failure or (orders[-1].created_at if orders else None)
        if cursor is not None:
            await self._advance(cursor)
        report = ReconcileReport(since=since, seen=len(orders), cursor=cursor, **asdict(tally))
        log.info("reconciliation pass", extra={"report": report})
        return report

    async def _since(self) -> datetime:
        async with self._uow() as uow:
            cursor = await uow.cursors.get(CURSOR)
            if cursor is None:
                return await uow.now() - self._lookback
        return cursor - self._overlap

    async def _advance(self, position: datetime) -> None:
        async with self._uow() as uow:
            await uow.cursors.advance(CURSOR, position)
            await uow.commit()

    async def _reconcile(self, order: OrderInfo) -> str:
        """Bring one order in line in its own transaction; return what happened to it."""
        try:
            validate_order_id(order.order_id)
        except InvalidInput:
            log.warning("reconciliation skips an invalid order id", extra={"order_id": order.order_id[:300]})
            return "invalid"
        try:
            async with self._uow() as uow:
                outcome = await self._reconcile_in(uow, order)
                await uow.commit()
        except InvalidInput as exc:  # e.g. a status no order can have: skipped for good
            log.warning(
                "reconciliation skips an invalid order",
                extra={"order_id": order.order_id, "detail": str(exc)},
            )
            return "invalid"
        except CourierError as exc:
            # One order failing (a bad id, the database for a moment) must not stop the others.
            log.warning(
                "reconciliation of an order failed",
                extra={"order_id": order.order_id, "error": type(exc).__name__, "detail": str(exc)},
            )
            return "failed"
        return outcome

    async def _reconcile_in(self, uow: UnitOfWork, order: OrderInfo) -> str:
        locked = await uow.deliveries.lock_order(order.order_id)
        # A finished order stays finished, even when the order service now reports a later unfinished
        # status: that news is not recorded (recording keeps the newest news, finished or not).
        known = locked.known
        if known is not None and known.is_finished:
            return "finished"
        await uow.orders.record(
            KnownOrder(order.order_id, order.status, order.updated_at or order.created_at)
        )
        if is_finished_status(order.status):
            return "finished"
        if await uow.deliveries.get(order.order_id) is not None or await uow.waiting.contains(order.order_id):
            return "already_done"
        try:
            result = await self._deliveries.assign_in(uow, AssignOrder(order_id=order.order_id, wait=True))
        except (DeliveryExists, OrderFinished):
            return "already_done"
        return "queued" if isinstance(result, Queued) else "assigned"
