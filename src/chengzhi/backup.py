"""`chengzhi backup FILE` and `chengzhi restore FILE`: the whole database, of the same schema version.

SQLite: SQLite's online backup API (consistent while the server writes; the file is a SQLite database).
PostgreSQL: `pg_dump --format=custom` and `pg_restore --clean` (the client tools of the server's major version).
A restore refuses a backup whose schema version (Alembic's) is not the code's: upgrade or downgrade the code first.
`summary()` gives row counts per table and a checksum of the event log, printed by both commands so that an
operator can compare them.

`prune(directory, keep_days)` deletes the backups in a directory older than `keep_days` (`chengzhi prune-backups`):
a backup holds the personal data the database held when it was taken, so a city's backup rotation has to follow
its retention (docs/operations.md); `chengzhi restore` re-applies the retention job after restoring.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from chengzhi.db import make_engine
from chengzhi.migrate import alembic_config


class BackupError(RuntimeError):
    pass


@dataclass(frozen=True)
class Summary:
    version: str | None
    rows: dict[str, int]
    events_sha256: str


def code_version(database_url: str) -> str:
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    assert head is not None
    return head


def summary(database_url: str) -> Summary:
    """Row counts of every table and a SHA-256 of the event log (ids, requests, steps, times, notes) in order."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            tables = sorted(inspect(conn).get_table_names())
            # Table names come from the database's own catalogue, not from input.
            rows = {t: int(conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one()) for t in tables}  # noqa: S608
            version = (
                conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
                if "alembic_version" in tables
                else None
            )
            digest = hashlib.sha256()
            if "request_events" in tables:
                query = "SELECT id, request_id, seq, action, at, note FROM request_events ORDER BY id"
                for row in conn.execute(text(query)):
                    digest.update(repr(tuple(str(v) for v in row)).encode())
    finally:
        engine.dispose()
    return Summary(version, rows, digest.hexdigest())


def _sqlite_path(database_url: str) -> Path:
    path = make_url(database_url).database
    if not path or path == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(path)


def _libpq(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def _run(args: list[str]) -> str:
    try:
        done = subprocess.run(args, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise BackupError(f"{args[0]} is not installed (PostgreSQL's client tools)") from None
    if done.returncode != 0:
        raise BackupError(f"{args[0]} failed: {done.stderr.strip()[:500]}")
    return done.stdout


def backup(database_url: str, target: Path) -> Summary:
    """Write the whole database to `target` (overwritten)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if make_url(database_url).get_backend_name() == "sqlite":
        partial = target.with_suffix(target.suffix + ".part")
        partial.unlink(missing_ok=True)
        source = sqlite3.connect(_sqlite_path(database_url))
        copy = sqlite3.connect(partial)
        try:
            source.backup(copy)
        finally:
            copy.close()
            source.close()
        partial.replace(target)
    else:
        _run(["pg_dump", "--format=custom", "--no-owner", "--file", str(target), _libpq(database_url)])
    return summary(database_url)


def backup_version(database_url: str, source: Path) -> str | None:
    """The schema version a backup file holds."""
    if not Path(source).is_file():
        raise BackupError(f"{source}: no such file")
    if make_url(database_url).get_backend_name() == "sqlite":
        try:
            with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as conn:
                row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{source}: not a SQLite backup of this platform ({exc})") from None
        return str(row[0]) if row else None
    data = _run(["pg_restore", "--data-only", "--table=alembic_version", "--file=-", str(source)])
    found = re.search(r"COPY [^\n]*alembic_version[^\n]*FROM stdin;\n([^\n\\]+)\n", data)
    return found.group(1).strip() if found else None


def restore(database_url: str, source: Path) -> Summary:
    """Replace the database's contents with the backup's, if the backup is of the code's schema version. Stop the
    servers and workers first."""
    wanted = code_version(database_url)
    found = backup_version(database_url, source)
    if found != wanted:
        raise BackupError(
            f"{source} holds schema version {found or 'none'}, the code expects {wanted}: restore it with the "
            "version of the platform that made it"
        )
    if make_url(database_url).get_backend_name() == "sqlite":
        backup_db = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        live = sqlite3.connect(_sqlite_path(database_url))
        try:
            backup_db.backup(live)
        finally:
            live.close()
            backup_db.close()
    else:
        _run(
            [
                "pg_restore",
                "--clean",
                "--if-exists",
                "--no-owner",
                "--single-transaction",
                "--exit-on-error",
                "--dbname",
                _libpq(database_url),
                str(source),
            ]
        )
    return summary(database_url)


# How a backup file starts: a SQLite database, or pg_dump's custom format.
BACKUP_MAGIC = (b"SQLite format 3\x00", b"PGDMP")


def is_backup(path: Path) -> bool:
    """Whether the file is a backup `backup()` could have written (its first bytes), not any other file."""
    try:
        with Path(path).open("rb") as file:
            start = file.read(16)
    except OSError:
        return False
    return any(start.startswith(magic) for magic in BACKUP_MAGIC)


def prune(directory: Path, keep_days: int, now: float | None = None) -> list[Path]:
    """Delete the backups directly in `directory` last written more than `keep_days` days ago; other files and
    sub-directories are left alone. Returns the files deleted, oldest first."""
    if keep_days < 1:
        raise BackupError("keep at least one day of backups (--keep-days 1 or more)")
    folder = Path(directory)
    if not folder.is_dir():
        raise BackupError(f"{directory}: no such directory")
    before = (time.time() if now is None else now) - keep_days * 86400
    old = [
        (f.stat().st_mtime, f)
        for f in folder.iterdir()
        if f.is_file() and not f.is_symlink() and f.stat().st_mtime < before and is_backup(f)
    ]
    deleted = []
    for _mtime, file in sorted(old):
        file.unlink()
        deleted.append(file)
    return deleted
