"""inbox indexes: (status, id) and the overdue requests by due time

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25 17:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OVERDUE = sa.text("overdue_stage IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.create_index("ix_requests_status_id", ["status", "id"], unique=False)
        batch_op.create_index(
            "ix_requests_overdue_due",
            ["due_at", "id"],
            unique=False,
            postgresql_where=OVERDUE,
            sqlite_where=OVERDUE,
        )


def downgrade() -> None:
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.drop_index("ix_requests_overdue_due")
        batch_op.drop_index("ix_requests_status_id")
