"""metrics: request_facts (one row of figures per request, from its event log) and metric_exclusions

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 17:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import chengzhi.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = chengzhi.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "request_facts",
        sa.Column("request_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("received_at", UTC, nullable=False),
        sa.Column("received_day", sa.Date(), nullable=False),
        sa.Column("received_week", sa.Date(), nullable=False),
        sa.Column("received_month", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("lead_unit_id", sa.Integer(), nullable=True),
        sa.Column("lead_l1", sa.Integer(), nullable=True),
        sa.Column("lead_l2", sa.Integer(), nullable=True),
        sa.Column("lead_l3", sa.Integer(), nullable=True),
        sa.Column("lead_l4", sa.Integer(), nullable=True),
        sa.Column("area_district_id", sa.Integer(), nullable=True),
        sa.Column("area_street_id", sa.Integer(), nullable=True),
        sa.Column("area_community_id", sa.Integer(), nullable=True),
        sa.Column("dispatched", sa.Boolean(), nullable=False),
        sa.Column("response_due", sa.Boolean(), nullable=False),
        sa.Column("responded_on_time", sa.Boolean(), nullable=False),
        sa.Column("reviewed", sa.Boolean(), nullable=False),
        sa.Column("resolved", sa.Boolean(), nullable=False),
        sa.Column("satisfied", sa.Boolean(), nullable=False),
        sa.Column("excluded", sa.String(length=20), nullable=True),
        sa.Column("returns", sa.Integer(), nullable=False),
        sa.Column("reopenings", sa.Integer(), nullable=False),
        sa.Column("co_handled", sa.Boolean(), nullable=False),
        sa.Column("extended", sa.Boolean(), nullable=False),
        sa.Column("merged", sa.Boolean(), nullable=False),
        sa.Column("overdue_stage", sa.String(length=20), nullable=True),
        sa.Column("ever_overdue", sa.Boolean(), nullable=False),
        sa.Column("wait_s", sa.Float(), nullable=True),
        sa.Column("sign_s", sa.Float(), nullable=True),
        sa.Column("contact_s", sa.Float(), nullable=True),
        sa.Column("reply_s", sa.Float(), nullable=True),
        sa.Column("review_s", sa.Float(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("refreshed_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"], ["requests.id"], name=op.f("fk_request_facts_request_id_requests")
        ),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_request_facts")),
    )
    op.create_index("ix_request_facts_day", "request_facts", ["received_day"], unique=False)
    op.create_index("ix_request_facts_l2_day", "request_facts", ["lead_l2", "received_day"], unique=False)
    op.create_index("ix_request_facts_l3_day", "request_facts", ["lead_l3", "received_day"], unique=False)
    op.create_index("ix_request_facts_l4_day", "request_facts", ["lead_l4", "received_day"], unique=False)
    op.create_table(
        "metric_exclusions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"], name=op.f("fk_metric_exclusions_actor_id_users")),
        sa.ForeignKeyConstraint(
            ["request_id"], ["requests.id"], name=op.f("fk_metric_exclusions_request_id_requests")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metric_exclusions")),
    )
    op.create_index(
        op.f("ix_metric_exclusions_request_id"), "metric_exclusions", ["request_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_metric_exclusions_request_id"), table_name="metric_exclusions")
    op.drop_table("metric_exclusions")
    op.drop_index("ix_request_facts_l4_day", table_name="request_facts")
    op.drop_index("ix_request_facts_l3_day", table_name="request_facts")
    op.drop_index("ix_request_facts_l2_day", table_name="request_facts")
    op.drop_index("ix_request_facts_day", table_name="request_facts")
    op.drop_table("request_facts")
