"""identity: verified details shared with units (detail_sharing), their access log (detail_views), room for
sealed TOTP secrets (second_factors.secret 64 -> 255)

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-07 03:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import chengzhi.db

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "detail_sharing",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("share_name", sa.Boolean(), nullable=False),
        sa.Column("share_phone", sa.Boolean(), nullable=False),
        sa.Column("share_email", sa.Boolean(), nullable=False),
        sa.Column("updated_at", chengzhi.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_detail_sharing_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_detail_sharing")),
    )
    op.create_table(
        "detail_views",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("viewer_id", sa.Integer(), nullable=True),
        sa.Column("viewer_unit_id", sa.Integer(), nullable=True),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("at", chengzhi.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["requests.id"],
            name=op.f("fk_detail_views_request_id_requests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["viewer_id"], ["users.id"], name=op.f("fk_detail_views_viewer_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_detail_views")),
    )
    with op.batch_alter_table("detail_views", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_detail_views_request_id"), ["request_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_detail_views_resident_id"), ["resident_id"], unique=False)
    # A TOTP secret sealed with the secret box ("v2:" and a Fernet token) is about 150 characters.
    with op.batch_alter_table("second_factors", schema=None) as batch_op:
        batch_op.alter_column(
            "secret", existing_type=sa.String(length=64), type_=sa.String(length=255), existing_nullable=False
        )


def downgrade() -> None:
    # Sealed secrets do not fit the old column: a downgrade needs `chengzhi secrets rotate` of the older release
    # or the secrets opened first; refuse rather than cut them.
    bind = op.get_bind()
    sealed = bind.execute(sa.text("SELECT COUNT(*) FROM second_factors WHERE LENGTH(secret) > 64")).scalar()
    if sealed:
        raise RuntimeError(
            f"{sealed} sealed TOTP secrets do not fit second_factors.secret (64): open them first"
        )
    with op.batch_alter_table("second_factors", schema=None) as batch_op:
        batch_op.alter_column(
            "secret", existing_type=sa.String(length=255), type_=sa.String(length=64), existing_nullable=False
        )
    with op.batch_alter_table("detail_views", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_detail_views_resident_id"))
        batch_op.drop_index(batch_op.f("ix_detail_views_request_id"))
    op.drop_table("detail_views")
    op.drop_table("detail_sharing")
