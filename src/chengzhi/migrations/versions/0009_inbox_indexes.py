"""inbox indexes: (status, id), the overdue requests by due time, unit paths for prefix matches on PostgreSQL

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
    if op.get_bind().dialect.name == "postgresql":
        # LIKE '/1/4/%' uses a b-tree index only with the pattern operator class (unless the collation is "C").
        op.drop_index("ix_request_units_unit_path", table_name="request_units")
        op.create_index(
            "ix_request_units_unit_path",
            "request_units",
            ["unit_path", "request_id"],
            postgresql_ops={"unit_path": "varchar_pattern_ops"},
        )
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
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_request_units_unit_path", table_name="request_units")
        op.create_index("ix_request_units_unit_path", "request_units", ["unit_path", "request_id"])
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.drop_index("ix_requests_overdue_due")
        batch_op.drop_index("ix_requests_status_id")
