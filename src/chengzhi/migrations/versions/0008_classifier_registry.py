"""classifier registry: trained category models, their activations, and dispatchers' category corrections

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import chengzhi.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "classifier_models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", chengzhi.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("artifact", sa.String(length=500), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.Column("data_sha256", sa.String(length=64), nullable=False),
        sa.Column("data_rows", sa.Integer(), nullable=False),
        sa.Column("data_bytes", sa.BigInteger(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_classifier_models")),
        sa.UniqueConstraint("version", name=op.f("uq_classifier_models_version")),
    )
    op.create_index(op.f("ix_classifier_models_active"), "classifier_models", ["active"], unique=False)
    op.create_table(
        "classifier_activations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("at", chengzhi.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["classifier_models.id"],
            name=op.f("fk_classifier_activations_model_id_classifier_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_classifier_activations")),
    )
    op.create_index(
        op.f("ix_classifier_activations_model_id"), "classifier_activations", ["model_id"], unique=False
    )
    op.create_table(
        "category_corrections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("from_category_id", sa.Integer(), nullable=True),
        sa.Column("to_category_id", sa.Integer(), nullable=False),
        sa.Column("suggested_category_id", sa.Integer(), nullable=True),
        sa.Column("model_version", sa.Integer(), nullable=True),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("at", chengzhi.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_in_version", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["requests.id"],
            name=op.f("fk_category_corrections_request_id_requests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["from_category_id"],
            ["categories.id"],
            name=op.f("fk_category_corrections_from_category_id_categories"),
        ),
        sa.ForeignKeyConstraint(
            ["to_category_id"],
            ["categories.id"],
            name=op.f("fk_category_corrections_to_category_id_categories"),
        ),
        sa.ForeignKeyConstraint(
            ["suggested_category_id"],
            ["categories.id"],
            name=op.f("fk_category_corrections_suggested_category_id_categories"),
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_category_corrections_actor_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_category_corrections")),
    )
    op.create_index(op.f("ix_category_corrections_request_id"), "category_corrections", ["request_id"])
    op.create_index(op.f("ix_category_corrections_at"), "category_corrections", ["at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_category_corrections_at"), table_name="category_corrections")
    op.drop_index(op.f("ix_category_corrections_request_id"), table_name="category_corrections")
    op.drop_table("category_corrections")
    op.drop_index(op.f("ix_classifier_activations_model_id"), table_name="classifier_activations")
    op.drop_table("classifier_activations")
    op.drop_index(op.f("ix_classifier_models_active"), table_name="classifier_models")
    op.drop_table("classifier_models")
