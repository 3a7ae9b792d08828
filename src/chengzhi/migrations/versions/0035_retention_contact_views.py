"""requests: anonymised by the retention job (anonymised_at); contact_views: staff views of unmasked contacts

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-07 03:35:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import chengzhi.db

revision: str = "0035"
down_revision: str | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WAITING = "closed_at IS NOT NULL AND anonymised_at IS NULL"


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("anonymised_at", chengzhi.db.UTCDateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_requests_retention",
        "requests",
        ["closed_at", "id"],
        postgresql_where=sa.text(WAITING),
        sqlite_where=sa.text(WAITING),
    )
    op.create_table(
        "contact_views",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("viewer_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("at", chengzhi.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("via", sa.String(length=10), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"]),
        sa.ForeignKeyConstraint(["viewer_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_contact_views_at", "contact_views", ["at"])
    op.create_index("ix_contact_views_viewer_id", "contact_views", ["viewer_id"])
    op.create_index("ix_contact_views_request_at", "contact_views", ["request_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_contact_views_request_at", table_name="contact_views")
    op.drop_index("ix_contact_views_viewer_id", table_name="contact_views")
    op.drop_index("ix_contact_views_at", table_name="contact_views")
    op.drop_table("contact_views")
    op.drop_index("ix_requests_retention", table_name="requests")
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("anonymised_at")
