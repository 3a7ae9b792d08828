"""opendata: ready package dicts per dataset and language, usage per dataset and day, covering search indexes

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-07 03:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import chengzhi.db

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("od_datasets", schema=None) as batch_op:
        batch_op.drop_index("ix_od_datasets_status_id")
        batch_op.drop_index("ix_od_datasets_unit_status")
        batch_op.create_index(
            "ix_od_datasets_status_id_modified", ["status", "id", "open_level", "modified_at"], unique=False
        )
        batch_op.create_index(
            "ix_od_datasets_unit_status_modified", ["unit_id", "status", "modified_at", "id"], unique=False
        )
    # Datasets written before this revision have no doc: pages build their dicts on the spot until the quality
    # job (opendata_quality) has built the docs, a batch per run.
    op.create_table(
        "od_package_docs",
        sa.Column("dataset_id", sa.String(length=36), nullable=False),
        sa.Column("lang", sa.String(length=5), nullable=False),
        sa.Column("modified_at", chengzhi.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["od_datasets.id"],
            name=op.f("fk_od_package_docs_dataset_id_od_datasets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("dataset_id", "lang", name=op.f("pk_od_package_docs")),
    )
    op.create_table(
        "od_usage_days",
        sa.Column("dataset_id", sa.String(length=36), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("downloads", sa.Integer(), nullable=False),
        sa.Column("api_calls", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["od_datasets.id"],
            name=op.f("fk_od_usage_days_dataset_id_od_datasets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("dataset_id", "day", name=op.f("pk_od_usage_days")),
    )


def downgrade() -> None:
    op.drop_table("od_usage_days")
    op.drop_table("od_package_docs")
    with op.batch_alter_table("od_datasets", schema=None) as batch_op:
        batch_op.drop_index("ix_od_datasets_unit_status_modified")
        batch_op.drop_index("ix_od_datasets_status_id_modified")
        batch_op.create_index("ix_od_datasets_unit_status", ["unit_id", "status"], unique=False)
        batch_op.create_index("ix_od_datasets_status_id", ["status", "id", "open_level"], unique=False)
