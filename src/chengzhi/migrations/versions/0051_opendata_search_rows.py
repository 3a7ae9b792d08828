"""opendata: a narrow table for ranked `q` on PostgreSQL (od_search_rows), kept by a trigger

Revision ID: 0051
Revises: 0047
Create Date: 2026-12-07 10:00:00

A ranked search scores every match: on `od_datasets` (49 MB at 100,000 datasets, 111 MB with its indexes) that
reads most of the table's pages. `od_search_rows` holds only the dataset's id, status, open level, unit,
modification time and search vector (26 MB), GIN-indexed; an AFTER trigger on od_datasets copies them on every
insert and on every update of those columns (after the BEFORE trigger of 0045 has set the vector); deletes
cascade. SQLite: the table is made (the models are the same on both databases) but stays empty: its ranked search
is FTS5's.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import chengzhi.db

revision: str = "0051"
down_revision: str | None = "0047"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PG_FUNCTION = """
CREATE FUNCTION od_search_rows_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO od_search_rows (dataset_id, status, open_level, unit_id, modified_at, search_vector)
    VALUES (NEW.id, NEW.status, NEW.open_level, NEW.unit_id, NEW.modified_at, NEW.search_vector)
    ON CONFLICT (dataset_id) DO UPDATE SET status = EXCLUDED.status, open_level = EXCLUDED.open_level,
        unit_id = EXCLUDED.unit_id, modified_at = EXCLUDED.modified_at, search_vector = EXCLUDED.search_vector;
    RETURN NULL;
END
$$
"""
PG_TRIGGER = """
CREATE TRIGGER od_search_rows_sync
AFTER INSERT OR UPDATE OF id, status, open_level, unit_id, modified_at, search_title, search_text ON od_datasets
FOR EACH ROW EXECUTE FUNCTION od_search_rows_sync()
"""


def upgrade() -> None:
    op.create_table(
        "od_search_rows",
        sa.Column("dataset_id", sa.String(length=36), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft", "published", "withdrawn", name="od_dataset_status", native_enum=False, length=20
            ),
            nullable=False,
        ),
        sa.Column(
            "open_level",
            sa.Enum(
                "unconditional", "conditional", "not_open", name="od_open_level", native_enum=False, length=20
            ),
            nullable=False,
        ),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("modified_at", chengzhi.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("search_vector", postgresql.TSVECTOR().with_variant(sa.Text(), "sqlite"), nullable=True),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["od_datasets.id"],
            name=op.f("fk_od_search_rows_dataset_id_od_datasets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("dataset_id", name=op.f("pk_od_search_rows")),
    )
    if op.get_bind().dialect.name != "postgresql":
        op.create_index("ix_od_search_rows_search_vector", "od_search_rows", ["search_vector"])
        return
    op.execute(
        "INSERT INTO od_search_rows (dataset_id, status, open_level, unit_id, modified_at, search_vector)"
        " SELECT id, status, open_level, unit_id, modified_at, search_vector FROM od_datasets"
    )
    op.create_index(
        "ix_od_search_rows_search_vector", "od_search_rows", ["search_vector"], postgresql_using="gin"
    )
    op.execute(PG_FUNCTION)
    op.execute(PG_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS od_search_rows_sync ON od_datasets")
        op.execute("DROP FUNCTION IF EXISTS od_search_rows_sync()")
    op.drop_index("ix_od_search_rows_search_vector", table_name="od_search_rows")
    op.drop_table("od_search_rows")
