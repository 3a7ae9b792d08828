"""publish: publications (notices and published replies)

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 00:16:34.105132
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import chengzhi.db

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "publications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("unit_path", sa.String(length=200), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=True),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("consent_noted_by", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("moderated_by", sa.Integer(), nullable=True),
        sa.Column("moderation_note", sa.String(length=500), nullable=True),
        sa.Column("created_at", chengzhi.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("published_at", chengzhi.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["category_id"], ["categories.id"], name=op.f("fk_publications_category_id_categories")
        ),
        sa.ForeignKeyConstraint(
            ["consent_noted_by"], ["users.id"], name=op.f("fk_publications_consent_noted_by_users")
        ),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_publications_created_by_users")),
        sa.ForeignKeyConstraint(
            ["moderated_by"], ["users.id"], name=op.f("fk_publications_moderated_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"], ["requests.id"], name=op.f("fk_publications_request_id_requests")
        ),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_publications_unit_id_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_publications")),
        sa.UniqueConstraint("request_id", name=op.f("uq_publications_request_id")),
    )
    with op.batch_alter_table("publications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_publications_category_id"), ["category_id"], unique=False)
        batch_op.create_index("ix_publications_state_published", ["state", "published_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_publications_unit_id"), ["unit_id"], unique=False)
        batch_op.create_index("ix_publications_unit_path", ["unit_path"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("publications", schema=None) as batch_op:
        batch_op.drop_index("ix_publications_unit_path")
        batch_op.drop_index(batch_op.f("ix_publications_unit_id"))
        batch_op.drop_index("ix_publications_state_published")
        batch_op.drop_index(batch_op.f("ix_publications_category_id"))

    op.drop_table("publications")
