"""photos: who attached them, published after moderation, an unguessable public key

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 23:55:00
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("photos") as batch:
        batch.add_column(sa.Column("by_staff", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("public", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("public_key", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("moderated_by", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("moderated_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_unique_constraint("uq_photos_public_key", ["public_key"])
        batch.create_foreign_key("fk_photos_moderated_by_users", "users", ["moderated_by"], ["id"])
    # Photos stored before: none is published (they were all served to anyone; moderation starts now), each gets
    # its key.
    connection = op.get_bind()
    photos = sa.table("photos", sa.column("id", sa.Integer), sa.column("public_key", sa.String))
    for (photo_id,) in connection.execute(sa.select(photos.c.id)).all():
        connection.execute(
            photos.update().where(photos.c.id == photo_id).values(public_key=secrets.token_urlsafe(24))
        )


def downgrade() -> None:
    with op.batch_alter_table("photos") as batch:
        batch.drop_constraint("fk_photos_moderated_by_users", type_="foreignkey")
        batch.drop_constraint("uq_photos_public_key", type_="unique")
        batch.drop_column("moderated_at")
        batch.drop_column("moderated_by")
        batch.drop_column("public_key")
        batch.drop_column("public")
        batch.drop_column("by_staff")
