"""Alembic environment: the database URL comes from the caller's config (see chengzhi.migrate)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from chengzhi.config import get_settings
from chengzhi.db import make_engine
from chengzhi.models import Base

config = context.config
target_metadata = Base.metadata


def _sqlite_foreign_keys(connection: Connection, on: bool) -> None:
    """SQLite: switch foreign key enforcement (a no-op inside a transaction, so on the driver's connection)."""
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    cursor.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
    cursor.close()


def _run(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite and not connection.in_transaction():
        # Batch mode rebuilds a table (copy, DROP, rename): with enforcement on, dropping a table other rows
        # refer to fails as soon as the database holds rows (found by tests/test_migrations.py with rows present).
        # The references are checked once the migrations are done instead.
        _sqlite_foreign_keys(connection, False)
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=sqlite,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
        if sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"the migration left rows referring to missing rows: {broken[:10]}")
    if sqlite and not connection.in_transaction():
        _sqlite_foreign_keys(connection, True)


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or get_settings().database_url
    engine = make_engine(url)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata, literal_binds=True
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
