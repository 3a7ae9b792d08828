"""participate: monthly focus topics (focus_topics, focus_progress, focus_votes)

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07 00:52:01.334840
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import chengzhi.db

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "focus_topics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=True),
        sa.Column("lead_unit_id", sa.Integer(), nullable=True),
        sa.Column("co_unit_ids", sa.JSON(), nullable=False),
        sa.Column("goal", sa.Text(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("votes", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", chengzhi.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["category_id"], ["categories.id"], name=op.f("fk_focus_topics_category_id_categories")
        ),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_focus_topics_created_by_users")),
        sa.ForeignKeyConstraint(
            ["lead_unit_id"], ["units.id"], name=op.f("fk_focus_topics_lead_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_focus_topics")),
    )
    with op.batch_alter_table("focus_topics", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_focus_topics_month"), ["month"], unique=False)

    op.create_table(
        "focus_progress",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("by", sa.Integer(), nullable=True),
        sa.Column("at", chengzhi.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["by"], ["users.id"], name=op.f("fk_focus_progress_by_users")),
        sa.ForeignKeyConstraint(
            ["topic_id"],
            ["focus_topics.id"],
            name=op.f("fk_focus_progress_topic_id_focus_topics"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_focus_progress")),
    )
    with op.batch_alter_table("focus_progress", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_focus_progress_topic_id"), ["topic_id"], unique=False)

    op.create_table(
        "focus_votes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("at", chengzhi.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["topic_id"],
            ["focus_topics.id"],
            name=op.f("fk_focus_votes_topic_id_focus_topics"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_focus_votes_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_focus_votes")),
        sa.UniqueConstraint("month", "user_id", name="uq_focus_votes_month_user"),
    )
    with op.batch_alter_table("focus_votes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_focus_votes_topic_id"), ["topic_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("focus_votes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_focus_votes_topic_id"))

    op.drop_table("focus_votes")
    with op.batch_alter_table("focus_progress", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_focus_progress_topic_id"))

    op.drop_table("focus_progress")
    with op.batch_alter_table("focus_topics", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_focus_topics_month"))

    op.drop_table("focus_topics")
