"""outbox (events out), history (who changed what), assignment decisions, idempotency keys

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "outbox",
        # Ids are handed out under a transaction-scoped lock held until commit: id order is commit order.
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("event_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("payload", postgresql.JSONB, nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("sent_at", TS, nullable=True),
        sa.UniqueConstraint("event_id", name="outbox_event_id_key"),
    )
    op.create_index("outbox_pending_idx", "outbox", ["id"], postgresql_where=sa.text("sent_at IS NULL"))
    op.create_index(
        "outbox_sent_at_idx", "outbox", ["sent_at"], postgresql_where=sa.text("sent_at IS NOT NULL")
    )
    op.create_table(
        "history",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("subject", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(255), nullable=False),
        sa.Column("change", sa.String(32), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=True),
        sa.Column("to_state", sa.String(16), nullable=True),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("details", postgresql.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.CheckConstraint("subject IN ('courier', 'delivery')", name="history_subject_check"),
    )
    op.create_index("history_subject_idx", "history", ["subject", "subject_id", "id"])
    op.create_table(
        "assignment_decisions",
        sa.Column("order_id", sa.String(255), primary_key=True),
        sa.Column("courier_id", sa.BigInteger, nullable=False),
        sa.Column("strategy", sa.String(32), nullable=False),
        sa.Column("candidates", sa.Integer, nullable=False),
        sa.Column("candidates_capped", sa.Boolean, nullable=False),
        sa.Column("courier_deliveries", sa.BigInteger, nullable=False),
        sa.Column("tie_break", sa.String(32), nullable=False),
        sa.Column("tied", sa.Integer, nullable=False),
        sa.Column("excluded", postgresql.ARRAY(sa.BigInteger), nullable=False),
        sa.Column("decided_at", TS, nullable=False),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(120), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("request_hash", sa.LargeBinary, nullable=False),
        sa.Column("status", sa.Integer, nullable=True),
        sa.Column("headers", postgresql.JSONB, nullable=True),
        sa.Column("body", sa.LargeBinary, nullable=True),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("scope", "key", name="idempotency_keys_pkey"),
    )
    op.create_index("idempotency_keys_created_at_idx", "idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    op.drop_table("assignment_decisions")
    op.drop_table("history")
    op.drop_table("outbox")
