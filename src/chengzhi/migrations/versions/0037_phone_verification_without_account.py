"""identity: one-time codes for a visitor without an account (verification_codes.user_id nullable, the browser
the code was sent to), so that a visitor verifies a phone number and becomes a resident at level 1

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-07 06:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0037"
down_revision: str | None = "0036"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("verification_codes", schema=None) as batch_op:
        batch_op.alter_column("user_id", existing_type=sa.Integer(), nullable=True)
        # SHA-256 of a random id kept in the visitor's session cookie: the code is only accepted from that browser.
        batch_op.add_column(sa.Column("browser", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_verification_codes_browser"), ["browser"], unique=False)


def downgrade() -> None:
    # Codes sent to visitors without an account cannot live in the older table: they are short-lived, drop them.
    op.execute(sa.text("DELETE FROM verification_codes WHERE user_id IS NULL"))
    with op.batch_alter_table("verification_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_verification_codes_browser"))
        batch_op.drop_column("browser")
        batch_op.alter_column("user_id", existing_type=sa.Integer(), nullable=False)
