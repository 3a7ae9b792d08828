"""cache generations: one counter per kind of cached row, moved by triggers on the tables behind it

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-07 03:30:00

Process caches (chengzhi/generations.py) of tokens, categories and units compare these counters to know when to
forget what they hold. The triggers fire on every write, whoever makes it (services, CLI, plain SQL).
PostgreSQL: one statement-level trigger per table (INSERT, UPDATE, DELETE, TRUNCATE); SQLite: row-level triggers
(SQLite has no statement-level ones), one per table and kind of write.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0036"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Table -> generations it moves (the same as chengzhi.generations.WATCHED on the day this was written).
WATCHED: dict[str, tuple[str, ...]] = {
    "api_tokens": ("auth",),
    "users": ("auth",),
    "role_assignments": ("auth",),
    "units": ("auth", "units"),
    "categories": ("categories",),
}
GENERATIONS = ("auth", "categories", "units")
# Any update moves the counters, even of columns no cache holds (a user's failed sign-ins): a list of columns
# would silently miss the next column an actor is made of.
UPDATE_COLUMNS: dict[str, tuple[str, ...]] = {}

PG_FUNCTION = """
CREATE FUNCTION chengzhi_next_generation() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    moved text;
BEGIN
    FOREACH moved IN ARRAY TG_ARGV LOOP
        INSERT INTO cache_generations (name, generation) VALUES (moved, 1)
        ON CONFLICT (name) DO UPDATE SET generation = cache_generations.generation + 1;
    END LOOP;
    RETURN NULL;
END $$
"""


def _sqlite_bump(generation: str) -> str:
    # INSERT OR REPLACE: the row may have been deleted (tests empty every table); an UPSERT is not allowed here.
    # The generation names are this file's own constants.
    template = (
        "INSERT OR REPLACE INTO cache_generations (name, generation) VALUES ('{g}', "
        "coalesce((SELECT generation FROM cache_generations WHERE name = '{g}'), 0) + 1);"
    )
    return template.format(g=generation)


def upgrade() -> None:
    op.create_table(
        "cache_generations",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_cache_generations")),
    )
    op.bulk_insert(
        sa.table("cache_generations", sa.column("name", sa.String), sa.column("generation", sa.BigInteger)),
        [{"name": name, "generation": 1} for name in GENERATIONS],
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        for table, generations in WATCHED.items():
            arguments = ", ".join(f"'{g}'" for g in generations)
            columns = UPDATE_COLUMNS.get(table)
            update = f"UPDATE OF {', '.join(columns)}" if columns else "UPDATE"
            op.execute(
                f"CREATE TRIGGER {table}_next_generation AFTER INSERT OR {update} OR DELETE OR TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION chengzhi_next_generation({arguments})"
            )
        return
    for table, generations in WATCHED.items():
        body = " ".join(_sqlite_bump(g) for g in generations)
        columns = UPDATE_COLUMNS.get(table)
        for kind in ("INSERT", "UPDATE", "DELETE"):
            event = f"UPDATE OF {', '.join(columns)}" if kind == "UPDATE" and columns else kind
            op.execute(
                f"CREATE TRIGGER {table}_next_generation_{kind.lower()} AFTER {event} ON {table} "
                f"FOR EACH ROW BEGIN {body} END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in WATCHED:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_next_generation ON {table}")
        op.execute("DROP FUNCTION IF EXISTS chengzhi_next_generation()")
    else:
        for table in WATCHED:
            for kind in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_next_generation_{kind}")
    op.drop_table("cache_generations")
