"""courier's schema as SQLAlchemy Core tables.

The alembic migrations under ``migrations/`` are what creates it; these tables describe the result, build
the adapter's statements, and a test checks that both agree (no drift).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

metadata = MetaData()

couriers = Table(
    "couriers",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("phone", String(12), nullable=False),
    Column("status", String(16), nullable=False),
    Column("transport_type", String(16), nullable=False),
    Column("total_deliveries", BigInteger, nullable=False, server_default=text("0")),
    Column("version", BigInteger, nullable=False, server_default=text("1")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("deleted_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("status IN ('available', 'busy', 'paused')", name="couriers_status_check"),
    CheckConstraint("transport_type IN ('on_foot', 'scooter', 'car')", name="couriers_transport_type_check"),
    CheckConstraint("phone ~ '^\\+[0-9]{11}$'", name="couriers_phone_check"),
    CheckConstraint("total_deliveries >= 0", name="couriers_total_deliveries_check"),
    # The phone is unique among couriers not deleted: a deleted courier's phone is free again.
    Index(
        "couriers_phone_live_key",
        "phone",
        unique=True,
        postgresql_where=text("deleted_at IS NULL"),
    ),
    # Picking the least-loaded available courier reads the first entry of this index: O(log n).
    Index(
        "couriers_pick_idx",
        "total_deliveries",
        "id",
        postgresql_where=text("status = 'available' AND deleted_at IS NULL"),
    ),
    Index("couriers_status_id_idx", "status", "id", postgresql_where=text("deleted_at IS NULL")),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("order_id", String(255), nullable=False),
    Column(
        "courier_id",
        BigInteger,
        ForeignKey("couriers.id", name="deliveries_courier_id_fkey"),
        nullable=False,
    ),
    Column("status", String(16), nullable=False),
    Column("assigned_at", DateTime(timezone=True), nullable=False),
    Column("deadline", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("order_id", name="deliveries_order_id_key"),
    CheckConstraint("status IN ('active', 'completed', 'expired')", name="deliveries_status_check"),
    CheckConstraint("(status = 'active') = (finished_at IS NULL)", name="deliveries_finished_at_check"),
    # The invariant "at most one active delivery per courier", held by the database itself.
    Index(
        "deliveries_one_active_per_courier",
        "courier_id",
        unique=True,
        postgresql_where=text("status = 'active'"),
    ),
    Index("deliveries_due_idx", "deadline", postgresql_where=text("status = 'active'")),
    Index("deliveries_newest_idx", text("assigned_at DESC"), text("order_id DESC")),
    Index("deliveries_courier_newest_idx", "courier_id", text("assigned_at DESC"), text("order_id DESC")),
    Index("deliveries_status_newest_idx", "status", text("assigned_at DESC"), text("order_id DESC")),
)

orders = Table(
    "orders",
    metadata,
    Column("order_id", String(255), primary_key=True),
    Column("status", String(32), nullable=False),
    Column("status_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("orders_updated_at_idx", "updated_at"),
)

waiting_orders = Table(
    "waiting_orders",
    metadata,
    Column("order_id", String(255), primary_key=True),
    Column("since", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("waiting_orders_oldest_idx", "since", "order_id"),
)

processed_events = Table(
    "processed_events",
    metadata,
    Column("event_key", LargeBinary, primary_key=True),
    Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("processed_events_processed_at_idx", "processed_at"),
)

cursors = Table(
    "cursors",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("position", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

outbox = Table(
    "outbox",
    metadata,
    # Ids are drawn under the key's lock (CACHE 1): one key's ids rise in its commit order. Readers go
    # by position, stamped after commit from outbox_position_seq (see postgres/stamper.py).
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("event_id", UUID(as_uuid=True), nullable=False),
    Column("type", String(64), nullable=False),
    Column("key", String(255), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    Column("position", BigInteger, nullable=True),
    UniqueConstraint("event_id", name="outbox_event_id_key"),
    Index("outbox_position_key", "position", unique=True),
    Index("outbox_unstamped_idx", "id", postgresql_where=text("position IS NULL")),
    Index("outbox_pending_idx", "position", postgresql_where=text("sent_at IS NULL")),
    Index("outbox_sent_at_idx", "sent_at", postgresql_where=text("sent_at IS NOT NULL")),
)

history = Table(
    "history",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("subject", String(16), nullable=False),
    Column("subject_id", String(255), nullable=False),
    Column("change", String(32), nullable=False),
    Column("from_state", String(16), nullable=True),
    Column("to_state", String(16), nullable=True),
    Column("actor", String(120), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("details", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    CheckConstraint("subject IN ('courier', 'delivery')", name="history_subject_check"),
    Index("history_subject_idx", "subject", "subject_id", "id"),
)

assignment_decisions = Table(
    "assignment_decisions",
    metadata,
    Column("order_id", String(255), primary_key=True),
    Column("courier_id", BigInteger, nullable=False),
    Column("strategy", String(32), nullable=False),
    Column("candidates", Integer, nullable=False),
    Column("candidates_capped", Boolean, nullable=False),
    Column("courier_deliveries", BigInteger, nullable=False),
    Column("tie_break", String(32), nullable=False),
    Column("tied", Integer, nullable=False),
    Column("excluded", ARRAY(BigInteger), nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=False),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("scope", String(120), nullable=False),
    Column("key", String(255), nullable=False),
    Column("request_hash", LargeBinary, nullable=False),
    Column("status", Integer, nullable=True),  # NULL while the first request is being answered
    Column("headers", JSONB, nullable=True),
    Column("body", LargeBinary, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("scope", "key", name="idempotency_keys_pkey"),
    Index("idempotency_keys_created_at_idx", "created_at"),
)
