"""open311: API keys, batch tokens, units' endpoints, the delivery outbox, inbound updates

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 17:35:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import chengzhi.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = chengzhi.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "open311_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=12), nullable=False),
        sa.Column("rate", sa.String(length=40), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("revoked_at", UTC, nullable=True),
        sa.Column("last_used_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_open311_keys_unit_id_units")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_open311_keys_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_open311_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_open311_keys_key_hash")),
        sa.UniqueConstraint("name", name=op.f("uq_open311_keys_name")),
    )
    op.create_table(
        "open311_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=40), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("resolved_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(
            ["key_id"], ["open311_keys.id"], name=op.f("fk_open311_tokens_key_id_open311_keys")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"], ["requests.id"], name=op.f("fk_open311_tokens_request_id_requests")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_open311_tokens")),
        sa.UniqueConstraint("token", name=op.f("uq_open311_tokens_token")),
    )
    op.create_index("ix_open311_tokens_pending", "open311_tokens", ["resolved_at", "id"], unique=False)
    op.create_table(
        "open311_endpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=300), nullable=False),
        sa.Column("jurisdiction_id", sa.String(length=120), nullable=True),
        sa.Column("api_key_sealed", sa.Text(), nullable=False),
        sa.Column("service_codes", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("pulled_until", UTC, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_open311_endpoints_unit_id_units")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_open311_endpoints_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_open311_endpoints")),
        sa.UniqueConstraint("unit_id", name=op.f("uq_open311_endpoints_unit_id")),
    )
    op.create_table(
        "open311_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTC, nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("last_attempt_at", UTC, nullable=True),
        sa.Column("remote_id", sa.String(length=80), nullable=True),
        sa.Column("remote_token", sa.String(length=80), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("delivered_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["open311_endpoints.id"],
            name=op.f("fk_open311_deliveries_endpoint_id_open311_endpoints"),
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["request_events.id"], name=op.f("fk_open311_deliveries_event_id_request_events")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"], ["requests.id"], name=op.f("fk_open311_deliveries_request_id_requests")
        ),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_open311_deliveries_unit_id_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_open311_deliveries")),
        sa.UniqueConstraint("event_id", name=op.f("uq_open311_deliveries_event_id")),
    )
    op.create_index(
        "ix_open311_deliveries_state_next", "open311_deliveries", ["state", "next_attempt_at"], unique=False
    )
    op.create_index(
        "ix_open311_deliveries_endpoint_remote",
        "open311_deliveries",
        ["endpoint_id", "remote_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_open311_deliveries_request_id"), "open311_deliveries", ["request_id"], unique=False
    )
    op.create_table(
        "open311_inbound_updates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(length=40), nullable=False),
        sa.Column("update_id", sa.String(length=80), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("updated_datetime", UTC, nullable=False),
        sa.Column("applied", sa.String(length=80), nullable=False),
        sa.Column("received_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"], ["requests.id"], name=op.f("fk_open311_inbound_updates_request_id_requests")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_open311_inbound_updates")),
        sa.UniqueConstraint("origin", "update_id", name="uq_open311_inbound_updates_origin"),
    )
    op.create_index(
        op.f("ix_open311_inbound_updates_request_id"), "open311_inbound_updates", ["request_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_open311_inbound_updates_request_id"), table_name="open311_inbound_updates")
    op.drop_table("open311_inbound_updates")
    op.drop_index(op.f("ix_open311_deliveries_request_id"), table_name="open311_deliveries")
    op.drop_index("ix_open311_deliveries_endpoint_remote", table_name="open311_deliveries")
    op.drop_index("ix_open311_deliveries_state_next", table_name="open311_deliveries")
    op.drop_table("open311_deliveries")
    op.drop_table("open311_endpoints")
    op.drop_index("ix_open311_tokens_pending", table_name="open311_tokens")
    op.drop_table("open311_tokens")
    op.drop_table("open311_keys")
