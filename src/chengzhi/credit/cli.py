"""`chengzhi credit ...`: import entities and records, allow-list pilot-era codes, regrade every entity."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer

from chengzhi.config import get_settings
from chengzhi.credit import importer, inspections, service
from chengzhi.db import get_sessionmaker, transaction
from chengzhi.i18n import Language, gettext
from chengzhi.org import queries as org_queries

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


def _run(what: str, file: Path, mapping: Path | None, lang: str | None, source: str | None = None) -> None:
    language = _lang(lang)
    settings = get_settings()
    try:
        with transaction(get_sessionmaker(settings.database_url)) as session:
            if what == "entities":
                report = importer.import_entities(session, file, dt.date.today(), language, mapping)
            else:
                report = importer.import_records(session, file, dt.date.today(), language, mapping, source)
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
def import_records(
    file: FileArg,
    mapping: MappingOpt = None,
    lang: LangOpt = None,
    source: Annotated[
        str | None,
        typer.Option(help="Unit code of the records' source, for rows without a source column value."),
    ] = None,
) -> None:
    """Import credit records for registered entities; a file with any bad row imports nothing."""
    _run("records", file, mapping, lang, source)


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
        result = service.regrade_all(session, dt.date.today())
    typer.echo(json.dumps(result))


@credit_app.command("draw")
def draw(
    seed: Annotated[int, typer.Option(help="The published random seed.")],
    inspector: Annotated[list[str], typer.Option(help="An inspector of the roster (repeat the option).")],
    industry: Annotated[str | None, typer.Option(help="Only entities of this industry.")] = None,
    area: Annotated[str | None, typer.Option(help="Only entities of this area unit (code).")] = None,
    ratio: Annotated[list[str] | None, typer.Option(help="GRADE=RATIO, e.g. B=0.2 (repeat).")] = None,
    conflict: Annotated[list[str] | None, typer.Option(help="USCC=INSPECTOR to recuse (repeat).")] = None,
    lang: LangOpt = None,
) -> None:
    """Draw a random-inspection plan (双随机): entities per grade and two inspectors per task, from the seed."""
    language = _lang(lang)
    conflicts: dict[str, set[str]] = {}
    for item in conflict or []:
        code, _, name = item.partition("=")
        conflicts.setdefault(code.strip().upper(), set()).add(name.strip())
    try:
        ratios = {g.strip().upper(): float(v) for g, _, v in (r.partition("=") for r in ratio or [])}
        with get_sessionmaker(get_settings().database_url)() as session:
            area_id = org_queries.unit_id_of_code(session, area) if area else None
            pool = service.inspection_pool(session, industry, area_id)
        tasks = inspections.draw(pool, seed, inspector, ratios=ratios, conflicts=conflicts)
    except inspections.DrawError as exc:
        typer.echo(exc.message(language), err=True)
        raise typer.Exit(1) from None
    except (ValueError, KeyError):
        typer.echo(gettext(language, inspections.DRAW_MESSAGES["bad_ratio"]), err=True)
        raise typer.Exit(2) from None
    plan = {
        "seed": seed,
        "pool": len(pool),
        "tasks": [t.__dict__ | {"inspectors": list(t.inspectors)} for t in tasks],
    }
    typer.echo(json.dumps(plan, ensure_ascii=False))
