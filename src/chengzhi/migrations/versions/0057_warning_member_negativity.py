"""warning: the negativity on hot-issue memberships, and the indexes the ranking of hot issues reads

Revision ID: 0057
Revises: 0056
Create Date: 2026-12-07 16:10:00

The heat index's negativity term is the mean negativity of an issue's requests. It was joined from
`warning_text_labels` for every membership of the last 90 days at every call of `/dashboard/hot`; it is now kept on
the membership itself (written by placement, by labelling and by the nightly recomputation), filled here from the
labels. Two covering indexes let the ranking read the memberships of its window without the table: by time (a
city's view) and by unit path and time (a district's or a street's; `varchar_pattern_ops` so that the path prefix,
a LIKE on PostgreSQL, can use it). SQLite keeps the same keys without the included columns.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0057"
down_revision: str | None = "0056"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

READ = ["issue_id", "person", "supports", "area_unit_id", "negativity"]


def upgrade() -> None:
    with op.batch_alter_table("hot_issue_members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("negativity", sa.Float(), nullable=True))
    op.execute(
        "UPDATE hot_issue_members SET negativity = (SELECT l.negativity FROM warning_text_labels l "
        "WHERE l.request_id = hot_issue_members.request_id) "
        "WHERE EXISTS (SELECT 1 FROM warning_text_labels l WHERE l.request_id = hot_issue_members.request_id)"
    )
    with op.batch_alter_table("hot_issue_members", schema=None) as batch_op:
        batch_op.create_index(
            "ix_hot_issue_members_received_covering",
            ["received_at"],
            unique=False,
            postgresql_include=[*READ, "unit_path"],
        )
        batch_op.create_index(
            "ix_hot_issue_members_scope_received_covering",
            ["unit_path", "received_at"],
            unique=False,
            postgresql_ops={"unit_path": "varchar_pattern_ops"},
            postgresql_include=READ,
        )


def downgrade() -> None:
    with op.batch_alter_table("hot_issue_members", schema=None) as batch_op:
        batch_op.drop_index("ix_hot_issue_members_scope_received_covering")
        batch_op.drop_index("ix_hot_issue_members_received_covering")
        batch_op.drop_column("negativity")
