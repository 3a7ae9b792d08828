"""retention by age: indexes for what the retention job deletes at every run

Revision ID: 0056
Revises: 0055
Create Date: 2026-12-07 09:45:00

The retention job (every scheduler round) deletes recorded outbound messages by request (their reference) and by
age, verification codes a day after they expired, and sessions that ended before the cut-off: index lookups
instead of scans of those tables at every round.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0056"
down_revision: str | None = "0055"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbound_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbound_records_reference"), ["reference"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbound_records_created_at"), ["created_at"], unique=False)
    with op.batch_alter_table("verification_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_verification_codes_expires_at"), ["expires_at"], unique=False)
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_sessions_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_sessions_expires_at"))
    with op.batch_alter_table("verification_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_verification_codes_expires_at"))
    with op.batch_alter_table("outbound_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbound_records_created_at"))
        batch_op.drop_index(batch_op.f("ix_outbound_records_reference"))
