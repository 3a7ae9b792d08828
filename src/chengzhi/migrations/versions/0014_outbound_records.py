"""outbound: outbound_records, what the recording sink stored instead of sending

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import chengzhi.db

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = chengzhi.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "outbound_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("recipient", sa.String(length=300), nullable=False),
        sa.Column("reference", sa.String(length=120), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_records")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_outbound_records_idempotency_key")),
    )
    op.create_index(op.f("ix_outbound_records_channel"), "outbound_records", ["channel"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_outbound_records_channel"), table_name="outbound_records")
    op.drop_table("outbound_records")
