"""Migrations tested as code: an empty database upgraded to head matches the models exactly (the autogenerate diff
is empty), every revision goes down and up again, on SQLite and on PostgreSQL, each in a database of its own."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from chengzhi.db import make_engine
from chengzhi.migrate import MIGRATIONS, alembic_config, downgrade, upgrade
from chengzhi.models import Base

from .conftest import IN_CI, POSTGRES_ADMIN_URL, _postgres_reason


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of its own, empty, not the shared test database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    reason = _postgres_reason()
    if reason:
        if IN_CI:
            pytest.fail(f"CI=true requires PostgreSQL: {reason}")
        pytest.skip(reason)
    name = f"chengzhi_migrations_{secrets.token_hex(4)}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _diff(url: str) -> list[Any]:
    """What autogenerate would write to bring the database to the models (empty when they match)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _revision(url: str) -> str | None:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def test_upgrade_to_head_matches_the_models(empty_url: str) -> None:
    assert _tables(empty_url) == set()
    upgrade(empty_url)
    assert _tables(empty_url) == set(Base.metadata.tables) | {"alembic_version"}
    assert _diff(empty_url) == []
    assert _revision(empty_url) == ScriptDirectory.from_config(alembic_config(empty_url)).get_current_head()


def test_every_revision_goes_down_and_up_again(empty_url: str) -> None:
    script = ScriptDirectory.from_config(alembic_config(empty_url))
    chain = [r.revision for r in script.walk_revisions("base", "heads")]  # head first
    upgrade(empty_url)
    for revision in chain:
        below = script.get_revision(revision).down_revision
        downgrade(empty_url, str(below) if below else "base")
        assert _revision(empty_url) == below
    assert _tables(empty_url) <= {"alembic_version"}, "base leaves no tables behind"
    upgrade(empty_url)
    assert _diff(empty_url) == []
    # Upgrading an up-to-date database is a no-op.
    upgrade(empty_url)
    assert _diff(empty_url) == []


def test_the_check_would_see_a_difference(empty_url: str) -> None:
    """Not vacuous: a database missing a column, or with an extra table, shows up in the diff."""
    upgrade(empty_url)
    engine = make_engine(empty_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE stray (id INTEGER PRIMARY KEY)"))
    finally:
        engine.dispose()
    diff = _diff(empty_url)
    assert any(change[0] == "remove_table" and change[1].name == "stray" for change in diff), diff


def test_revisions_form_one_line_with_readable_names() -> None:
    script = ScriptDirectory(str(MIGRATIONS))
    assert len(script.get_heads()) == 1, "branches must be merged"
    for path in sorted((MIGRATIONS / "versions").glob("*.py")):
        assert re.fullmatch(r"\d{4}_[a-z0-9_]+\.py", path.name), path.name
        source = path.read_text(encoding="utf-8")
        assert re.search(rf'^revision: str = "{path.name[:4]}"$', source, re.MULTILINE), path.name
        assert "def downgrade() -> None:" in source and "\n    pass\n" not in source.split("def downgrade")[1]
