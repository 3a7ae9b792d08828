"""metrics: metric_daily_cat, request_facts summed per received day, category, channel and district

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25 17:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

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
        "metric_daily_cat",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("category_key", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("lead_l2_key", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("lead_l1", sa.Integer(), nullable=True),
        *[sa.Column(f"n_{m}", sa.Integer(), nullable=False) for m in MEASURES],
        *[sa.Column(f"sum_{s}_s", sa.Float(), nullable=False) for s in STAGES],
        *[sa.Column(f"cnt_{s}", sa.Integer(), nullable=False) for s in STAGES],
        sa.Column("returns_sum", sa.Integer(), nullable=False),
        sa.Column("reopenings_sum", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "day", "category_key", "channel", "lead_l2_key", name=op.f("pk_metric_daily_cat")
        ),
    )


def downgrade() -> None:
    op.drop_table("metric_daily_cat")
