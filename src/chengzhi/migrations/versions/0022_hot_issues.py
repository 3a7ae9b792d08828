"""warning: hot_issues, hot_issue_members, hot_issue_decisions and hot_terms

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 23:59:27.708972
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import chengzhi.db

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "hot_issues",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_locked", sa.Boolean(), nullable=False),
        sa.Column("place_or_group", sa.String(length=200), nullable=False),
        sa.Column("top_words", sa.JSON(), nullable=False),
        sa.Column("signature", sa.JSON(), nullable=False),
        sa.Column("place_keys", sa.JSON(), nullable=False),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column("first_at", chengzhi.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_at", chengzhi.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("merged_into_id", sa.Integer(), nullable=True),
        sa.Column("created_at", chengzhi.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", chengzhi.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merged_into_id"], ["hot_issues.id"], name=op.f("fk_hot_issues_merged_into_id_hot_issues")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hot_issues")),
    )
    with op.batch_alter_table("hot_issues", schema=None) as batch_op:
        batch_op.create_index("ix_hot_issues_open_last", ["merged_into_id", "last_at"], unique=False)

    op.create_table(
        "hot_terms",
        sa.Column("term", sa.String(length=80), nullable=False),
        sa.Column("idf", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("term", name=op.f("pk_hot_terms")),
    )
    op.create_table(
        "hot_issue_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("at", chengzhi.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["issue_id"], ["hot_issues.id"], name=op.f("fk_hot_issue_decisions_issue_id_hot_issues")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_hot_issue_decisions_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hot_issue_decisions")),
    )
    with op.batch_alter_table("hot_issue_decisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hot_issue_decisions_issue_id"), ["issue_id"], unique=False)

    op.create_table(
        "hot_issue_members",
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("similarity", sa.Float(), nullable=False),
        sa.Column("pinned", sa.Boolean(), nullable=False),
        sa.Column("received_at", chengzhi.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("person", sa.String(length=64), nullable=False),
        sa.Column("supports", sa.Integer(), nullable=False),
        sa.Column("unit_path", sa.String(length=200), nullable=False),
        sa.Column("area_unit_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("placed_at", chengzhi.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["area_unit_id"], ["units.id"], name=op.f("fk_hot_issue_members_area_unit_id_units")
        ),
        sa.ForeignKeyConstraint(
            ["issue_id"], ["hot_issues.id"], name=op.f("fk_hot_issue_members_issue_id_hot_issues")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["requests.id"],
            name=op.f("fk_hot_issue_members_request_id_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_hot_issue_members")),
    )
    with op.batch_alter_table("hot_issue_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hot_issue_members_issue_id"), ["issue_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_hot_issue_members_unit_path"), ["unit_path"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("hot_issue_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hot_issue_members_unit_path"))
        batch_op.drop_index(batch_op.f("ix_hot_issue_members_issue_id"))

    op.drop_table("hot_issue_members")
    with op.batch_alter_table("hot_issue_decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hot_issue_decisions_issue_id"))

    op.drop_table("hot_issue_decisions")
    op.drop_table("hot_terms")
    with op.batch_alter_table("hot_issues", schema=None) as batch_op:
        batch_op.drop_index("ix_hot_issues_open_last")

    op.drop_table("hot_issues")
