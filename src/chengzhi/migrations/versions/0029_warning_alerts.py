"""warning: text labels, alerts, sensitive words (warning_text_labels, warning_alerts, warning_sensitive_words)

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-07 03:07:24.712851
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import chengzhi.db

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "warning_sensitive_words",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("word", sa.String(length=50), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", chengzhi.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_warning_sensitive_words_created_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_warning_sensitive_words")),
        sa.UniqueConstraint("word", name=op.f("uq_warning_sensitive_words_word")),
    )
    op.create_table(
        "warning_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("cause", sa.String(length=200), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("unit_path", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=True),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("created_at", chengzhi.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", chengzhi.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["acknowledged_by"], ["users.id"], name=op.f("fk_warning_alerts_acknowledged_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["requests.id"],
            name=op.f("fk_warning_alerts_request_id_requests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_warning_alerts_unit_id_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_warning_alerts")),
        sa.UniqueConstraint("cause", name=op.f("uq_warning_alerts_cause")),
    )
    with op.batch_alter_table("warning_alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_warning_alerts_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_warning_alerts_unit_path"), ["unit_path"], unique=False)

    op.create_table(
        "warning_text_labels",
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("negativity", sa.Float(), nullable=False),
        sa.Column("sentiment", sa.String(length=10), nullable=False),
        sa.Column("message_type", sa.String(length=16), nullable=False),
        sa.Column("model_version", sa.String(length=40), nullable=False),
        sa.Column("labelled_at", chengzhi.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["requests.id"],
            name=op.f("fk_warning_text_labels_request_id_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_warning_text_labels")),
    )


def downgrade() -> None:
    op.drop_table("warning_text_labels")
    with op.batch_alter_table("warning_alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_warning_alerts_unit_path"))
        batch_op.drop_index(batch_op.f("ix_warning_alerts_created_at"))

    op.drop_table("warning_alerts")
    op.drop_table("warning_sensitive_words")
