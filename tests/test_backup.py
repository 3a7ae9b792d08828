"""`chengzhi backup` and `chengzhi restore` round trip on both databases: after a restore, every table's row count
and the event log's checksum are those of the backup; a backup of another schema version is refused; a restore
re-applies retention; `chengzhi prune-backups` deletes old backups."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from chengzhi import backup
from chengzhi.cli import app
from chengzhi.config import Settings
from chengzhi.db import get_sessionmaker
from chengzhi.requests.models import Request, RequestEvent
from chengzhi.requests.retention import months_before

from . import steps
from .conftest import Configure
from .factories import City
from .test_security_retention import EMAIL, ID_CARD, PHONE, closed_request


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


def test_a_restore_does_not_bring_back_what_retention_removed(
    settings: Settings, city: City, configure: Configure, tmp_path: Path
) -> None:
    """A backup taken before the retention job anonymised a request holds its personal data: restoring it runs the
    job again at once (and says so), so the phone number, e-mail address and ID-card number are gone again."""
    now = dt.datetime.now(dt.UTC)
    with get_sessionmaker(settings.database_url)() as session, session.begin():
        old = closed_request(session, settings, months_before(now, 37))
        old_id = old.id
    configure(retention_months=36)
    file = tmp_path / "before-retention.db"
    runner = CliRunner()
    assert runner.invoke(app, ["backup", str(file)]).exit_code == 0
    done = runner.invoke(app, ["jobs", "run", "retention"])
    assert '"anonymised": 1' in done.output, done.output
    assert _planted(settings, old_id) == []

    restored = runner.invoke(app, ["restore", str(file)])
    assert restored.exit_code == 0, restored.output
    assert "retention re-applied (CHENGZHI_RETENTION_MONTHS=36" in restored.output
    assert "anonymised 1" in restored.output and "after retention:" in restored.output
    assert _planted(settings, old_id) == []
    again = runner.invoke(app, ["restore", str(file)])  # what the job does not touch is restored as it was
    assert "anonymised 1" in again.output


def _planted(settings: Settings, request_id: int) -> list[str]:
    with get_sessionmaker(settings.database_url)() as session:
        row = session.get(Request, request_id)
        assert row is not None
        events = session.scalars(select(RequestEvent.note).where(RequestEvent.request_id == request_id))
        texts = [
            row.title,
            row.text,
            row.reply_text or "",
            row.contact_phone or "",
            *(e or "" for e in events),
        ]
    return sorted({p for p in (PHONE, EMAIL, ID_CARD) for t in texts if p in t})


def test_old_backups_are_pruned_and_nothing_else(tmp_path: Path) -> None:
    """`chengzhi prune-backups DIR --keep-days N`: backups (SQLite databases, pg_dump archives) last written more
    than N days ago go; newer ones, other files and sub-directories stay."""
    day = 86400.0
    files = {
        "old.db": b"SQLite format 3\x00" + b"\x00" * 100,
        "old.dump": b"PGDMP\x01\x0e",
        "new.dump": b"PGDMP\x01\x0e",
        "notes.txt": b"not a backup",
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    (tmp_path / "sub").mkdir()
    for name in ("old.db", "old.dump", "notes.txt", "sub"):
        at = time.time() - 40 * day
        os.utime(tmp_path / name, (at, at))
    runner = CliRunner()
    done = runner.invoke(app, ["prune-backups", str(tmp_path), "--keep-days", "35"])
    assert done.exit_code == 0, done.output
    assert "2 backups older than 35 days deleted" in done.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.dump", "notes.txt", "sub"]
    assert runner.invoke(app, ["prune-backups", str(tmp_path)]).output.startswith(
        "0 backups older than 35 days"
    )
    assert runner.invoke(app, ["prune-backups", str(tmp_path), "--keep-days", "0"]).exit_code != 0
    missing = runner.invoke(app, ["prune-backups", str(tmp_path / "nowhere")])
    assert missing.exit_code == 1 and "no such directory" in missing.output
