"""The ceiling app runs exactly the statements courier runs, in the same order (no drift), and writes
as many outbox events, history entries and decisions in the journal's statement before ``COMMIT``.

Both sides run on a recording fake connection: courier through its real use cases, unit of work and
repositories; the ceiling through its handlers. When courier's sequence changes (a statement added,
removed or reordered), this test fails until ``bench/ceiling.py`` follows.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request

from bench.ceiling import Ceiling
from courier_adapters.postgres import statements as sql
from courier_adapters.postgres.uow import PostgresUnitOfWorkFactory
from courier_core.metrics import NullMetrics
from courier_core.model import DeadlinePolicy
from courier_core.usecases import AssignOrder, CourierService, CreateCourier, DeliveryService, WaitingQueue

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
COURIER = (7, "Ivan", "+79990001122", "available", "car", NOW, NOW, 3, 1)
BUSY = (7, "Ivan", "+79990001122", "busy", "car", NOW, NOW, 4, 2)
PICKED = (*COURIER, 5, 1)  # the pick adds its decision's counts: candidates, tied
DELIVERY = ("order-1", 7, "active", NOW, NOW, None)


class Cursor:
    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows = rows
        self.rowcount = len(rows) or 1

    async def fetchone(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None

    async def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows


class Connection:
    """Answers each statement like a database holding one courier (and, for unassign, its delivery)."""

    def __init__(self, answers: dict[str, list[tuple[Any, ...]]]) -> None:
        self.answers = answers
        self.sent: list[str] = []
        self.journal: list[dict[str, int]] = []
        self.broken = False

    async def execute(self, query: str, params: object = None) -> Cursor:
        self.sent.append(query)
        if query.startswith("WITH j AS"):  # the journal: how many rows of each kind
            assert isinstance(params, dict)
            document = json.loads(params["journal"])
            self.journal.append({kind: len(rows) for kind, rows in document.items()})
        return Cursor(self.answers.get(query, []))

    @contextlib.asynccontextmanager
    async def pipeline(self) -> AsyncIterator[None]:
        self.sent.append("<pipeline>")
        yield
        self.sent.append("</pipeline>")


class Pool:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def getconn(self, timeout: float | None = None) -> Connection:
        return self.conn

    async def putconn(self, conn: Connection) -> None:
        assert conn is self.conn

    @contextlib.asynccontextmanager
    async def _lease(self) -> AsyncIterator[Connection]:
        yield self.conn

    def connection(self, timeout: float | None = None) -> Any:  # the ceiling's bare way
        return self._lease()


class Database:
    def __init__(self, conn: Connection) -> None:
        self.pool = Pool(conn)


def answers(*, delivery: bool) -> dict[str, list[tuple[Any, ...]]]:
    return {
        sql.order_lock().sql: [(None, NOW)],
        sql.courier_pick(False).sql: [PICKED],
        sql.courier_get(True).sql: [BUSY],
        sql.courier_update().sql: [COURIER],
        sql.courier_insert().sql: [COURIER],
        sql.delivery_get(True).sql: [DELIVERY] if delivery else [],
        sql.queue_lock(False).sql: [(None,)],
        sql.transaction_now().sql: [(NOW,)],
    }


def services(conn: Connection) -> tuple[CourierService, DeliveryService]:
    uow = PostgresUnitOfWorkFactory(Database(conn))  # type: ignore[arg-type]
    waiting = WaitingQueue(policy=DeadlinePolicy(), metrics=NullMetrics())
    couriers = CourierService(uow=uow, couriers=None, waiting=waiting, history=None)  # type: ignore[arg-type]
    deliveries = DeliveryService(
        uow=uow,
        deliveries=None,  # type: ignore[arg-type]
        queue=None,  # type: ignore[arg-type]
        waiting=waiting,
        policy=DeadlinePolicy(),
        metrics=NullMetrics(),
        decisions=None,  # type: ignore[arg-type]
        history=None,  # type: ignore[arg-type]
    )
    return couriers, deliveries


def request(body: dict[str, Any]) -> Request:
    payload = json.dumps(body).encode()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": payload, "more_body": False}

    return Request({"type": "http", "method": "POST", "headers": [], "path": "/"}, receive)


async def sent_by_both(
    courier_side: Callable[[CourierService, DeliveryService], Any],
    ceiling_side: Callable[[Ceiling], Any],
    *,
    delivery: bool,
) -> tuple[list[str], list[str]]:
    ours = Connection(answers(delivery=delivery))
    await courier_side(*services(ours))
    theirs = Connection(answers(delivery=delivery))
    answer = await ceiling_side(Ceiling(Pool(theirs)))  # type: ignore[arg-type]
    assert answer.status_code in (200, 201)
    assert ours.journal and theirs.journal == ours.journal
    return ours.sent, theirs.sent


def _outside(sent: list[str], index: int) -> bool:
    """Whether ``sent[index]`` went out on its own (not inside a pipeline)."""
    return sent[:index].count("<pipeline>") == sent[:index].count("</pipeline>")


async def test_assign_runs_couriers_statements_in_couriers_order() -> None:
    ours, theirs = await sent_by_both(
        lambda _, deliveries: deliveries.assign(AssignOrder(order_id="order-1")),
        lambda ceiling: ceiling.assign(request({"order_id": "order-1"})),
        delivery=False,
    )

    # three round trips, as PostgresUnitOfWork sends them: BEGIN with the order's lock and reads; the
    # pick; the deferred writes, the journal's statement and COMMIT
    trips = ours.count("<pipeline>") + sum(
        1 for i, q in enumerate(ours) if q not in ("<pipeline>", "</pipeline>") and _outside(ours, i)
    )
    assert trips == 3
    assert ours[:3] == ["<pipeline>", "BEGIN", sql.order_lock().sql]
    assert ours[-3].startswith("WITH j AS") and ours[-2:] == ["COMMIT", "</pipeline>"]
    assert theirs == ours


async def test_unassign_runs_couriers_statements_in_couriers_order() -> None:
    ours, theirs = await sent_by_both(
        lambda _, deliveries: deliveries.unassign("order-1"),
        lambda ceiling: ceiling.unassign(request({"order_id": "order-1"})),
        delivery=True,
    )

    assert sql.waiting_candidates().sql in ours
    assert theirs == ours


async def test_create_runs_couriers_statements_in_couriers_order() -> None:
    body = {"name": "Ivan", "phone": "+79990001122", "status": "available", "transport_type": "car"}
    ours, theirs = await sent_by_both(
        lambda couriers, _: couriers.create(CreateCourier(**body)),
        lambda ceiling: ceiling.create_courier(request(body)),
        delivery=False,
    )

    assert theirs == ours
