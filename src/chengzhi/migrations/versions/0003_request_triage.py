"""request triage: place from text, urgency, learned place names, the duplicates index

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 17:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import chengzhi.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "request_triage",
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("place_lat", sa.Float(), nullable=True),
        sa.Column("place_lon", sa.Float(), nullable=True),
        sa.Column("place_unit_id", sa.Integer(), nullable=True),
        sa.Column("place_matches", sa.JSON(), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("urgency_matches", sa.JSON(), nullable=False),
        sa.Column("text_note", sa.String(length=40), nullable=True),
        sa.Column("created_at", chengzhi.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["requests.id"],
            name=op.f("fk_request_triage_request_id_requests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["place_unit_id"], ["units.id"], name=op.f("fk_request_triage_place_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_request_triage")),
    )
    op.create_table(
        "place_names",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("mentions", sa.Integer(), nullable=False),
        sa.Column("spread_m", sa.Float(), nullable=False),
        sa.Column("updated_at", chengzhi.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_place_names_unit_id_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_place_names")),
        sa.UniqueConstraint("name", name=op.f("uq_place_names_name")),
    )
    op.create_table(
        "duplicate_bands",
        sa.Column("band_key", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("request_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["requests.id"],
            name=op.f("fk_duplicate_bands_request_id_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("band_key", "request_id", name=op.f("pk_duplicate_bands")),
    )
    with op.batch_alter_table("duplicate_bands", schema=None) as batch_op:
        batch_op.create_index("ix_duplicate_bands_request_id", ["request_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("duplicate_bands", schema=None) as batch_op:
        batch_op.drop_index("ix_duplicate_bands_request_id")
    op.drop_table("duplicate_bands")
    op.drop_table("place_names")
    op.drop_table("request_triage")
