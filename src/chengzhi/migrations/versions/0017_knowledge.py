"""knowledge: knowledge_articles and knowledge_article_versions

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 22:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import chengzhi.db

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = chengzhi.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "knowledge_articles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("questions", sa.JSON(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("category_code", sa.String(length=40), nullable=True),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("source", sa.String(length=300), nullable=True),
        sa.Column(
            "status",
            sa.Enum("draft", "published", "withdrawn", name="article_status", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_knowledge_articles_unit_id_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_articles")),
    )
    op.create_index(op.f("ix_knowledge_articles_unit_id"), "knowledge_articles", ["unit_id"], unique=False)
    op.create_index(op.f("ix_knowledge_articles_status"), "knowledge_articles", ["status"], unique=False)
    op.create_table(
        "knowledge_article_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("changed", sa.JSON(), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["knowledge_articles.id"],
            name=op.f("fk_knowledge_article_versions_article_id_knowledge_articles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_knowledge_article_versions_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_article_versions")),
        sa.UniqueConstraint("article_id", "seq", name="uq_knowledge_article_versions_article_seq"),
    )
    op.create_index(
        op.f("ix_knowledge_article_versions_article_id"),
        "knowledge_article_versions",
        ["article_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_knowledge_article_versions_article_id"), table_name="knowledge_article_versions")
    op.drop_table("knowledge_article_versions")
    op.drop_index(op.f("ix_knowledge_articles_status"), table_name="knowledge_articles")
    op.drop_index(op.f("ix_knowledge_articles_unit_id"), table_name="knowledge_articles")
    op.drop_table("knowledge_articles")
