"""The demo city for a server database (PostgreSQL), or for a SQLite database a server already runs on (`make run`):
generated in a staging SQLite file, then copied over in bulk.

The histories take some 15 statements per request, which cost a network round trip each on a server and nothing
in-process; the finished rows are copied in a few bulk inserts. Into SQLite the copy is one `INSERT ... SELECT` per
table from the attached staging file, in one transaction: the write lock is held for a second or two, not for the
minute the city takes to build.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, make_url, select, text
from sqlalchemy.orm import Session, sessionmaker

from chengzhi.config import Settings
from chengzhi.db import get_engine, make_engine
from chengzhi.migrate import upgrade
from chengzhi.models import Base

Build = Callable[[Settings, sessionmaker[Session]], dict[str, Any]]


def generate_through_staging(settings: Settings, build: Build) -> dict[str, Any]:
    """Run `build` on a staging SQLite database, copy its rows into `settings.database_url` in one transaction,
    and return `build`'s summary with the copy's seconds added."""
    with tempfile.TemporaryDirectory(prefix="chengzhi-demo-") as folder:
        staging = settings.model_copy(update={"database_url": f"sqlite:///{Path(folder) / 'demo.db'}"})
        upgrade(staging.database_url)
        engine = make_engine(staging.database_url)
        try:
            summary = build(staging, sessionmaker(engine))
            copying = time.perf_counter()
            if settings.is_sqlite:
                copy_into_sqlite(
                    Path(folder) / "demo.db", Path(make_url(settings.database_url).database or "")
                )
            else:
                with engine.connect() as source, get_engine(settings.database_url).begin() as target:
                    copy_rows(source, target)
            summary["seconds"]["copy"] = round(time.perf_counter() - copying, 2)
        finally:
            engine.dispose()
    return summary


def copy_rows(source: Connection, target: Connection, batch: int = 5000) -> None:
    """Copy every row of every table from `source` into the same (empty) tables of `target`, ids included, and
    move PostgreSQL's id sequences past the copied ids."""
    for table in Base.metadata.sorted_tables:
        if table.name == "cache_generations":
            continue  # the target's own counters (chengzhi/generations.py), moved by its triggers during the copy
        rows = source.execute(select(table).order_by(*table.primary_key.columns)).mappings().all()
        if not rows:
            continue
        if target.execute(select(func.count()).select_from(table)).scalar():
            raise RuntimeError(f"table {table.name} is not empty: the demo city goes into an empty database")
        for start in range(0, len(rows), batch):
            target.execute(table.insert(), [dict(row) for row in rows[start : start + batch]])
        if target.dialect.name == "postgresql" and "id" in table.c and table.c.id.autoincrement:
            target.execute(
                text("SELECT setval(pg_get_serial_sequence(:table, 'id'), :last)"),
                {"table": table.name, "last": max(row["id"] for row in rows)},
            )


COPY_BUSY_SECONDS = 120  # the copy waits this long for the write lock (a running server's jobs may hold it)


def copy_into_sqlite(staging: Path, target: Path) -> None:
    """Copy every row of the staging file into the same (empty) tables of the SQLite database `target`, ids
    included, in one transaction of one `INSERT ... SELECT` per table."""
    connection = sqlite3.connect(target, timeout=COPY_BUSY_SECONDS, isolation_level=None)
    try:
        connection.execute("PRAGMA foreign_keys=ON")
        connection.execute(
            "ATTACH DATABASE ? AS staging", (str(staging),)
        )  # not possible inside a transaction
        connection.execute("BEGIN IMMEDIATE")
        try:
            for table in Base.metadata.sorted_tables:
                if table.name == "cache_generations":
                    continue  # the target's own counters, moved by its triggers during the copy
                # Names from the platform's own metadata, not from input.
                name = f'"{table.name}"'
                if connection.execute(f"SELECT 1 FROM staging.{name} LIMIT 1").fetchone() is None:  # noqa: S608
                    continue
                if connection.execute(f"SELECT 1 FROM main.{name} LIMIT 1").fetchone() is not None:  # noqa: S608
                    raise RuntimeError(
                        f"table {table.name} is not empty: the demo city goes into an empty database"
                    )
                columns = ", ".join(f'"{c.name}"' for c in table.columns)
                connection.execute(
                    f"INSERT INTO main.{name} ({columns}) SELECT {columns} FROM staging.{name}"  # noqa: S608
                )
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("DETACH DATABASE staging")
    finally:
        connection.close()
