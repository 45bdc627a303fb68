"""couriers, deliveries, known orders and the waiting queue

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "couriers",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("phone", sa.String(12), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("transport_type", sa.String(16), nullable=False),
        sa.Column("total_deliveries", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("version", sa.BigInteger, nullable=False, server_default=sa.text("1")),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("deleted_at", TS, nullable=True),
        sa.CheckConstraint("status IN ('available', 'busy', 'paused')", name="couriers_status_check"),
        sa.CheckConstraint(
            "transport_type IN ('on_foot', 'scooter', 'car')", name="couriers_transport_type_check"
        ),
        sa.CheckConstraint("phone ~ '^\\+[0-9]{11}$'", name="couriers_phone_check"),
        sa.CheckConstraint("total_deliveries >= 0", name="couriers_total_deliveries_check"),
    )
    op.create_index(
        "couriers_phone_live_key",
        "couriers",
        ["phone"],
        unique=True,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index(
        "couriers_pick_idx",
        "couriers",
        ["total_deliveries", "id"],
        postgresql_where=sa.text("status = 'available' AND deleted_at IS NULL"),
    )
    op.create_index(
        "couriers_status_id_idx",
        "couriers",
        ["status", "id"],
        postgresql_where=sa.text("deleted_at IS NULL"),
    )

    op.create_table(
        "deliveries",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("order_id", sa.String(255), nullable=False),
        sa.Column(
            "courier_id",
            sa.BigInteger,
            sa.ForeignKey("couriers.id", name="deliveries_courier_id_fkey"),
            nullable=False,
        ),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("assigned_at", TS, nullable=False),
        sa.Column("deadline", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.UniqueConstraint("order_id", name="deliveries_order_id_key"),
        sa.CheckConstraint("status IN ('active', 'completed', 'expired')", name="deliveries_status_check"),
        sa.CheckConstraint(
            "(status = 'active') = (finished_at IS NULL)", name="deliveries_finished_at_check"
        ),
    )
    op.create_index(
        "deliveries_one_active_per_courier",
        "deliveries",
        ["courier_id"],
        unique=True,
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_index(
        "deliveries_due_idx", "deliveries", ["deadline"], postgresql_where=sa.text("status = 'active'")
    )
    op.create_index(
        "deliveries_newest_idx", "deliveries", [sa.text("assigned_at DESC"), sa.text("order_id DESC")]
    )
    op.create_index(
        "deliveries_courier_newest_idx",
        "deliveries",
        ["courier_id", sa.text("assigned_at DESC"), sa.text("order_id DESC")],
    )
    op.create_index(
        "deliveries_status_newest_idx",
        "deliveries",
        ["status", sa.text("assigned_at DESC"), sa.text("order_id DESC")],
    )

    op.create_table(
        "orders",
        sa.Column("order_id", sa.String(255), primary_key=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("status_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
    )
    op.create_index("orders_updated_at_idx", "orders", ["updated_at"])

    op.create_table(
        "waiting_orders",
        sa.Column("order_id", sa.String(255), primary_key=True),
        sa.Column("since", TS, nullable=False, server_default=sa.func.now()),
    )
    op.create_index("waiting_orders_oldest_idx", "waiting_orders", ["since", "order_id"])


def downgrade() -> None:
    op.drop_table("waiting_orders")
    op.drop_table("orders")
    op.drop_table("deliveries")
    op.drop_table("couriers")
