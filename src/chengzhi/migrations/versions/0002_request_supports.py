"""request supports ("me too")

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 17:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import chengzhi.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "request_supports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("supporter", sa.String(length=64), nullable=False),
        sa.Column("created_at", chengzhi.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"], ["requests.id"], name=op.f("fk_request_supports_request_id_requests")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_supports")),
        sa.UniqueConstraint("request_id", "supporter", name="uq_request_supports_request_supporter"),
    )
    with op.batch_alter_table("request_supports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_request_supports_request_id"), ["request_id"], unique=False)
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("support_count", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.drop_column("support_count")
    with op.batch_alter_table("request_supports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_request_supports_request_id"))
    op.drop_table("request_supports")
