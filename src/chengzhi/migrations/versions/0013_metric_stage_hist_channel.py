"""metrics: metric_stage_hist per channel too (the percentiles of one channel from the histograms)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-25 22:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of metrics.models.HIST_BUCKETS as of this revision.
BUCKETS = 154


def _create(with_channel: bool) -> None:
    key = ["grain", "day", "lead_l2_key", *(["channel"] if with_channel else []), "stage"]
    op.create_table(
        "metric_stage_hist",
        sa.Column("grain", sa.String(length=1), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("lead_l2_key", sa.Integer(), autoincrement=False, nullable=False),
        *([sa.Column("channel", sa.String(length=20), nullable=False)] if with_channel else []),
        sa.Column("stage", sa.String(length=10), nullable=False),
        sa.Column("lead_l1", sa.Integer(), nullable=True),
        *[sa.Column(f"h{k:03d}", sa.Integer(), nullable=False) for k in range(BUCKETS)],
        sa.PrimaryKeyConstraint(*key, name=op.f("pk_metric_stage_hist")),
    )


def upgrade() -> None:
    # A derived table: recreated with the new key, and every received day summed again by the next read's
    # catch-up (or at once by `chengzhi metrics rebuild`).
    op.drop_table("metric_stage_hist")
    _create(with_channel=True)
    op.execute("DELETE FROM metric_days")


def downgrade() -> None:
    op.drop_table("metric_stage_hist")
    _create(with_channel=False)
    op.execute("DELETE FROM metric_days")
