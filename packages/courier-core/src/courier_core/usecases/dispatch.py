"""Dispatch as one service for the apps: each operation lives in its own module, this wires them.

- :mod:`.assign` — assign an order (choose → decide → apply), its dry run (:meth:`DeliveryService.preview`),
  and waiting when nobody is free;
- :mod:`.handover` — a delivery moved to another courier;
- :mod:`.finish` — unassign, complete, expire;
- :mod:`.queries` — reads;
- :mod:`.waiting` — the one rule they share: a courier that becomes free takes the oldest waiting order.
"""

from __future__ import annotations

from courier_core.model import (
    Assignment,
    DeadlinePolicy,
    Decision,
    Delivery,
    DeliveryCursor,
    DeliveryOutcome,
    DryRun,
    Handover,
    HistoryEntry,
    Page,
    Queued,
    WaitingOrder,
)
from courier_core.ports import (
    DecisionRepository,
    DeliveryRepository,
    HistoryRepository,
    Metrics,
    UnitOfWork,
    UnitOfWorkFactory,
    WaitingOrderRepository,
)
from courier_core.usecases.assign import Assignments, AssignOrder
from courier_core.usecases.finish import EXPIRY_BATCH, Finishing
from courier_core.usecases.handover import HandOver, Handovers
from courier_core.usecases.queries import DeliveryQueries, ListDeliveries
from courier_core.usecases.waiting import WaitingQueue

__all__ = [
    "EXPIRY_BATCH",
    "AssignOrder",
    "DeliveryService",
    "HandOver",
    "ListDeliveries",
    "WaitingQueue",
]


class DeliveryService:
    """Assignment of orders to couriers and the life of a delivery (each operation in its module)."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        deliveries: DeliveryRepository,
        queue: WaitingOrderRepository,
        waiting: WaitingQueue,
        policy: DeadlinePolicy,
        metrics: Metrics,
        decisions: DecisionRepository,
        history: HistoryRepository,
    ) -> None:
        self._uow = uow
        self._assignments = Assignments(uow=uow, policy=policy, metrics=metrics)
        self._handovers = Handovers(uow=uow, waiting=waiting, policy=policy)
        self._finishing = Finishing(uow=uow, waiting=waiting, metrics=metrics)
        self._queries = DeliveryQueries(
            deliveries=deliveries, queue=queue, decisions=decisions, history=history
        )

    async def assign(self, command: AssignOrder) -> Assignment | Queued | DryRun:
        """Assign an order in its own transaction; a dry run is :meth:`preview`."""
        return await self._assignments.assign(command)

    async def preview(self, command: AssignOrder) -> DryRun:
        """Who would be assigned the order, and why, without assigning it."""
        return await self._assignments.preview(command)

    async def assign_in(self, uow: UnitOfWork, command: AssignOrder) -> Assignment | Queued:
        """Assign an order inside ``uow``'s transaction (the consumer's, say)."""
        return await self._assignments.assign_in(uow, command)

    async def hand_over(self, command: HandOver) -> Handover:
        return await self._handovers.hand_over(command)

    async def unassign(self, order_id: object) -> DeliveryOutcome:
        return await self._finishing.unassign(order_id)

    async def unassign_in(self, uow: UnitOfWork, order_id: object) -> DeliveryOutcome:
        return await self._finishing.unassign_in(uow, order_id)

    async def complete(self, order_id: object) -> DeliveryOutcome:
        return await self._finishing.complete(order_id)

    async def complete_in(self, uow: UnitOfWork, order_id: object) -> DeliveryOutcome:
        return await self._finishing.complete_in(uow, order_id)

    async def release_expired(self) -> int:
        return await self._finishing.release_expired()

    async def get(self, order_id: object) -> Delivery:
        return await self._queries.get(order_id)

    async def decision(self, order_id: object) -> Decision:
        return await self._queries.decision(order_id)

    async def history(self, order_id: object, *, limit: int = 100) -> list[HistoryEntry]:
        return await self._queries.history(order_id, limit=limit)

    async def waiting(self, *, limit: int = 100) -> list[WaitingOrder]:
        return await self._queries.waiting(limit=limit)

    async def list(self, query: ListDeliveries) -> Page[Delivery, DeliveryCursor]:
        return await self._queries.list(query)
