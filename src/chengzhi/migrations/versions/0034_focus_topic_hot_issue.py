"""participate: a focus topic taken from a hot issue (focus_topics.hot_issue_id)

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-07 03:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("focus_topics", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hot_issue_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_focus_topics_hot_issue_id_hot_issues"), "hot_issues", ["hot_issue_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("focus_topics", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_focus_topics_hot_issue_id_hot_issues"), type_="foreignkey")
        batch_op.drop_column("hot_issue_id")
