"""Answer shapes, for the OpenAPI document only (answers are built by ``courier_core.views``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec


class Courier(msgspec.Struct):
    id: int
    name: str
    phone: str
    status: Literal["available", "busy", "paused"]
    transport_type: Literal["on_foot", "scooter", "car"]
    created_at: str
    updated_at: str


class Delivery(msgspec.Struct):
    order_id: str
    courier_id: int
    status: Literal["active", "completed", "expired"]
    assigned_at: str
    deadline: str
    finished_at: str | None


class Assignment(msgspec.Struct):
    courier_id: int
    order_id: str
    transport_type: Literal["on_foot", "scooter", "car"]
    delivery_deadline: str


class Queued(msgspec.Struct):
    order_id: str
    status: Literal["waiting"]
    since: str


class Decision(msgspec.Struct):
    """Why an order went to its courier (``GET /api/v1/delivery/{order_id}/decision``)."""

    order_id: str
    courier_id: int
    strategy: Literal["least_loaded", "requested", "waiting_queue"]
    candidates: int
    candidates_capped: bool
    courier_deliveries: int
    tie_break: str
    tied: int
    excluded_courier_ids: list[int]
    decided_at: str


class AssignAnswer(msgspec.Struct):
    """200 to ``POST /delivery/assign``: the assignment; with ``"dry_run": true`` in the request, the one
    that would be made, with ``"dry_run": true`` and its ``decision`` (nothing was changed)."""

    courier_id: int
    order_id: str
    transport_type: Literal["on_foot", "scooter", "car"]
    delivery_deadline: str
    dry_run: Literal[True] | msgspec.UnsetType = msgspec.UNSET
    decision: Decision | msgspec.UnsetType = msgspec.UNSET


class Handover(msgspec.Struct):
    order_id: str
    from_courier_id: int
    courier_id: int
    delivery_deadline: str


class HistoryEntry(msgspec.Struct):
    """One change: what (``change``, ``from`` → ``to``), who (``actor``), when (``at``)."""

    change: str
    from_: str | None = msgspec.field(name="from")
    to: str | None
    actor: str
    at: str
    details: dict[str, Any]


class Waiting(msgspec.Struct):
    order_id: str
    since: str
    age_seconds: float


class Outcome(msgspec.Struct):
    order_id: str
    status: str
    courier_id: int


class Created(msgspec.Struct):
    id: int
    message: str


class Message(msgspec.Struct):
    message: str


class Ready(msgspec.Struct):
    status: Literal["ready"]


class ErrorDetail(msgspec.Struct):
    code: str
    message: str
    field: str | None = None
    detail: Annotated[str, msgspec.Meta(description="the rule the field must follow, in words")] | None = None


class Error(msgspec.Struct):
    error: ErrorDetail
