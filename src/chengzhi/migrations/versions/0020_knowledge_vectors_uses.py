"""knowledge: knowledge_vectors (stored passage embeddings) and knowledge_uses (what became of shown articles)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 23:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import chengzhi.db

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = chengzhi.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "knowledge_vectors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=80), nullable=False),
        sa.Column("text_hash", sa.String(length=64), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_vectors")),
        sa.UniqueConstraint("model", "text_hash", name="uq_knowledge_vectors_model_text_hash"),
    )
    op.create_table(
        "knowledge_uses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("article_version", sa.Integer(), nullable=False),
        sa.Column(
            "outcome",
            sa.Enum(
                "answered",
                "rejected",
                "helped",
                "not_helped",
                name="use_outcome",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("question", sa.String(length=500), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["knowledge_articles.id"],
            name=op.f("fk_knowledge_uses_article_id_knowledge_articles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["requests.id"],
            name=op.f("fk_knowledge_uses_request_id_requests"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_uses")),
    )
    op.create_index(op.f("ix_knowledge_uses_article_id"), "knowledge_uses", ["article_id"], unique=False)
    op.create_index(op.f("ix_knowledge_uses_created_at"), "knowledge_uses", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_knowledge_uses_created_at"), table_name="knowledge_uses")
    op.drop_index(op.f("ix_knowledge_uses_article_id"), table_name="knowledge_uses")
    op.drop_table("knowledge_uses")
    op.drop_table("knowledge_vectors")
