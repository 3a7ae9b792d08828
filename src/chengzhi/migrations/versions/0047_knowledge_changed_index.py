"""knowledge: an index on the articles' latest change

Revision ID: 0047
Revises: 0045
Create Date: 2026-12-07 06:30:00

The search index reads the latest change at every question and its delta reads the articles changed since the main
index was built (chengzhi/knowledge/index.py): both are index lookups instead of scans of every article.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0047"
down_revision: str | None = "0045"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("knowledge_articles", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_knowledge_articles_updated_at"), ["updated_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("knowledge_articles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_knowledge_articles_updated_at"))
