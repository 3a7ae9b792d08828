"""sessions on the server, password-guessing lock-out, staff second factor, identity-level columns

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 23:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import chengzhi.db

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = chengzhi.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("locked_until", UTC, nullable=True))
        batch.add_column(sa.Column("password_changed_at", UTC, nullable=True))
        batch.add_column(sa.Column("phone_verified_at", UTC, nullable=True))
        batch.add_column(sa.Column("email_verified_at", UTC, nullable=True))
        batch.add_column(sa.Column("real_name_verified_at", UTC, nullable=True))
        batch.add_column(sa.Column("demo_account", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "user_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("last_seen_at", UTC, nullable=False),
        sa.Column("expires_at", UTC, nullable=False),
        sa.Column("user_agent", sa.String(length=200), nullable=False),
        sa.Column("ip_prefix", sa.String(length=50), nullable=False),
        sa.Column("method", sa.String(length=60), nullable=False),
        sa.Column("acr", sa.String(length=200), nullable=True),
        sa.Column("amr", sa.String(length=200), nullable=True),
        sa.Column("second_factor", sa.String(length=20), nullable=True),
        sa.Column("id_token", sa.Text(), nullable=True),
        sa.Column("revoked_at", UTC, nullable=True),
        sa.Column("revoked_reason", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_sessions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_user_sessions_token_hash")),
    )
    op.create_index(op.f("ix_user_sessions_user_id"), "user_sessions", ["user_id"])
    op.create_index("ix_user_sessions_user_revoked", "user_sessions", ["user_id", "revoked_at"])
    op.create_table(
        "second_factors",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("confirmed_at", UTC, nullable=True),
        sa.Column("last_step", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_second_factors_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_second_factors")),
    )
    op.create_table(
        "recovery_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("used_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_recovery_codes_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_codes")),
    )
    op.create_index(op.f("ix_recovery_codes_user_id"), "recovery_codes", ["user_id"])


def downgrade() -> None:
    op.drop_table("recovery_codes")
    op.drop_table("second_factors")
    op.drop_index("ix_user_sessions_user_revoked", table_name="user_sessions")
    op.drop_table("user_sessions")
    with op.batch_alter_table("users") as batch:
        for column in (
            "demo_account",
            "real_name_verified_at",
            "email_verified_at",
            "phone_verified_at",
            "password_changed_at",
            "locked_until",
            "failed_logins",
        ):
            batch.drop_column(column)
