"""Answer shapes, for the OpenAPI document only (answers are built by ``courier_core.views``)."""

from __future__ import annotations

from typing import Literal

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


class Error(msgspec.Struct):
    error: ErrorDetail
