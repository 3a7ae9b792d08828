"""credit: entities (with name history), the code allow-list, credit records and the grade history

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 22:04:01.409638
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import chengzhi.db

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "credit_allowed_codes",
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("added_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", chengzhi.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("uscc", name=op.f("pk_credit_allowed_codes")),
    )
    op.create_table(
        "credit_entities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("legal_rep", sa.String(length=120), nullable=True),
        sa.Column("address", sa.String(length=300), nullable=True),
        sa.Column("area_unit_id", sa.Integer(), nullable=True),
        sa.Column("industry", sa.String(length=20), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("grade", sa.String(length=1), nullable=True),
        sa.Column("graded_at", chengzhi.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", chengzhi.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["area_unit_id"], ["units.id"], name=op.f("fk_credit_entities_area_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_entities")),
        sa.UniqueConstraint("uscc", name=op.f("uq_credit_entities_uscc")),
    )
    with op.batch_alter_table("credit_entities", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_credit_entities_area_unit_id"), ["area_unit_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_credit_entities_grade"), ["grade"], unique=False)
        batch_op.create_index(batch_op.f("ix_credit_entities_industry"), ["industry"], unique=False)
        batch_op.create_index(batch_op.f("ix_credit_entities_name"), ["name"], unique=False)

    op.create_table(
        "credit_entity_names",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["entity_id"],
            ["credit_entities.id"],
            name=op.f("fk_credit_entity_names_entity_id_credit_entities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_entity_names")),
    )
    with op.batch_alter_table("credit_entity_names", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_credit_entity_names_entity_id"), ["entity_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_credit_entity_names_name"), ["name"], unique=False)

    op.create_table(
        "credit_grades",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("grade", sa.String(length=1), nullable=False),
        sa.Column("model", sa.String(length=40), nullable=False),
        sa.Column("explanation", sa.JSON(), nullable=False),
        sa.Column("computed_on", sa.Date(), nullable=False),
        sa.Column("computed_at", chengzhi.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["entity_id"],
            ["credit_entities.id"],
            name=op.f("fk_credit_grades_entity_id_credit_entities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_grades")),
    )
    with op.batch_alter_table("credit_grades", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_credit_grades_entity_id"), ["entity_id"], unique=False)

    op.create_table(
        "credit_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=True),
        sa.Column("outcome", sa.Boolean(), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("source_unit_id", sa.Integer(), nullable=True),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=False),
        sa.Column("rule_set", sa.String(length=20), nullable=True),
        sa.Column("publish_until", sa.Date(), nullable=True),
        sa.Column("repaired_on", sa.Date(), nullable=True),
        sa.Column("repair_note", sa.Text(), nullable=True),
        sa.Column("created_at", chengzhi.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["entity_id"],
            ["credit_entities.id"],
            name=op.f("fk_credit_records_entity_id_credit_entities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_unit_id"], ["units.id"], name=op.f("fk_credit_records_source_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_records")),
    )
    with op.batch_alter_table("credit_records", schema=None) as batch_op:
        batch_op.create_index("ix_credit_records_entity_decided", ["entity_id", "decided_on"], unique=False)
        batch_op.create_index(batch_op.f("ix_credit_records_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_credit_records_request_id"), ["request_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_credit_records_source_unit_id"), ["source_unit_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("credit_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credit_records_source_unit_id"))
        batch_op.drop_index(batch_op.f("ix_credit_records_request_id"))
        batch_op.drop_index(batch_op.f("ix_credit_records_kind"))
        batch_op.drop_index("ix_credit_records_entity_decided")

    op.drop_table("credit_records")
    with op.batch_alter_table("credit_grades", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credit_grades_entity_id"))

    op.drop_table("credit_grades")
    with op.batch_alter_table("credit_entity_names", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credit_entity_names_name"))
        batch_op.drop_index(batch_op.f("ix_credit_entity_names_entity_id"))

    op.drop_table("credit_entity_names")
    with op.batch_alter_table("credit_entities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credit_entities_name"))
        batch_op.drop_index(batch_op.f("ix_credit_entities_industry"))
        batch_op.drop_index(batch_op.f("ix_credit_entities_grade"))
        batch_op.drop_index(batch_op.f("ix_credit_entities_area_unit_id"))

    op.drop_table("credit_entities")
    op.drop_table("credit_allowed_codes")
