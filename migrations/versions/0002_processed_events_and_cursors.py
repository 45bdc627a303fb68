"""processed events (idempotent consumption) and job cursors (reconciliation)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "processed_events",
        sa.Column("event_key", sa.LargeBinary, primary_key=True),
        sa.Column("processed_at", TS, nullable=False, server_default=sa.func.now()),
    )
    op.create_index("processed_events_processed_at_idx", "processed_events", ["processed_at"])
    op.create_table(
        "cursors",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("position", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("cursors")
    op.drop_table("processed_events")
