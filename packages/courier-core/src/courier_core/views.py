"""The public shape of courier's objects, shared by every app (HTTP answers, CLI ``--json``).

Plain dicts of JSON types; timestamps are RFC 3339 in UTC with a ``Z`` suffix.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from courier_core.model import (
    Assignment,
    Courier,
    Decision,
    Delivery,
    DeliveryOutcome,
    DryRun,
    Handover,
    HistoryEntry,
    Queued,
    WaitingOrder,
)


def timestamp(value: datetime) -> str:
    """``2026-11-24T10:15:30Z`` (fractions kept when present)."""
    text = value.astimezone(UTC).isoformat()
    return text.removesuffix("+00:00") + "Z"


def courier_view(courier: Courier) -> dict[str, Any]:
    return {
        "id": courier.id,
        "name": courier.name,
        "phone": courier.phone,
        "status": courier.status.value,
        "transport_type": courier.transport_type.value,
        "created_at": timestamp(courier.created_at),
        "updated_at": timestamp(courier.updated_at),
    }


def delivery_view(delivery: Delivery) -> dict[str, Any]:
    return {
        "order_id": delivery.order_id,
        "courier_id": delivery.courier_id,
        "status": delivery.status.value,
        "assigned_at": timestamp(delivery.assigned_at),
        "deadline": timestamp(delivery.deadline),
        "finished_at": None if delivery.finished_at is None else timestamp(delivery.finished_at),
    }


def assignment_view(assignment: Assignment) -> dict[str, Any]:
    """The seed's assign answer (``delivery_deadline`` is the seed's name for ``deadline``)."""
    return {
        "courier_id": assignment.courier_id,
        "order_id": assignment.order_id,
        "transport_type": assignment.transport_type.value,
        "delivery_deadline": timestamp(assignment.deadline),
    }


def queued_view(queued: Queued) -> dict[str, Any]:
    return {"order_id": queued.order_id, "status": "waiting", "since": timestamp(queued.since)}


def outcome_view(outcome: DeliveryOutcome) -> dict[str, Any]:
    return {"order_id": outcome.order_id, "status": outcome.status, "courier_id": outcome.courier_id}


def waiting_view(waiting: WaitingOrder, *, now: datetime) -> dict[str, Any]:
    return {
        "order_id": waiting.order_id,
        "since": timestamp(waiting.since),
        "age_seconds": max(0.0, (now - waiting.since).total_seconds()),
    }


def decision_view(decision: Decision) -> dict[str, Any]:
    return {
        "order_id": decision.order_id,
        "courier_id": decision.courier_id,
        "strategy": decision.strategy.value,
        "candidates": decision.candidates,
        "candidates_capped": decision.candidates_capped,
        "courier_deliveries": decision.courier_deliveries,
        "tie_break": decision.tie_break,
        "tied": decision.tied,
        "excluded_courier_ids": list(decision.excluded),
        "decided_at": timestamp(decision.decided_at),
    }


def dry_run_view(dry_run: DryRun) -> dict[str, Any]:
    """What an assignment would do (``dry_run: true``): the courier, its deadline, and why."""
    return {
        "dry_run": True,
        "order_id": dry_run.order_id,
        "courier_id": dry_run.courier_id,
        "transport_type": dry_run.transport_type.value,
        "delivery_deadline": timestamp(dry_run.deadline),
        "decision": decision_view(dry_run.decision),
    }


def handover_view(handover: Handover) -> dict[str, Any]:
    return {
        "order_id": handover.order_id,
        "from_courier_id": handover.from_courier_id,
        "courier_id": handover.to_courier_id,
        "delivery_deadline": timestamp(handover.deadline),
    }


def history_view(entry: HistoryEntry) -> dict[str, Any]:
    return {
        "change": entry.change,
        "from": entry.from_state,
        "to": entry.to_state,
        "actor": entry.actor,
        "at": timestamp(entry.at),
        "details": entry.details,
    }
