"""outbox positions: readers' order stamped after commit, so no writer waits for another's COMMIT

Until now every writing transaction took one cluster-wide advisory lock before its outbox insert and
held it through ``COMMIT``, so that ids came in commit order. Writers now draw ids under their key's
lock only (the order's or the courier's), and one stamper gives each committed row a ``position`` from
its own sequence, in id order; the relay and the live stream read by position. Rows that exist already
keep their id as their position, so the ``Last-Event-ID``\\s handed out stay valid.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # CACHE 1 (each nextval is the next number cluster-wide): ids drawn under a key's lock rise in
    # that key's commit order, and positions rise in the order the stamper draws them.
    op.execute("ALTER TABLE outbox ALTER COLUMN id SET CACHE 1")
    op.add_column("outbox", sa.Column("position", sa.BigInteger, nullable=True))
    op.execute("CREATE SEQUENCE outbox_position_seq AS bigint CACHE 1 OWNED BY outbox.position")
    op.execute("UPDATE outbox SET position = id")
    op.execute("SELECT setval('outbox_position_seq', coalesce((SELECT max(id) FROM outbox), 0) + 1, false)")
    op.create_index("outbox_position_key", "outbox", ["position"], unique=True)
    op.create_index("outbox_unstamped_idx", "outbox", ["id"], postgresql_where=sa.text("position IS NULL"))
    op.drop_index("outbox_pending_idx", table_name="outbox")
    op.create_index("outbox_pending_idx", "outbox", ["position"], postgresql_where=sa.text("sent_at IS NULL"))


def downgrade() -> None:
    # Readers go back to ids (the sequence goes with its column).
    op.drop_index("outbox_pending_idx", table_name="outbox")
    op.create_index("outbox_pending_idx", "outbox", ["id"], postgresql_where=sa.text("sent_at IS NULL"))
    op.drop_index("outbox_unstamped_idx", table_name="outbox")
    op.drop_index("outbox_position_key", table_name="outbox")
    op.drop_column("outbox", "position")
