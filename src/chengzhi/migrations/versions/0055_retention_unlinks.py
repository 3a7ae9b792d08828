"""retention: a comment's author and a detail view's resident may be unlinked

Revision ID: 0055
Revises: 0053
Create Date: 2026-12-07 09:40:00

The retention job unlinks the authors of the comments on requests closed more than CHENGZHI_RETENTION_MONTHS ago
(docs/security.md), so `comments.user_id` may be empty, and the resident of the views of the requests' shared
details (`detail_views.resident_id`, an audit row otherwise kept). Going back, the comments without an author
cannot be represented and are deleted (with their reports); detail views without a resident get 0 (no user).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0055"
down_revision: str | None = "0053"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.alter_column("user_id", existing_type=sa.Integer(), nullable=True)
    with op.batch_alter_table("detail_views", schema=None) as batch_op:
        batch_op.alter_column("resident_id", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    op.execute("UPDATE detail_views SET resident_id = 0 WHERE resident_id IS NULL")
    with op.batch_alter_table("detail_views", schema=None) as batch_op:
        batch_op.alter_column("resident_id", existing_type=sa.Integer(), nullable=False)
    op.execute(
        "DELETE FROM comment_reports WHERE comment_id IN (SELECT id FROM comments WHERE user_id IS NULL)"
    )
    op.execute("DELETE FROM comments WHERE user_id IS NULL")
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.alter_column("user_id", existing_type=sa.Integer(), nullable=False)
