"""metrics: metric_stage_hist, stage-time histograms per received day (and month) and level-2 unit

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-25 22:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of metrics.models.HIST_BUCKETS as of this revision.
BUCKETS = 154


def upgrade() -> None:
    op.create_table(
        "metric_stage_hist",
        sa.Column("grain", sa.String(length=1), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("lead_l2_key", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("stage", sa.String(length=10), nullable=False),
        sa.Column("lead_l1", sa.Integer(), nullable=True),
        *[sa.Column(f"h{k:03d}", sa.Integer(), nullable=False) for k in range(BUCKETS)],
        sa.PrimaryKeyConstraint("grain", "day", "lead_l2_key", "stage", name=op.f("pk_metric_stage_hist")),
    )
    # Every received day is summed again (histograms included) by the next read's catch-up, or at once by
    # `chengzhi metrics rebuild`.
    op.execute("DELETE FROM metric_days")


def downgrade() -> None:
    op.drop_table("metric_stage_hist")
