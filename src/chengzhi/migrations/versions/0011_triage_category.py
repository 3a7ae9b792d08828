"""request triage: the category model's suggestion at intake (top 3, model version, sure enough or not)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-25 22:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("request_triage") as batch:
        batch.add_column(sa.Column("model_version", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("category_suggestions", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("category_sure", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("request_triage") as batch:
        batch.drop_column("category_sure")
        batch.drop_column("category_suggestions")
        batch.drop_column("model_version")
