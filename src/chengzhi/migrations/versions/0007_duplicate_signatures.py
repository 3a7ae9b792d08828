"""duplicate signatures: each request's MinHash signature, for scoring candidates without their texts

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 17:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "duplicate_signatures",
        sa.Column("request_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["requests.id"],
            name=op.f("fk_duplicate_signatures_request_id_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_duplicate_signatures")),
    )


def downgrade() -> None:
    op.drop_table("duplicate_signatures")
