"""metrics: the daily roll-up of request_facts (metric_daily, metric_days) and an index on facts' refresh time

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 17:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import chengzhi.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = chengzhi.db.UTCDateTime(timezone=True)
# Frozen copies of metrics.models.ROLLUP_MEASURES / ROLLUP_STAGES as of this revision.
MEASURES = (
    "received", "dispatched", "response_denominator", "response_numerator", "response_pending",
    "follow_up_denominator", "resolution_numerator", "satisfaction_numerator", "excluded", "open", "overdue",
    "ever_overdue", "returned", "reopened", "co_handled", "extended", "merged", "closed", "status_received",
    "status_dispatched", "status_signed", "status_contacted", "status_replied", "status_reviewed", "status_closed",
    "status_returned", "status_reopened",
)  # fmt: skip
STAGES = ("wait", "sign", "contact", "reply", "review")


def upgrade() -> None:
    op.create_table(
        "metric_daily",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("lead_key", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("lead_l1", sa.Integer(), nullable=True),
        sa.Column("lead_l2", sa.Integer(), nullable=True),
        sa.Column("lead_l3", sa.Integer(), nullable=True),
        sa.Column("lead_l4", sa.Integer(), nullable=True),
        *[sa.Column(f"n_{m}", sa.Integer(), nullable=False) for m in MEASURES],
        *[sa.Column(f"sum_{s}_s", sa.Float(), nullable=False) for s in STAGES],
        *[sa.Column(f"cnt_{s}", sa.Integer(), nullable=False) for s in STAGES],
        sa.Column("returns_sum", sa.Integer(), nullable=False),
        sa.Column("reopenings_sum", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "lead_key", name=op.f("pk_metric_daily")),
    )
    op.create_index("ix_metric_daily_l2_day", "metric_daily", ["lead_l2", "day"], unique=False)
    op.create_index("ix_metric_daily_l3_day", "metric_daily", ["lead_l3", "day"], unique=False)
    op.create_table(
        "metric_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("rolled_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_metric_days")),
    )
    op.create_index("ix_request_facts_refreshed_at", "request_facts", ["refreshed_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_request_facts_refreshed_at", table_name="request_facts")
    op.drop_table("metric_days")
    op.drop_index("ix_metric_daily_l3_day", table_name="metric_daily")
    op.drop_index("ix_metric_daily_l2_day", table_name="metric_daily")
    op.drop_table("metric_daily")
