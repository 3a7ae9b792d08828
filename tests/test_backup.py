"""`chengzhi backup` and `chengzhi restore` round trip on both databases: after a restore, every table's row count
and the event log's checksum are those of the backup; a backup of another schema version is refused."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from chengzhi import backup
from chengzhi.cli import app
from chengzhi.config import Settings
from chengzhi.db import get_sessionmaker

from . import steps
from .conftest import Configure
from .factories import City


def populate(settings: Settings, n: int) -> None:
    now = dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)
    with get_sessionmaker(settings.database_url)() as session, session.begin():
        for i in range(n):
            row = steps.submit(session, settings, now + dt.timedelta(minutes=i))
            steps.dispatch(session, settings, row, "D1S1C1", now + dt.timedelta(minutes=i + 1))


def test_round_trip_keeps_every_row_and_the_event_log(
    settings: Settings, city: City, configure: Configure, tmp_path: Path
) -> None:
    populate(settings, 4)
    configure()
    file = tmp_path / "backup.db"
    runner = CliRunner()
    made = runner.invoke(app, ["backup", str(file)])
    assert made.exit_code == 0, made.output
    before = backup.summary(settings.database_url)
    assert before.rows["request_events"] >= 8 and before.rows["requests"] == 4
    assert before.events_sha256 in made.output

    populate(settings, 2)  # written after the backup: gone after the restore
    with get_sessionmaker(settings.database_url)() as session, session.begin():
        session.execute(text("DELETE FROM request_supports"))
    assert backup.summary(settings.database_url) != before

    restored = runner.invoke(app, ["restore", str(file)])
    assert restored.exit_code == 0, restored.output
    after = backup.summary(settings.database_url)
    assert after == before
    assert before.events_sha256 in restored.output


def test_a_backup_of_another_schema_version_is_refused(
    settings: Settings, city: City, configure: Configure, tmp_path: Path
) -> None:
    configure()
    with get_sessionmaker(settings.database_url)() as session, session.begin():
        session.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    file = tmp_path / "old.db"
    runner = CliRunner()
    assert runner.invoke(app, ["backup", str(file)]).exit_code == 0
    with get_sessionmaker(settings.database_url)() as session, session.begin():
        session.execute(
            text("UPDATE alembic_version SET version_num = :v"),
            {"v": backup.code_version(settings.database_url)},
        )
    refused = runner.invoke(app, ["restore", str(file)])
    assert refused.exit_code == 1
    assert "schema version 0001" in refused.output
    missing = runner.invoke(app, ["restore", str(tmp_path / "nothing.db")])
    assert missing.exit_code == 1 and "no such file" in missing.output


def test_memory_databases_cannot_be_backed_up(tmp_path: Path) -> None:
    with pytest.raises(backup.BackupError):
        backup.backup("sqlite://", tmp_path / "x.db")
