"""requests: the intake outbox read by the triage worker, and requests.triage_pending

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import chengzhi.db

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "triage_queue",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("keep_priority", sa.Boolean(), nullable=False),
        sa.Column("enqueued_at", chengzhi.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("available_at", chengzhi.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_triage_queue_available", "triage_queue", ["available_at", "id"])
    op.create_index("ix_triage_queue_request_id", "triage_queue", ["request_id"])
    # Existing requests were triaged at intake: false for all of them, without rewriting the table.
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("triage_pending", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.add_column(sa.Column("triaged_at", chengzhi.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("triaged_at")
        batch.drop_column("triage_pending")
    op.drop_index("ix_triage_queue_request_id", table_name="triage_queue")
    op.drop_index("ix_triage_queue_available", table_name="triage_queue")
    op.drop_table("triage_queue")
