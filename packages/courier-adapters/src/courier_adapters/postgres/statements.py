"""Every statement the adapter runs, built with SQLAlchemy Core: the source of the SQL.

Repositories do not import this module: they run :mod:`courier_adapters.postgres.compiled`, every
shape below compiled ahead of time to psycopg's SQL (``make sql`` writes it; a unit test fails when it
differs from what this module compiles). So a process that only runs statements (the CLI's
``couriers get``, say) never pays SQLAlchemy's import, and the hot path only formats parameters.
"""

from __future__ import annotations

import inspect
import itertools
import sys
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    LargeBinary,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from courier_adapters.postgres.schema import (
    couriers,
    cursors,
    deliveries,
    orders,
    processed_events,
    waiting_orders,
)
from courier_adapters.postgres.statement import Statement as Statement  # re-exported: callers build with it
from courier_core.model import AT_RISK_SHARE, CANDIDATES_CAP, FINISHED_ORDER_STATUSES

_DIALECT = postgresql.psycopg.dialect()  # type: ignore[no-untyped-call]

COURIER_COLUMNS = (
    couriers.c.id,
    couriers.c.name,
    couriers.c.phone,
    couriers.c.status,
    couriers.c.transport_type,
    couriers.c.created_at,
    couriers.c.updated_at,
    couriers.c.total_deliveries,
    couriers.c.version,
)
DELIVERY_COLUMNS = (
    deliveries.c.order_id,
    deliveries.c.courier_id,
    deliveries.c.status,
    deliveries.c.assigned_at,
    deliveries.c.deadline,
    deliveries.c.finished_at,
)
_FINISHED = ", ".join(f"'{s}'" for s in sorted(FINISHED_ORDER_STATUSES))
ORDER_LOCK_NAMESPACE = 1  # pg_advisory_xact_lock(namespace, key): one per order
QUEUE_LOCK_NAMESPACE = 2  # the waiting queue as a whole (shared: freeing couriers; exclusive: queuing)


def compile_sql(statement: ClauseElement) -> Statement:
    compiled = cast(SQLCompiler, statement.compile(dialect=_DIALECT))
    defaults = {name: value for name, value in compiled.params.items() if not compiled.binds[name].required}
    return Statement(sql=str(compiled), defaults=defaults)


_live = couriers.c.deleted_at.is_(None)
# Literal SQL, not parameters: a generic prepared plan can only use a partial index whose predicate
# it sees in the statement itself.
_available = text("couriers.status = 'available'")
_active = text("deliveries.status = 'active'")


@cache
def courier_get(for_update: bool) -> Statement:
    stmt: Any = select(*COURIER_COLUMNS).where(couriers.c.id == bindparam("id"), _live)
    if for_update:
        stmt = stmt.with_for_update()
    return compile_sql(stmt)


@cache
def courier_insert() -> Statement:
    return compile_sql(
        insert(couriers)
        .values(
            name=bindparam("name"),
            phone=bindparam("phone"),
            status=bindparam("status"),
            transport_type=bindparam("transport_type"),
        )
        .returning(*COURIER_COLUMNS)
    )


@cache
def courier_update() -> Statement:
    return compile_sql(
        update(couriers)
        .where(couriers.c.id == bindparam("id"), _live)
        .values(
            name=bindparam("name"),
            phone=bindparam("phone"),
            status=bindparam("status"),
            transport_type=bindparam("transport_type"),
            total_deliveries=bindparam("total_deliveries"),
            updated_at=func.now(),
            version=couriers.c.version + 1,
        )
        .returning(*COURIER_COLUMNS)
    )


@cache
def courier_delete() -> Statement:
    return compile_sql(
        update(couriers)
        .where(couriers.c.id == bindparam("id"), _live)
        .values(deleted_at=func.now(), updated_at=func.now(), version=couriers.c.version + 1)
    )


@cache
def courier_pick(with_exclusions: bool, skip_locked: bool = True) -> Statement:
    """The least-loaded available courier, ties by lowest id, locked; locked ones skipped (or, with
    ``skip_locked=False``, the best one waited for and re-checked once its lock is released).

    Walks ``couriers_pick_idx`` from its first entry: the cost does not grow with the table. The two
    counts of the decision (candidates, and those tied with the pick) read at most
    ``CANDIDATES_CAP + 1`` entries of the same index each.
    """
    stmt = select(*COURIER_COLUMNS).where(_available, _live)
    if with_exclusions:
        stmt = stmt.where(couriers.c.id != func.all(bindparam("exclude")))
    pick = compile_sql(
        stmt.order_by(couriers.c.total_deliveries, couriers.c.id)
        .limit(1)
        .with_for_update(skip_locked=skip_locked)
    )
    among = "c.status = 'available' AND c.deleted_at IS NULL"
    if with_exclusions:
        among += " AND c.id <> ALL(%(exclude)s)"
    columns = ", ".join(f"picked.{column.name}" for column in COURIER_COLUMNS)
    cap = CANDIDATES_CAP + 1
    return Statement(
        sql=(
            f"SELECT {columns},"
            # ORDER BY as the index: a walk of couriers_pick_idx, never a scan of the table
            f" (SELECT count(*) FROM (SELECT 1 FROM couriers AS c WHERE {among}"
            f" ORDER BY c.total_deliveries, c.id LIMIT {cap}) AS n),"
            f" (SELECT count(*) FROM (SELECT 1 FROM couriers AS c WHERE {among}"
            f" AND c.total_deliveries = picked.total_deliveries ORDER BY c.total_deliveries, c.id"
            f" LIMIT {cap}) AS t)"
            f" FROM ({pick.sql}) AS picked"
        ),
        defaults=pick.defaults,
    )


@cache
def courier_list(by_status: bool, by_transport: bool) -> Statement:
    stmt = select(*COURIER_COLUMNS).where(_live, couriers.c.id > bindparam("after"))
    if by_status:
        stmt = stmt.where(couriers.c.status == bindparam("status"))
    if by_transport:
        stmt = stmt.where(couriers.c.transport_type == bindparam("transport_type"))
    return compile_sql(stmt.order_by(couriers.c.id).limit(bindparam("limit")))


@cache
def order_lock() -> Statement:
    """Serialise work on one order; also read the transaction's clock in the same round trip."""
    return compile_sql(
        select(
            func.pg_advisory_xact_lock(ORDER_LOCK_NAMESPACE, func.hashtext(bindparam("order_id"))),
            func.now(),
        )
    )


@cache
def transaction_now() -> Statement:
    return compile_sql(select(func.now()))


@cache
def delivery_get(for_update: bool) -> Statement:
    stmt: Any = select(*DELIVERY_COLUMNS).where(deliveries.c.order_id == bindparam("order_id"))
    if for_update:
        stmt = stmt.with_for_update()
    return compile_sql(stmt)


@cache
def delivery_insert() -> Statement:
    return compile_sql(
        insert(deliveries).values(
            order_id=bindparam("order_id"),
            courier_id=bindparam("courier_id"),
            status=bindparam("status"),
            assigned_at=bindparam("assigned_at"),
            deadline=bindparam("deadline"),
            finished_at=bindparam("finished_at"),
        )
    )


@cache
def delivery_delete() -> Statement:
    return compile_sql(delete(deliveries).where(deliveries.c.order_id == bindparam("order_id")))


@cache
def delivery_active_of() -> Statement:
    return compile_sql(
        select(*DELIVERY_COLUMNS).where(deliveries.c.courier_id == bindparam("courier_id"), _active)
    )


@cache
def delivery_reassign() -> Statement:
    return compile_sql(
        update(deliveries)
        .where(deliveries.c.order_id == bindparam("order_id"), _active)
        .values(courier_id=bindparam("courier_id"))
    )


@cache
def delivery_finish() -> Statement:
    return compile_sql(
        update(deliveries)
        .where(deliveries.c.order_id == bindparam("order_id"), _active)
        .values(status=bindparam("status"), finished_at=func.now())
        .returning(*DELIVERY_COLUMNS)
    )


@cache
def delivery_expire_due() -> Statement:
    due = (
        select(deliveries.c.id)
        .where(_active, deliveries.c.deadline < func.now())
        .order_by(deliveries.c.deadline)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    return compile_sql(
        update(deliveries)
        .where(deliveries.c.id.in_(due), _active)
        .values(status="expired", finished_at=func.now())
        .returning(*DELIVERY_COLUMNS)
    )


@cache
def delivery_list(by_status: bool, by_courier: bool, after: bool, at_risk: bool = False) -> Statement:
    stmt = select(*DELIVERY_COLUMNS)
    if at_risk:
        # Active and past AT_RISK_SHARE of the window, on the database's clock.
        stmt = stmt.where(
            _active,
            func.now()
            >= deliveries.c.assigned_at
            + (deliveries.c.deadline - deliveries.c.assigned_at).op("*", precedence=8)(
                literal_column(repr(AT_RISK_SHARE))
            ),
        )
    if by_status:
        stmt = stmt.where(deliveries.c.status == bindparam("status"))
    if by_courier:
        stmt = stmt.where(deliveries.c.courier_id == bindparam("courier_id"))
    if after:
        stmt = stmt.where(
            tuple_(deliveries.c.assigned_at, deliveries.c.order_id)
            < tuple_(bindparam("after_assigned_at"), bindparam("after_order_id"))
        )
    return compile_sql(
        stmt.order_by(deliveries.c.assigned_at.desc(), deliveries.c.order_id.desc()).limit(bindparam("limit"))
    )


@cache
def order_get() -> Statement:
    return compile_sql(
        select(orders.c.order_id, orders.c.status, orders.c.status_at).where(
            orders.c.order_id == bindparam("order_id")
        )
    )


@cache
def order_record() -> Statement:
    """Upsert the known status unless newer news is stored (a finished status wins a tie)."""
    stmt = postgresql.insert(orders).values(
        order_id=bindparam("order_id"), status=bindparam("status"), status_at=bindparam("status_at")
    )
    excluded = stmt.excluded
    # As KnownOrder.replaces: newer news wins, a finished status wins a tie, and nothing replaces
    # a finished status (a finished order is never assigned again, whatever arrives later).
    newer = excluded.status_at > orders.c.status_at
    tie_finished = and_(
        excluded.status_at == orders.c.status_at,
        text(f"lower(excluded.status) IN ({_FINISHED})"),
    )
    unfinished = text(f"lower(orders.status) NOT IN ({_FINISHED})")
    return compile_sql(
        stmt.on_conflict_do_update(
            index_elements=[orders.c.order_id],
            set_={"status": excluded.status, "status_at": excluded.status_at, "updated_at": func.now()},
            where=and_(unfinished, newer | tie_finished),
        ).returning(literal_column("1"))
    )


@cache
def waiting_add() -> Statement:
    inserted = (
        postgresql.insert(waiting_orders)
        # clock_timestamp(), not now(): orders queued by one transaction keep their arrival order
        .values(order_id=bindparam("order_id"), since=func.clock_timestamp())
        .on_conflict_do_nothing(index_elements=[waiting_orders.c.order_id])
        .returning(waiting_orders.c.order_id, waiting_orders.c.since)
        .cte("inserted")
    )
    existing = select(waiting_orders.c.order_id, waiting_orders.c.since).where(
        waiting_orders.c.order_id == bindparam("order_id")
    )
    return compile_sql(select(inserted.c.order_id, inserted.c.since).union_all(existing).limit(1))


@cache
def waiting_remove() -> Statement:
    return compile_sql(
        delete(waiting_orders)
        .where(waiting_orders.c.order_id == bindparam("order_id"))
        .returning(waiting_orders.c.order_id)
    )


@cache
def waiting_contains() -> Statement:
    return compile_sql(select(literal_column("1")).where(waiting_orders.c.order_id == bindparam("order_id")))


@cache
def waiting_candidates() -> Statement:
    """The oldest waiting orders not locked by another transaction (locked for us)."""
    return compile_sql(
        select(waiting_orders.c.order_id)
        .order_by(waiting_orders.c.since, waiting_orders.c.order_id)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True)
    )


@cache
def waiting_take() -> Statement:
    """Take one waiting order out of the queue if its order lock can be had now (never waits)."""
    return compile_sql(
        delete(waiting_orders)
        .where(
            waiting_orders.c.order_id == bindparam("order_id"),
            func.pg_try_advisory_xact_lock(ORDER_LOCK_NAMESPACE, func.hashtext(bindparam("order_id"))),
        )
        .returning(waiting_orders.c.order_id, waiting_orders.c.since)
    )


@cache
def queue_lock(exclusive: bool) -> Statement:
    lock = func.pg_advisory_xact_lock if exclusive else func.pg_advisory_xact_lock_shared
    return compile_sql(select(lock(QUEUE_LOCK_NAMESPACE, 0)))


@cache
def waiting_list() -> Statement:
    return compile_sql(
        select(waiting_orders.c.order_id, waiting_orders.c.since)
        .order_by(waiting_orders.c.since, waiting_orders.c.order_id)
        .limit(bindparam("limit"))
    )


@cache
def processed_add() -> Statement:
    return compile_sql(
        postgresql.insert(processed_events)
        .values(event_key=bindparam("key"))
        .on_conflict_do_nothing(index_elements=[processed_events.c.event_key])
        .returning(literal_column("1"))
    )


@cache
def processed_add_many() -> Statement:
    """Record a batch's keys in one statement; the keys returned are those new (once each)."""
    keys = (
        func.unnest(bindparam("keys", type_=ARRAY(LargeBinary))).table_valued("key").render_derived(name="k")
    )
    return compile_sql(
        postgresql.insert(processed_events)
        .from_select(["event_key"], select(keys.c.key))
        .on_conflict_do_nothing(index_elements=[processed_events.c.event_key])
        .returning(processed_events.c.event_key)
    )


@cache
def processed_prune() -> Statement:
    return compile_sql(
        delete(processed_events).where(
            processed_events.c.processed_at
            < func.now() - func.make_interval(0, 0, 0, 0, 0, 0, bindparam("seconds"))
        )
    )


@cache
def cursor_get() -> Statement:
    return compile_sql(select(cursors.c.position).where(cursors.c.name == bindparam("name")))


@cache
def cursor_advance() -> Statement:
    stmt = postgresql.insert(cursors).values(name=bindparam("name"), position=bindparam("position"))
    return compile_sql(
        stmt.on_conflict_do_update(
            index_elements=[cursors.c.name],
            set_={"position": stmt.excluded.position, "updated_at": func.now()},
            where=stmt.excluded.position > cursors.c.position,
        )
    )


# --- ahead-of-time compilation: courier_adapters/postgres/compiled.py -------------------------------

COMPILED_PATH = Path(__file__).with_name("compiled.py")


def _builders() -> Iterator[tuple[str, Callable[..., Statement]]]:
    """Every statement builder of this module, in source order (each takes only flags)."""
    for name, value in list(vars(sys.modules[__name__]).items()):
        if callable(value) and getattr(value, "__wrapped__", None) and name.islower():
            yield name, value


def compiled_source() -> str:
    """The text of ``compiled.py``: each builder's every shape (all combinations of its flags)."""
    lines = [
        "# ruff: noqa: E501",
        '"""GENERATED by `make sql` from statements.py (the SQLAlchemy Core source): do not edit.',
        "",
        "Every statement repositories run, compiled to psycopg's SQL ahead of time, so that running",
        "them needs no SQLAlchemy. tests/unit/adapters/test_compiled_sql.py fails when this file",
        'differs from what statements.py compiles."""',
        "",
        "from __future__ import annotations",
        "",
        "from courier_adapters.postgres.statement import Statement",
        "",
        f"ORDER_LOCK_NAMESPACE = {ORDER_LOCK_NAMESPACE}",
        f"QUEUE_LOCK_NAMESPACE = {QUEUE_LOCK_NAMESPACE}",
        "",
        "_S: dict[tuple[str, tuple[bool, ...]], Statement] = {",
    ]
    functions = []
    for name, builder in _builders():
        signature = inspect.signature(builder.__wrapped__)  # type: ignore[attr-defined]
        flags = list(signature.parameters)
        for values in itertools.product((False, True), repeat=len(flags)):
            statement = builder(*values)
            entry = f"Statement({statement.sql!r}, {dict(statement.defaults)!r})"
            lines.append(f"    ({name!r}, {values!r}): {entry},")
        parameters = ", ".join(
            f"{flag}: bool" + ("" if given.default is given.empty else f" = {given.default!r}")
            for flag, given in signature.parameters.items()
        )
        body = ", ".join(flags) + ("," if len(flags) == 1 else "")
        functions += ["", "", f"def {name}({parameters}) -> Statement:", f"    return _S[{name!r}, ({body})]"]
    lines.append("}")
    return "\n".join(lines + functions) + "\n"


def write_compiled(path: str | Path = COMPILED_PATH) -> None:
    """``make sql``: (re)write ``compiled.py`` (or ``path``) from this module."""
    Path(path).write_text(compiled_source())
    print(f"wrote {path}")
