"""`chengzhi credit ...`: import entities and records, allow-list pilot-era codes, regrade every entity."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer

from chengzhi.config import get_settings
from chengzhi.credit import importer, service
from chengzhi.db import get_sessionmaker, transaction
from chengzhi.i18n import Language

credit_app = typer.Typer(help="Credit supervision (信用监管).", no_args_is_help=True)
import_app = typer.Typer(
    help="Import entities or credit records (CSV/XLSX, all or nothing).", no_args_is_help=True
)
credit_app.add_typer(import_app, name="import")

FileArg = Annotated[Path, typer.Argument(help="CSV or XLSX file.", exists=True, dir_okay=False)]
MappingOpt = Annotated[
    Path | None, typer.Option(help='TOML mapping: [columns] canonical = "file column".', exists=True)
]
LangOpt = Annotated[str | None, typer.Option(help="Language of the messages: zh or en.")]


def _lang(lang: str | None) -> Language:
    chosen = lang or get_settings().default_language
    return "en" if chosen == "en" else "zh"


def _run(what: str, file: Path, mapping: Path | None, lang: str | None) -> None:
    language = _lang(lang)
    settings = get_settings()
    run = importer.import_entities if what == "entities" else importer.import_records
    try:
        with transaction(get_sessionmaker(settings.database_url)) as session:
            report = run(session, file, dt.date.today(), language, mapping)
    except importer.ImportFailed as failed:
        for problem in failed.problems:
            typer.echo(problem.reason, err=True)
        typer.echo(importer.say(language, "nothing_imported", count=len(failed.problems)), err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(report, ensure_ascii=False))


@import_app.command("entities")
def import_entities(file: FileArg, mapping: MappingOpt = None, lang: LangOpt = None) -> None:
    """Import or update entities; a file with any bad row imports nothing."""
    _run("entities", file, mapping, lang)


@import_app.command("records")
def import_records(file: FileArg, mapping: MappingOpt = None, lang: LangOpt = None) -> None:
    """Import credit records for registered entities; a file with any bad row imports nothing."""
    _run("records", file, mapping, lang)


@credit_app.command("allow-code")
def allow_code(
    code: Annotated[str, typer.Argument(help="The credit code that fails the check but is real.")],
    reason: Annotated[str, typer.Option(help="Why it is admitted (the document that proves it).")],
    by: Annotated[str, typer.Option(help="Who admits it.")],
) -> None:
    """Admit a pilot-era code that fails the GB 32100-2015 check, explicitly, with who and why."""
    with transaction(get_sessionmaker(get_settings().database_url)) as session:
        service.allow_code(session, code, reason, by)
    typer.echo(json.dumps({"allowed": code}))


@credit_app.command("regrade")
def regrade() -> None:
    """Recompute every entity's score and grade (nightly: decay moves scores, publications end)."""
    with transaction(get_sessionmaker(get_settings().database_url)) as session:
        count = service.regrade_all(session, dt.date.today())
    typer.echo(json.dumps({"entities": count}))
