"""opendata: a full-text index of the datasets for `q`, ranked (PostgreSQL tsvector + GIN; SQLite FTS5)

Revision ID: 0045
Revises: 0043
Create Date: 2026-12-07 06:30:00

The searched text is stored cut into words (jieba, `opendata.words.index_text`): `search_title` (name, titles,
tags) and `search_text` (the description), recomputed here for the datasets already written.
PostgreSQL: `search_vector` = setweight(to_tsvector('simple', search_title), 'A') ||
setweight(to_tsvector('simple', search_text), 'D'), set by a BEFORE trigger on every write of either column,
GIN-indexed. SQLite: an FTS5 table `od_search_fts` (dataset_id, title, body) kept by AFTER triggers; a SQLite
built without FTS5 gets no table, and searches fall back to LIKE without ranking (opendata/search.py).
Note: a later `batch_alter_table` on od_datasets under SQLite rebuilds the table and drops these triggers.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# What the application cuts the text with (jieba, loaded on first use).
from chengzhi.opendata.words import index_text

revision: str = "0045"
down_revision: str | None = "0043"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PG_FUNCTION = """
CREATE FUNCTION od_datasets_search_vector() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_vector := setweight(to_tsvector('simple', coalesce(NEW.search_title, '')), 'A')
        || setweight(to_tsvector('simple', coalesce(NEW.search_text, '')), 'D');
    RETURN NEW;
END
$$
"""
PG_TRIGGER = """
CREATE TRIGGER od_datasets_search_vector BEFORE INSERT OR UPDATE OF search_title, search_text ON od_datasets
FOR EACH ROW EXECUTE FUNCTION od_datasets_search_vector()
"""
FTS = "od_search_fts"
SQLITE_TRIGGERS = (
    """CREATE TRIGGER od_search_fts_insert AFTER INSERT ON od_datasets BEGIN
    INSERT INTO od_search_fts (dataset_id, title, body) VALUES (new.id, new.search_title, new.search_text);
END""",
    """CREATE TRIGGER od_search_fts_update AFTER UPDATE OF search_title, search_text ON od_datasets BEGIN
    DELETE FROM od_search_fts WHERE dataset_id = old.id;
    INSERT INTO od_search_fts (dataset_id, title, body) VALUES (new.id, new.search_title, new.search_text);
END""",
    """CREATE TRIGGER od_search_fts_delete AFTER DELETE ON od_datasets BEGIN
    DELETE FROM od_search_fts WHERE dataset_id = old.id;
END""",
)


def _has_fts5(bind: sa.Connection) -> bool:
    try:
        bind.exec_driver_sql("CREATE VIRTUAL TABLE temp.chengzhi_fts5_probe USING fts5(x)")
    except sa.exc.OperationalError:
        return False
    bind.exec_driver_sql("DROP TABLE temp.chengzhi_fts5_probe")
    return True


def _backfill(bind: sa.Connection) -> None:
    """Every dataset's searched text, cut into words as the application cuts it now."""
    datasets = sa.table(
        "od_datasets",
        sa.column("id"),
        sa.column("name"),
        sa.column("title"),
        sa.column("title_en"),
        sa.column("notes"),
        sa.column("search_title"),
        sa.column("search_text"),
    )
    tags = sa.table("od_dataset_tags", sa.column("dataset_id"), sa.column("tag"))
    by_dataset: dict[str, list[str]] = {}
    for dataset_id, tag in bind.execute(sa.select(tags.c.dataset_id, tags.c.tag).order_by(tags.c.tag)):
        by_dataset.setdefault(dataset_id, []).append(tag)
    rows = bind.execute(
        sa.select(datasets.c.id, datasets.c.name, datasets.c.title, datasets.c.title_en, datasets.c.notes)
    ).all()
    update = (
        sa.update(datasets)
        .where(datasets.c.id == sa.bindparam("b_id"))
        .values(search_title=sa.bindparam("b_title"), search_text=sa.bindparam("b_text"))
    )
    batch: list[dict[str, str]] = []
    for dataset_id, name, title, title_en, notes in rows:
        batch.append(
            {
                "b_id": dataset_id,
                "b_title": index_text(name, title, title_en or "", *by_dataset.get(dataset_id, [])),
                "b_text": index_text(notes or ""),
            }
        )
        if len(batch) >= 2000:
            bind.execute(update, batch)
            batch.clear()
    if batch:
        bind.execute(update, batch)


def upgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    op.add_column("od_datasets", sa.Column("search_title", sa.Text(), nullable=False, server_default=""))
    op.add_column(
        "od_datasets",
        sa.Column("search_vector", postgresql.TSVECTOR().with_variant(sa.Text(), "sqlite"), nullable=True),
    )
    with op.batch_alter_table("od_datasets", schema=None) as batch_op:
        batch_op.alter_column("search_title", server_default=None)
    _backfill(bind)
    if postgres:
        op.execute(PG_FUNCTION)
        op.execute(PG_TRIGGER)
        op.execute(
            "UPDATE od_datasets SET search_vector = setweight(to_tsvector('simple', search_title), 'A')"
            " || setweight(to_tsvector('simple', search_text), 'D')"
        )
        op.create_index(
            "ix_od_datasets_search_vector", "od_datasets", ["search_vector"], postgresql_using="gin"
        )
        return
    op.create_index("ix_od_datasets_search_vector", "od_datasets", ["search_vector"])
    if _has_fts5(bind):
        op.execute(
            f"CREATE VIRTUAL TABLE {FTS} USING fts5(dataset_id UNINDEXED, title, body, tokenize = 'unicode61')"
        )
        op.execute(
            "INSERT INTO od_search_fts (dataset_id, title, body) SELECT id, search_title, search_text FROM od_datasets"
        )
        for trigger in SQLITE_TRIGGERS:
            op.execute(trigger)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS od_datasets_search_vector ON od_datasets")
        op.execute("DROP FUNCTION IF EXISTS od_datasets_search_vector()")
    else:
        for kind in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {FTS}_{kind}")
        op.execute(f"DROP TABLE IF EXISTS {FTS}")
    op.drop_index("ix_od_datasets_search_vector", table_name="od_datasets")
    # What revision 0019 searched with LIKE: the text lower-cased (tags left out: the next edit adds them).
    op.execute(
        "UPDATE od_datasets SET search_text = lower(name || ' ' || title || ' ' || coalesce(title_en, '')"
        " || ' ' || notes)"
    )
    with op.batch_alter_table("od_datasets", schema=None) as batch_op:
        batch_op.drop_column("search_vector")
        batch_op.drop_column("search_title")
