"""The `chengzhi` command line. Every command is thin: it parses options and calls a domain function."""

from __future__ import annotations

import getpass
import json
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from chengzhi import reactions
from chengzhi.config import get_settings
from chengzhi.credit.cli import credit_app
from chengzhi.knowledge.cli import kb_app
from chengzhi.mailin.cli import mail_app
from chengzhi.metrics.cli import metrics_app
from chengzhi.open311.cli import open311_app
from chengzhi.routing.cli import model_app
from chengzhi.routing.triage_cli import triage_app
from chengzhi.security import logs as log_redaction
from chengzhi.warning.cli import hot_app

app = typer.Typer(
    help="Chengzhi (城治): city governance platform.", no_args_is_help=True, add_completion=False
)
db_app = typer.Typer(help="Database schema migrations (Alembic).", no_args_is_help=True)
jobs_app = typer.Typer(help="Periodic jobs.", no_args_is_help=True)
users_app = typer.Typer(help="User accounts.", no_args_is_help=True)
import_app = typer.Typer(help="Import historical records.", no_args_is_help=True)
secrets_app = typer.Typer(help="Secrets sealed with CHENGZHI_SECRET_KEY.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(jobs_app, name="jobs")
app.add_typer(users_app, name="users")
app.add_typer(import_app, name="import")
app.add_typer(secrets_app, name="secrets")
app.add_typer(triage_app, name="triage")
app.add_typer(open311_app, name="open311")
app.add_typer(mail_app, name="mail")
app.add_typer(model_app, name="model")
app.add_typer(metrics_app, name="metrics")
app.add_typer(credit_app, name="credit")
app.add_typer(kb_app, name="kb")
app.add_typer(hot_app, name="hot")


@app.callback()
def _start() -> None:
    # Every command works on the domains as the application does: with their cross-domain reactions.
    reactions.install()
    log_redaction.install()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (PostgreSQL only; SQLite uses one).")] = 1,
    reload: Annotated[bool, typer.Option(help="Reload on code changes (development).")] = False,
    keep_alive: Annotated[
        int,
        typer.Option(
            help="Seconds an idle keep-alive connection stays open: longer than the idle timeout of any client or "
            "proxy in front, so that they close first (uvicorn's 5 s default made clients send on connections the "
            "server was closing)."
        ),
    ] = 75,
) -> None:
    """Serve the platform with uvicorn."""
    import uvicorn

    settings = get_settings()
    if settings.is_sqlite and workers > 1:
        typer.echo("SQLite runs in one process; use PostgreSQL for several workers.", err=True)
        workers = 1
    uvicorn.run(
        "chengzhi.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        reload=reload,
        proxy_headers=True,
        timeout_keep_alive=keep_alive,
        log_level="info",
    )


@app.command()
def worker(
    batch: Annotated[
        int | None, typer.Option(help="Requests per transaction (default: the settings').")
    ] = None,
    drain: Annotated[bool, typer.Option(help="Triage what is waiting, then exit.")] = False,
) -> None:
    """Run a triage worker: urgency, place, category, automatic dispatch and the rest of a new request's work
    after intake. Run any number of them beside `chengzhi serve` (PostgreSQL), with
    CHENGZHI_TRIAGE_WORKER_IN_APP=false for the servers; stop with Ctrl-C or SIGTERM (the batch under way ends first;
    nothing is lost)."""
    from chengzhi.db import get_sessionmaker
    from chengzhi.worker import intake
    from chengzhi.worker.runner import Worker
    from chengzhi.worker.runner import drain as drain_all

    settings = get_settings()
    factory = get_sessionmaker(settings.database_url)
    if drain:
        done = drain_all(factory, settings, intake.process, batch=batch or settings.triage_batch_size)
        typer.echo(f"triaged {done} requests")
        return
    runner = Worker(factory, settings, intake.process, lease=False, batch=batch, warm=intake.warm)

    def stop(_signum: int, _frame: object) -> None:
        runner.request_stop()  # the batch under way commits (or rolls back), then the loop ends

    # SIGTERM is what systemd and container runtimes send; SIGINT is set explicitly because a process started in
    # the background by a non-interactive shell inherits it ignored.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    typer.echo("triage worker running (Ctrl-C or SIGTERM to stop)")
    runner.run()
    typer.echo("stopped")


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Create or migrate the database to the latest schema."""
    from chengzhi.migrate import upgrade

    upgrade(get_settings().database_url, revision)
    typer.echo(f"database at {revision}")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="Target revision, e.g. -1 or base.")]) -> None:
    """Step the schema back."""
    from chengzhi.migrate import downgrade

    downgrade(get_settings().database_url, revision)


@db_app.command("revision")
def db_revision(
    message: Annotated[str, typer.Option("-m", "--message", help="What the revision does.")],
) -> None:
    """Autogenerate a migration from the models (developers)."""
    from chengzhi.migrate import revision

    revision(get_settings().database_url, message)


@app.command()
def demo(
    seed: Annotated[int | None, typer.Option(help="Random seed; the same seed gives the same city.")] = None,
    requests: Annotated[int, typer.Option(help="How many requests to generate.")] = 6000,
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Do nothing if the database has units.")
    ] = False,
    model: Annotated[
        bool,
        typer.Option("--model/--no-model", help="Train and activate a category model from its requests."),
    ] = True,
    text_data: Annotated[
        Path | None,
        typer.Option(
            "--text-data",
            help="A labelled CSV (text, sentiment, type) to train the sentiment and type model from first "
            "(e.g. ../shared/data/msga-messages/train.csv); without it, negativity stays 0.",
        ),
    ] = None,
    staged: Annotated[
        bool,
        typer.Option(
            "--staged",
            help="Build the city in a staging file and copy it in at the end (always on PostgreSQL), so that a "
            "server already running on the same SQLite database is never held up for long (what `make run` does).",
        ),
    ] = False,
) -> None:
    """Generate the demo city: organisation, areas, categories, staff and a year of requests; then a category
    model trained from them, in use at intake, and the early-warning alerts of its history."""
    from chengzhi.demo.generate import generate_demo_city

    settings = get_settings()
    summary = generate_demo_city(
        settings,
        seed=settings.demo_seed if seed is None else seed,
        n_requests=requests,
        if_empty=if_empty,
        train_model=model,
        text_data=text_data,
        staged=staged,
    )
    typer.echo(json.dumps(summary, ensure_ascii=False, indent=2))


@import_app.command("requests")
def import_requests_command(
    file: Annotated[Path, typer.Argument(help="CSV or XLSX file.", exists=True, dir_okay=False)],
    mapping: Annotated[
        Path, typer.Option(help="Column mapping file (TOML), see docs/import.md.", exists=True)
    ],
    dry_run: Annotated[
        bool, typer.Option(help="Validate every row and summarise the problems by kind; import nothing.")
    ] = False,
    skip_invalid: Annotated[
        bool,
        typer.Option(help="Import the valid rows; write the refused ones with their reasons to --rejects."),
    ] = False,
    rejects: Annotated[
        Path | None, typer.Option(help="Where --skip-invalid writes refused rows (default FILE.rejects.csv).")
    ] = None,
) -> None:
    """Import historical requests; a file with any invalid row imports nothing, unless --skip-invalid."""
    from chengzhi.imports.service import ImportFailed, import_requests

    if skip_invalid and rejects is None:
        rejects = file.with_name(file.stem + ".rejects.csv")
    try:
        report = import_requests(
            get_settings(), file, mapping, dry_run=dry_run, skip_invalid=skip_invalid, rejects=rejects
        )
    except ImportFailed as failed:
        for problem in failed.problems[:200]:
            typer.echo(str(problem), err=True)  # "row N: reason", or the reason alone for the whole file
        if failed.total > 200:
            typer.echo(f"... and {failed.total - 200} more problems", err=True)
        typer.echo(f"nothing imported (未导入任何记录): {failed.total} problem(s)", err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
    if dry_run and report["invalid"] and not skip_invalid:
        raise typer.Exit(1)  # this file, as it is, would import nothing


@jobs_app.command("run")
def jobs_run(name: Annotated[str, typer.Argument(help="Job name (see `jobs list`).")]) -> None:
    """Run one periodic job now (skipped if another process is running it)."""
    from chengzhi.db import get_sessionmaker
    from chengzhi.jobs.service import JOBS, run_job

    if name not in JOBS:
        typer.echo(f"unknown job {name!r}; jobs: {', '.join(JOBS)}", err=True)
        raise typer.Exit(2)
    settings = get_settings()
    result = run_job(get_sessionmaker(settings.database_url), settings, name)
    typer.echo(json.dumps({"job": name, "skipped": result is None, "result": result}))


@jobs_app.command("list")
def jobs_list() -> None:
    """List the periodic jobs."""
    from chengzhi.jobs.service import JOBS

    for name, job in JOBS.items():
        typer.echo(f"{name}\t{(job.__doc__ or '').strip().splitlines()[0]}")


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Argument(help="Sign-in name.")],
    role: Annotated[
        str,
        typer.Option(
            help="Role: resident, operator, dispatcher, handler, supervisor, leader, admin, analyst, credit_officer, knowledge_editor, data_publisher."
        ),
    ],
    unit: Annotated[str, typer.Option(help="Code of the unit the role is held in.")],
    display_name: Annotated[str | None, typer.Option(help="Name shown to others.")] = None,
) -> None:
    """Create a user with one role; the password is asked for (or read from CHENGZHI_NEW_PASSWORD)."""
    import os

    from chengzhi.db import get_sessionmaker, transaction
    from chengzhi.org.models import Role
    from chengzhi.org.service import create_user, get_unit_by_code

    try:
        role_value = Role(role)
    except ValueError:
        known = ", ".join(r.value for r in Role)
        typer.echo(f"unknown role {role!r}; use one of: {known}", err=True)
        raise typer.Exit(2) from None
    password = os.environ.get("CHENGZHI_NEW_PASSWORD") or getpass.getpass("password: ")
    if len(password) < 10:
        typer.echo("the password needs at least 10 characters", err=True)
        raise typer.Exit(2)
    settings = get_settings()
    with transaction(get_sessionmaker(settings.database_url)) as session:
        target = get_unit_by_code(session, unit)
        create_user(
            session,
            username=username,
            display_name=display_name or username,
            password=password,
            roles=[(role_value, target)],
        )
    typer.echo(f"created {username} ({role_value.value} in {unit})")


def _print_summary(done: object) -> None:
    rows = getattr(done, "rows", {})
    typer.echo(
        f"schema version {getattr(done, 'version', None)}, {sum(rows.values())} rows in {len(rows)} tables"
    )
    typer.echo(
        f"request_events: {rows.get('request_events', 0)} rows, sha256 {getattr(done, 'events_sha256', '')}"
    )


@app.command("backup")
def backup_command(file: Annotated[Path, typer.Argument(help="Where to write the backup.")]) -> None:
    """Back the whole database up into FILE: SQLite's online backup (safe while serving), or pg_dump (custom
    format) for PostgreSQL. Prints row counts and the event log's checksum."""
    from chengzhi import backup

    try:
        done = backup.backup(get_settings().database_url, file)
    except backup.BackupError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    typer.echo(f"backed up to {file}")
    _print_summary(done)


@app.command("restore")
def restore_command(
    file: Annotated[Path, typer.Argument(help="A backup made by `chengzhi backup`.")],
) -> None:
    """Replace the database's contents with FILE's (stop the servers and workers first). Refuses a backup of
    another schema version. Prints row counts and the event log's checksum, to compare with the backup's."""
    from chengzhi import backup

    try:
        done = backup.restore(get_settings().database_url, file)
    except backup.BackupError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    typer.echo(f"restored from {file}")
    _print_summary(done)
    # Personal data the retention job removed after the backup was taken must not come back with it.
    from chengzhi.db import get_sessionmaker, utcnow
    from chengzhi.requests.retention import anonymise_expired

    settings = get_settings()
    with get_sessionmaker(settings.database_url)() as session, session.begin():
        result = anonymise_expired(session, settings, utcnow())
    if result.get("retention") == "off":
        typer.echo("retention not re-applied: CHENGZHI_RETENTION_MONTHS is 0")
        return
    removed = ", ".join(f"{k} {v}" for k, v in result.items() if k != "closed_before") or "nothing"
    typer.echo(
        f"retention re-applied (CHENGZHI_RETENTION_MONTHS={settings.retention_months}, requests closed before "
        f"{result['closed_before']}): {removed}"
    )
    if any(v for k, v in result.items() if k != "closed_before"):
        typer.echo("after retention:")
        _print_summary(backup.summary(settings.database_url))


@app.command("prune-backups")
def prune_backups_command(
    directory: Annotated[Path, typer.Argument(help="The directory `chengzhi backup` writes to.")],
    keep_days: Annotated[
        int | None, typer.Option(help="Days to keep (default CHENGZHI_BACKUP_KEEP_DAYS).", min=1)
    ] = None,
) -> None:
    """Delete the backups in DIRECTORY written more than --keep-days days ago (files `chengzhi backup` writes: SQLite
    databases and pg_dump archives; other files are left alone). Run it after each backup, so that personal data
    removed by retention do not outlive it in old backups."""
    from chengzhi import backup

    days = keep_days if keep_days is not None else get_settings().backup_keep_days
    try:
        deleted = backup.prune(directory, days)
    except backup.BackupError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    for file in deleted:
        typer.echo(f"deleted {file}")
    typer.echo(f"{len(deleted)} backups older than {days} days deleted from {directory}")


@secrets_app.command("rotate")
def secrets_rotate() -> None:
    """Re-seal every stored secret (units' Open311 API keys, staff's TOTP secrets) under CHENGZHI_SECRET_KEY. Set
    the new key, keep the old one in CHENGZHI_PREVIOUS_SECRET_KEYS (a JSON list) until this has run, then drop it.
    TOTP secrets stored plain by earlier releases are sealed. Exits 1 if a secret opens with none of the keys
    (enter it again: `chengzhi open311 endpoints set`; a second factor: reset it for its user)."""
    from chengzhi.db import get_sessionmaker
    from chengzhi.open311.delivery import reseal_secrets
    from chengzhi.org import mfa

    settings = get_settings()
    with get_sessionmaker(settings.database_url)() as session, session.begin():
        kinds = {
            "open311 API keys": reseal_secrets(session, settings),
            "TOTP secrets": mfa.reseal_secrets(session, settings),
        }
    for kind, counts in kinds.items():
        typer.echo(
            f"{kind}: re-sealed {counts['resealed']}, already current {counts['current']}, "
            f"unreadable {counts['unreadable']}"
        )
    if any(counts["unreadable"] for counts in kinds.values()):
        raise typer.Exit(1)


def main() -> None:  # pragma: no cover - console entry point
    app()
    sys.exit(0)
