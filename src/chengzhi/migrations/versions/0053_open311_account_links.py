"""open311: clients that vouch for their users' accounts, the account ids they post, and (client, account_id) pairs
linked to residents on proof

Revision ID: 0053
Revises: 0051
Create Date: 2026-12-07 09:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import chengzhi.db

revision: str = "0053"
down_revision: str | None = "0051"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = "unlinked_at IS NULL"


def upgrade() -> None:
    with op.batch_alter_table("open311_keys", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("vouches_for_accounts", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("vouches_changed_at", chengzhi.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("vouches_changed_by", sa.String(length=80), nullable=True))
    with op.batch_alter_table("open311_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("account_id", sa.String(length=200), nullable=True))
    op.create_table(
        "open311_request_accounts",
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=200), nullable=False),
        sa.Column("created_at", chengzhi.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["key_id"], ["open311_keys.id"], name=op.f("fk_open311_request_accounts_key_id_open311_keys")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["requests.id"],
            name=op.f("fk_open311_request_accounts_request_id_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_open311_request_accounts")),
    )
    op.create_index(
        "ix_open311_request_accounts_pair", "open311_request_accounts", ["key_id", "account_id"], unique=False
    )
    op.create_table(
        "open311_account_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=200), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("proof", sa.String(length=10), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("linked_at", chengzhi.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("unlinked_at", chengzhi.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["key_id"], ["open311_keys.id"], name=op.f("fk_open311_account_links_key_id_open311_keys")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["requests.id"],
            name=op.f("fk_open311_account_links_request_id_requests"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_open311_account_links_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_open311_account_links")),
    )
    op.create_index(
        op.f("ix_open311_account_links_user_id"), "open311_account_links", ["user_id"], unique=False
    )
    op.create_index(
        "uq_open311_account_links_live_pair",
        "open311_account_links",
        ["key_id", "account_id"],
        unique=True,
        postgresql_where=sa.text(LIVE),
        sqlite_where=sa.text(LIVE),
    )


def downgrade() -> None:
    op.drop_index("uq_open311_account_links_live_pair", table_name="open311_account_links")
    op.drop_index(op.f("ix_open311_account_links_user_id"), table_name="open311_account_links")
    op.drop_table("open311_account_links")
    op.drop_index("ix_open311_request_accounts_pair", table_name="open311_request_accounts")
    op.drop_table("open311_request_accounts")
    with op.batch_alter_table("open311_tokens", schema=None) as batch_op:
        batch_op.drop_column("account_id")
    with op.batch_alter_table("open311_keys", schema=None) as batch_op:
        batch_op.drop_column("vouches_changed_by")
        batch_op.drop_column("vouches_changed_at")
        batch_op.drop_column("vouches_for_accounts")
