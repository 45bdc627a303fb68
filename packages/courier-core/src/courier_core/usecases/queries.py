"""Reads of dispatch: a delivery, its decision and history, the waiting orders, lists."""

from __future__ import annotations

from dataclasses import dataclass

from courier_core.errors import (
    DeliveryNotFound,
    InvalidInput,
)
from courier_core.model import (
    Decision,
    Delivery,
    DeliveryCursor,
    DeliveryStatus,
    HistoryEntry,
    Page,
    Subject,
    WaitingOrder,
    validate_courier_id,
    validate_delivery_status,
    validate_limit,
    validate_order_id,
)
from courier_core.ports import (
    DecisionRepository,
    DeliveryRepository,
    HistoryRepository,
    WaitingOrderRepository,
)


@dataclass(frozen=True, slots=True)
class ListDeliveries:
    status: object = None
    courier_id: object = None
    at_risk: bool = False
    limit: int = 100
    after: DeliveryCursor | None = None


class DeliveryQueries:
    """Reads of deliveries, decisions, history and the waiting queue (one statement each, no transaction)."""

    def __init__(
        self,
        *,
        deliveries: DeliveryRepository,
        queue: WaitingOrderRepository,
        decisions: DecisionRepository,
        history: HistoryRepository,
    ) -> None:
        self._deliveries = deliveries
        self._queue = queue
        self._decisions = decisions
        self._history = history

    async def get(self, order_id: object) -> Delivery:
        delivery = await self._deliveries.get(validate_order_id(order_id))
        if delivery is None:
            raise DeliveryNotFound()
        return delivery

    async def decision(self, order_id: object) -> Decision:
        """Why the order's delivery went to its courier. Raises ``DeliveryNotFound``."""
        decision = await self._decisions.get(validate_order_id(order_id))
        if decision is None:
            raise DeliveryNotFound("no assignment decision for this order")
        return decision

    async def history(self, order_id: object, *, limit: int = 100) -> list[HistoryEntry]:
        """The order's delivery changes, oldest first (empty when nothing happened to it)."""
        return await self._history.list(
            Subject.DELIVERY, validate_order_id(order_id), limit=validate_limit(limit)
        )

    async def waiting(self, *, limit: int = 100) -> list[WaitingOrder]:
        """The waiting orders, oldest first (a read: one statement, no transaction)."""
        return await self._queue.list(limit=validate_limit(limit))

    async def list(self, query: ListDeliveries) -> Page[Delivery, DeliveryCursor]:
        """Deliveries newest assignment first; ``next`` is set when more follow."""
        limit = validate_limit(query.limit)
        status = None if query.status is None else validate_delivery_status(query.status)
        courier_id = None if query.courier_id is None else validate_courier_id(query.courier_id, "courier_id")
        if query.after is not None:
            try:
                validate_order_id(query.after.order_id)
            except InvalidInput:
                raise InvalidInput("after", "invalid cursor") from None
        if query.at_risk and status not in (None, DeliveryStatus.ACTIVE):
            raise InvalidInput("at_risk", "only active deliveries can be at risk")
        items = await self._deliveries.list(
            status=status, courier_id=courier_id, at_risk=query.at_risk, after=query.after, limit=limit + 1
        )
        if len(items) > limit:
            last = items[limit - 1]
            return Page(
                items=items[:limit],
                next=DeliveryCursor(assigned_at=last.assigned_at, order_id=last.order_id),
            )
        return Page(items=items)
