"""The ceiling: bare Starlette on uvicorn, courier's SQL and pool settings, nothing of ours in between.

It answers the benchmark's routes with the statements courier compiles
(``courier_adapters.postgres.statements``, and the journal's one statement before ``COMMIT`` from
``courier_adapters.postgres.journal``: outbox events, history entries, the assignment's decision), run
in the same order as ``CourierService`` and ``DeliveryService`` run them, with as many rows of each,
on a psycopg 3 async pool built with the same arguments as ``PostgresDatabase``. What courier-api does on top of this (middleware, validation, the container, the
use cases, the domain objects, serialisation) is what the benchmark's ratios measure.

Run: ``BENCH_DATABASE_URL=... python -m bench.ceiling --port 8090 --workers 1``.
"""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import json
import os
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timedelta
from typing import Any

import msgspec
import uvicorn
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from courier_adapters.postgres import statements as sql
from courier_adapters.postgres.journal import flush_sql
from courier_adapters.postgres.repositories import POP_CANDIDATES
from courier_core.model import CANDIDATES_CAP, FINISHED_ORDER_STATUSES

Row = tuple[Any, ...]
Conn = AsyncConnection[Row]
URL_VARIABLE = "BENCH_DATABASE_URL"
# courier's defaults (operations.md): pool 1..10, statement timeout 5 s, deadlines by transport.
POOL_MIN, POOL_MAX, STATEMENT_TIMEOUT_MS = 1, 10, 5000
DEADLINES = {"on_foot": timedelta(minutes=30), "scooter": timedelta(minutes=15), "car": timedelta(minutes=5)}
COURIER_FIELDS = ("id", "name", "phone", "status", "transport_type", "created_at", "updated_at")
FINISHED = FINISHED_ORDER_STATUSES
ACTOR = "api"
_encode = msgspec.json.Encoder().encode
Event = tuple[str, str, dict[str, Any]]  # type, key, payload
# subject, subject id, change, from, to, details
Change = tuple[str, str, str, str | None, str | None, dict[str, Any]]


def pool_arguments(url: str) -> dict[str, Any]:
    """The arguments ``PostgresDatabase`` gives ``AsyncConnectionPool`` (a unit test keeps them equal)."""
    return {
        "conninfo": url,
        "min_size": POOL_MIN,
        "max_size": POOL_MAX,
        "open": False,
        "timeout": 5.0,
        "reconnect_timeout": 86400,
        "name": "courier",
        "kwargs": {
            "autocommit": True,
            "options": f"-c timezone=UTC -c statement_timeout={STATEMENT_TIMEOUT_MS}",
            "connect_timeout": 5,
            "application_name": "courier",
        },
    }


def courier_json(row: Row) -> dict[str, Any]:
    return dict(zip(COURIER_FIELDS, row, strict=False))


def json_response(body: object, status: int = 200) -> Response:
    return Response(_encode(body), status_code=status, media_type="application/json")


def error(status: int, code: str) -> Response:
    return json_response({"error": {"code": code, "message": code.replace("_", " ")}}, status)


Sent = tuple[str, Mapping[str, Any] | None]


class Tx:
    """One transaction, sent the way ``TransactionSession`` sends it: ``BEGIN`` pipelined with the
    first statement, deferred writes ahead of the next statement, the journal and ``COMMIT`` in one
    pipeline (so the ceiling makes the round trips courier makes, no more)."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        self.pending: list[Sent] = [("BEGIN", None)]

    def defer(self, stmt: sql.Statement, **params: Any) -> None:
        self.pending.append((stmt.sql, stmt.params(**params)))

    async def send(self, statements: list[Sent]) -> list[Any]:
        if not self.pending and len(statements) == 1:
            return [await self.conn.execute(*statements[0])]
        async with self.conn.pipeline():
            for query, params in self.pending:
                await self.conn.execute(query, params)
            self.pending = []
            return [await self.conn.execute(query, params) for query, params in statements]

    async def each(self, *statements: tuple[sql.Statement, dict[str, Any]]) -> list[Row | None]:
        cursors = await self.send([(stmt.sql, stmt.params(**params)) for stmt, params in statements])
        return [await cursor.fetchone() for cursor in cursors]

    async def commit(self, journal: list[Sent]) -> None:
        if self.pending == [("BEGIN", None)] and not journal:
            return
        await self.send([*journal, ("COMMIT", None)])

    async def rollback(self) -> None:
        if self.pending[:1] != [("BEGIN", None)]:
            await self.conn.execute("ROLLBACK")


async def one(tx: Tx, stmt: sql.Statement, **params: Any) -> Row | None:
    (cursor,) = await tx.send([(stmt.sql, stmt.params(**params))])
    row: Row | None = await cursor.fetchone()
    return row


async def every(tx: Tx, stmt: sql.Statement, **params: Any) -> list[Row]:
    (cursor,) = await tx.send([(stmt.sql, stmt.params(**params))])
    rows: list[Row] = await cursor.fetchall()
    return rows


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def journal_params(
    now: datetime, events: list[Event], changes: list[Change], decision: dict[str, Any] | None
) -> dict[str, Any]:
    """The parameter of the journal's statement, as ``Journal.params`` builds it: one JSON document."""
    at = now.isoformat()
    doc: dict[str, Any] = {
        "e": [[str(uuid.uuid4()), e[0], e[1], at, e[2]] for e in events],
        "h": [[c[0], c[1], c[2], c[3], c[4], ACTOR, at, c[5]] for c in changes],
    }
    if decision is not None:
        doc["d"] = [
            [
                decision["orders"],
                decision["couriers"],
                decision["strategies"],
                decision["candidates"],
                decision["capped"],
                decision["deliveries"],
                decision["tie_breaks"],
                decision["tied"],
                [],
                at,
            ]
        ]
    return {"journal": _json(doc)}


_journal: contextvars.ContextVar[list[Sent]] = contextvars.ContextVar("journal")


async def flush(
    conn: Tx,
    now: datetime,
    events: list[Event],
    changes: list[Change],
    decision: dict[str, Any] | None = None,
) -> None:
    """Record the journal's statement (events, history, a decision): it goes out with ``COMMIT``."""
    statement = flush_sql(True, True, decision is not None)
    _journal.get().append((statement, journal_params(now, events, changes, decision)))


def courier_event(courier: Row, before: str, after: str, reason: str, order_id: str) -> tuple[Event, Change]:
    details = {"reason": reason, "order_id": order_id}
    data = {"courier_id": courier[0], "from": before, "to": after, **details}
    change = ("courier", str(courier[0]), "status", before, after, details)
    return ("courier.status_changed", str(courier[0]), data), change


class Refused(Exception):
    """A domain refusal (404, 409): the transaction rolls back and the client gets the error."""

    def __init__(self, status: int, code: str) -> None:
        super().__init__(code)
        self.status, self.code = status, code


@contextlib.asynccontextmanager
async def transaction(pool: AsyncConnectionPool[Conn]) -> AsyncIterator[Tx]:
    """``BEGIN``/``COMMIT`` (``ROLLBACK`` on error) sent as ``PostgresUnitOfWork`` sends them."""
    async with pool.connection() as conn:
        tx = Tx(conn)
        journal: list[Sent] = []
        token = _journal.set(journal)
        try:
            yield tx
        except BaseException:
            await tx.rollback()
            raise
        finally:
            _journal.reset(token)
        await tx.commit(journal)


class Ceiling:
    """The handlers, over one pool; each runs courier's statements in courier's order."""

    def __init__(self, pool: AsyncConnectionPool[Conn]) -> None:
        self.pool = pool

    async def get_courier(self, request: Request) -> Response:
        stmt = sql.courier_get(False)
        async with self.pool.connection() as conn:
            cursor = await conn.execute(stmt.sql, stmt.params(id=int(request.path_params["id"])))
            row = await cursor.fetchone()
        return error(404, "courier_not_found") if row is None else json_response(courier_json(row))

    async def list_couriers(self, request: Request) -> Response:
        limit = int(request.query_params.get("limit", "100"))
        after = int(request.query_params.get("after_id", request.query_params.get("after", "0")))
        stmt = sql.courier_list(False, False)
        async with self.pool.connection() as conn:
            cursor = await conn.execute(stmt.sql, stmt.params(after=after, limit=limit + 1))
            rows = await cursor.fetchall()
        return json_response([courier_json(r) for r in rows[:limit]])

    async def create_courier(self, request: Request) -> Response:
        """``CourierService.create``: insert, then the freed courier may take a waiting order."""
        body = msgspec.json.decode(await request.body())
        async with transaction(self.pool) as conn:
            row = await one(
                conn,
                sql.courier_insert(),
                name=body["name"],
                phone=body["phone"],
                status=body["status"],
                transport_type=body.get("transport_type") or "on_foot",
            )
            assert row is not None
            now = await one(conn, sql.transaction_now())
            assert now is not None
            await self._no_waiting_order(conn)
            data = {
                "courier_id": row[0],
                "name": row[1],
                "phone": row[2],
                "status": row[3],
                "transport_type": row[4],
                "total_deliveries": row[7],
                "version": row[8],
            }
            await flush(
                conn,
                now[0],
                [("courier.created", str(row[0]), data)],
                [("courier", str(row[0]), "created", None, row[3], {})],
            )
        return json_response({"id": row[0], "message": "courier's profile created successfully"}, 201)

    async def assign(self, request: Request) -> Response:
        order_id = msgspec.json.decode(await request.body())["order_id"]
        try:
            async with transaction(self.pool) as conn:
                courier, deadline = await self._assign(conn, order_id)
        except Refused as refused:
            return error(refused.status, refused.code)
        return json_response(
            {
                "courier_id": courier[0],
                "order_id": order_id,
                "transport_type": courier[4],
                "delivery_deadline": deadline,
            }
        )

    async def _assign(self, conn: Tx, order_id: str) -> tuple[Row, datetime]:
        """``DeliveryService.assign_in`` without a chosen courier and without waiting."""
        ids = {"order_id": order_id}
        locked, known, delivery = await conn.each(
            (sql.order_lock(), ids), (sql.order_get(), ids), (sql.delivery_get(False), ids)
        )
        assert locked is not None
        if known is not None and known[1] in FINISHED:
            raise Refused(409, "order_finished")
        if delivery is not None:
            raise Refused(409, "delivery_exists")
        courier = await one(conn, sql.courier_pick(False))
        if courier is None:  # every candidate locked? courier waits for the best one
            courier = await one(conn, sql.courier_pick(False, skip_locked=False))
        if courier is None:
            raise Refused(409, "no_available_couriers")
        deadline: datetime = locked[1] + DEADLINES[courier[4]]
        values = {"order_id": order_id, "courier_id": courier[0], "status": "active"}
        conn.defer(
            sql.delivery_insert(), **values, assigned_at=locked[1], deadline=deadline, finished_at=None
        )
        self._store(conn, courier, status="busy", total=courier[7] + 1)
        conn.defer(sql.waiting_remove(), order_id=order_id)
        now: datetime = locked[1]
        data = {
            "order_id": order_id,
            "courier_id": courier[0],
            "status": "active",
            "assigned_at": iso(now),
            "deadline": iso(deadline),
            "finished_at": None,
            "strategy": "least_loaded",
        }
        event, change = courier_event(courier, "available", "busy", "assigned", order_id)
        decision = {
            "orders": order_id,
            "couriers": courier[0],
            "strategies": "least_loaded",
            "candidates": min(courier[9], CANDIDATES_CAP),
            "capped": courier[9] > CANDIDATES_CAP,
            "deliveries": courier[7],
            "tie_breaks": "lowest_id",
            "tied": min(courier[10], CANDIDATES_CAP),
            "excluded": "[]",
            "at": now,
        }
        details = {"courier_id": courier[0], "strategy": "least_loaded"}
        await flush(
            conn,
            now,
            [("delivery.assigned", order_id, data), event],
            [("delivery", order_id, "assigned", None, "active", details), change],
            decision,
        )
        return courier, deadline

    async def unassign(self, request: Request) -> Response:
        """``DeliveryService.unassign_in``: the freed courier may take a waiting order."""
        order_id = msgspec.json.decode(await request.body())["order_id"]
        try:
            async with transaction(self.pool) as conn:
                ids = {"order_id": order_id}
                locked, _, delivery = await conn.each(
                    (sql.order_lock(), ids), (sql.order_get(), ids), (sql.delivery_get(True), ids)
                )
                assert locked is not None
                if delivery is None or delivery[2] != "active":
                    raise Refused(404, "delivery_not_found")
                courier = await one(conn, sql.courier_get(True), id=delivery[1])
                assert courier is not None
                conn.defer(sql.delivery_delete(), order_id=order_id)
                await self._no_waiting_order(conn)
                self._store(conn, courier, status="available", total=courier[7] - 1)
                data = {
                    "order_id": order_id,
                    "courier_id": courier[0],
                    "status": "unassigned",
                    "assigned_at": iso(delivery[3]),
                    "deadline": iso(delivery[4]),
                    "finished_at": None,
                }
                event, change = courier_event(courier, "busy", "available", "unassigned", order_id)
                details = {"courier_id": courier[0]}
                await flush(
                    conn,
                    locked[1],
                    [("delivery.unassigned", order_id, data), event],
                    [("delivery", order_id, "unassigned", "active", "unassigned", details), change],
                )
        except Refused as refused:
            return error(refused.status, refused.code)
        return json_response({"order_id": order_id, "status": "unassigned", "courier_id": courier[0]})

    @staticmethod
    def _store(conn: Tx, courier: Row, *, status: str, total: int) -> None:
        """``CourierRepository.store``: deferred, nothing read back."""
        fields: Mapping[str, Any] = {"name": courier[1], "phone": courier[2], "transport_type": courier[4]}
        conn.defer(sql.courier_update(), id=courier[0], status=status, total_deliveries=total, **fields)

    @staticmethod
    async def _no_waiting_order(conn: Tx) -> None:
        """``WaitingQueue.give_courier``: the queue's shared lock (deferred), then its candidates (the
        bench never queues an order, so there are none)."""
        conn.defer(sql.queue_lock(False))
        if await every(conn, sql.waiting_candidates(), limit=POP_CANDIDATES):
            raise RuntimeError("the ceiling app does not serve waiting orders")

    async def ready(self, request: Request) -> Response:
        async with self.pool.connection() as conn:
            await conn.execute("SELECT 1")
        return json_response({"status": "ready"})


PLAIN_PICK = (
    "SELECT id, transport_type FROM couriers WHERE status = 'available' AND deleted_at IS NULL"
    " ORDER BY total_deliveries, id LIMIT 1 FOR UPDATE SKIP LOCKED"
)
PLAIN_INSERT = (
    "INSERT INTO deliveries (order_id, courier_id, status, assigned_at, deadline)"
    " VALUES (%(order_id)s, %(courier_id)s, 'active', now(), now() + %(window)s) RETURNING deadline"
)
PLAIN_BUSY = (
    "UPDATE couriers SET status = 'busy', total_deliveries = total_deliveries + 1, updated_at = now()"
    " WHERE id = %(id)s"
)
PLAIN_DELETE = (
    "DELETE FROM deliveries WHERE order_id = %(order_id)s AND status = 'active' RETURNING courier_id"
)
PLAIN_FREE = (
    "UPDATE couriers SET status = 'available', total_deliveries = total_deliveries - 1,"
    " updated_at = now() WHERE id = %(id)s"
)


class PlainCeiling(Ceiling):
    """The second ceiling: the seed's plain SQL for assign and unassign, a statement at a time, no
    order lock, no journal (no outbox, history or decision), as the Go original runs them. What
    courier does on top of it is everything it keeps that the seed does not."""

    async def assign(self, request: Request) -> Response:
        order_id = msgspec.json.decode(await request.body())["order_id"]
        async with self.pool.connection() as conn:
            await conn.execute("BEGIN")
            try:
                courier = await (await conn.execute(PLAIN_PICK)).fetchone()
                if courier is None:
                    await conn.execute("ROLLBACK")
                    return error(409, "no_available_couriers")
                values = {"order_id": order_id, "courier_id": courier[0], "window": DEADLINES[courier[1]]}
                deadline = await (await conn.execute(PLAIN_INSERT, values)).fetchone()
                await conn.execute(PLAIN_BUSY, {"id": courier[0]})
                await conn.execute("COMMIT")
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
        assert deadline is not None
        body = {"courier_id": courier[0], "order_id": order_id, "transport_type": courier[1]}
        return json_response({**body, "delivery_deadline": iso(deadline[0])})

    async def unassign(self, request: Request) -> Response:
        order_id = msgspec.json.decode(await request.body())["order_id"]
        async with self.pool.connection() as conn:
            await conn.execute("BEGIN")
            try:
                found = await (await conn.execute(PLAIN_DELETE, {"order_id": order_id})).fetchone()
                if found is None:
                    await conn.execute("ROLLBACK")
                    return error(404, "delivery_not_found")
                await conn.execute(PLAIN_FREE, {"id": found[0]})
                await conn.execute("COMMIT")
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
        return json_response({"order_id": order_id, "status": "unassigned", "courier_id": found[0]})


def create_plain_app(url: str | None = None) -> Starlette:
    """The plain ceiling (:class:`PlainCeiling`) on the database at ``url``."""
    return create_app(url, plain=True)


def create_app(url: str | None = None, *, plain: bool = False) -> Starlette:
    """The ceiling app on the database at ``url`` (default: ``$BENCH_DATABASE_URL``)."""
    pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(**pool_arguments(url or os.environ[URL_VARIABLE]))
    ceiling = (PlainCeiling if plain else Ceiling)(pool)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await pool.open(wait=True, timeout=30)
        try:
            yield
        finally:
            await pool.close()

    routes = [
        Route("/readyz", ceiling.ready),
        Route("/api/v1/courier/{id:int}", ceiling.get_courier),
        Route("/api/v1/couriers", ceiling.list_couriers),
        Route("/api/v1/courier", ceiling.create_courier, methods=["POST"]),
        Route("/api/v1/delivery/assign", ceiling.assign, methods=["POST"]),
        Route("/api/v1/delivery/unassign", ceiling.unassign, methods=["POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--plain", action="store_true", help="the seed's plain SQL, no journal")
    args = parser.parse_args(argv)
    uvicorn.run(
        "bench.ceiling:create_plain_app" if args.plain else "bench.ceiling:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
