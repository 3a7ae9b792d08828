"""warning: outside posts (warning_feeds, warning_posts): feed entries and uploaded board exports beside requests

Revision ID: 0043
Revises: 0038
Create Date: 2026-12-07 06:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import chengzhi.db

revision: str = "0043"
down_revision: str | None = "0038"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "warning_feeds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("etag", sa.String(length=200), nullable=True),
        sa.Column("modified", sa.String(length=100), nullable=True),
        sa.Column("fetched_at", chengzhi.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.Column("created_at", chengzhi.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_warning_feeds_unit_id_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_warning_feeds")),
        sa.UniqueConstraint("name", name=op.f("uq_warning_feeds_name")),
        sa.UniqueConstraint("url", name=op.f("uq_warning_feeds_url")),
    )
    op.create_table(
        "warning_posts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("feed_id", sa.Integer(), nullable=True),
        sa.Column("external_id", sa.String(length=300), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=True),
        sa.Column("person", sa.String(length=64), nullable=False),
        sa.Column("likes", sa.Integer(), nullable=False),
        sa.Column("dislikes", sa.Integer(), nullable=False),
        sa.Column("received_at", chengzhi.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("unit_path", sa.String(length=200), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=True),
        sa.Column("similarity", sa.Float(), nullable=False),
        sa.Column("created_at", chengzhi.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["feed_id"],
            ["warning_feeds.id"],
            name=op.f("fk_warning_posts_feed_id_warning_feeds"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["issue_id"],
            ["hot_issues.id"],
            name=op.f("fk_warning_posts_issue_id_hot_issues"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_warning_posts")),
        sa.UniqueConstraint("source", "external_id", name="uq_warning_posts_source_external_id"),
        sa.UniqueConstraint("source", "digest", name="uq_warning_posts_source_digest"),
    )
    with op.batch_alter_table("warning_posts", schema=None) as batch_op:
        batch_op.create_index("ix_warning_posts_issue_received", ["issue_id", "received_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_warning_posts_received_at"), ["received_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_warning_posts_unit_path"), ["unit_path"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("warning_posts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_warning_posts_unit_path"))
        batch_op.drop_index(batch_op.f("ix_warning_posts_received_at"))
        batch_op.drop_index("ix_warning_posts_issue_received")
    op.drop_table("warning_posts")
    op.drop_table("warning_feeds")
