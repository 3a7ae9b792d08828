"""`chengzhi triage ...`: what intake reads from a text (urgency, place), and rebuilding the learned place names
and the duplicates index from existing data."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from chengzhi.config import get_settings

triage_app = typer.Typer(
    help="Urgency, place from text and duplicates: try a text, rebuild the learned places and the index.",
    no_args_is_help=True,
)


@triage_app.command("analyse")
def analyse_command(
    text: Annotated[
        str | None, typer.Argument(help="The request's text (or use --file, or - for stdin).")
    ] = None,
    file: Annotated[
        Path | None, typer.Option(help="Read the text from a file (UTF-8, UTF-16 with BOM or GB18030).")
    ] = None,
    lang: Annotated[str, typer.Option(help="Language of the reasons: zh or en.")] = "zh",
) -> None:
    """Print, as JSON, whether a text is an emergency and where it says the request is (with the reasons).
    Empty, huge (over 20,000 characters), binary or wrongly encoded text is refused with a message."""
    from sqlalchemy.exc import DBAPIError

    from chengzhi.db import get_sessionmaker
    from chengzhi.routing import places, urgency
    from chengzhi.routing.text import TextError, check

    settings = get_settings()
    raw: str | bytes | None = text
    try:
        if file is not None:
            raw = file.read_bytes()
        elif text == "-":
            raw = sys.stdin.buffer.read()
        checked = check(raw)
    except OSError as error:
        typer.echo(f"无法读取文件 / cannot read the file: {error}", err=True)
        raise typer.Exit(2) from None
    except TextError as error:
        typer.echo(f"{error.message('zh')} / {error.message('en')}", err=True)
        raise typer.Exit(2) from None
    try:
        terms = urgency.terms_for(settings.urgency_terms_path or None)
    except urgency.TermsFileError as error:
        typer.echo(f"紧急词表无法使用 / the urgency terms cannot be used: {error}", err=True)
        raise typer.Exit(2) from None
    found = urgency.analyse(checked, terms)
    try:
        with get_sessionmaker(settings.database_url)() as session:
            placed = places.locate(session, checked)
    except DBAPIError as error:
        typer.echo(
            "数据库不可用或未迁移（请运行 chengzhi db upgrade）/ the database cannot be read or is not migrated "
            f"(run chengzhi db upgrade): {type(error.orig).__name__}",
            err=True,
        )
        raise typer.Exit(1) from None
    result: dict[str, Any] = {
        "urgent": found.urgent,
        "urgency": [m.as_dict() for m in found.matches],
        "urgency_ignored": [m.as_dict() for m in found.ignored],
        "urgency_reason": found.reason(terms, lang),
        "place": {
            "unit_id": placed.unit_id,
            "lat": placed.lat,
            "lon": placed.lon,
            "matches": [m.as_dict() for m in placed.matches],
            "reason": placed.reason(lang),
        },
    }
    typer.echo(json.dumps(result, ensure_ascii=False, indent=2))


@triage_app.command("rebuild-places")
def rebuild_places_command(
    limit: Annotated[
        int, typer.Option(min=1, help="Most recent requests with a map point to learn from.")
    ] = 200_000,
    min_mentions: Annotated[int, typer.Option(min=1, help="Mentions a name needs to be kept.")] = 3,
) -> None:
    """Learn place names (compounds, roads, schools, ...) from requests that have a map point."""
    from chengzhi.db import get_sessionmaker, transaction
    from chengzhi.routing import places

    settings = get_settings()
    started = time.perf_counter()
    with transaction(get_sessionmaker(settings.database_url)) as session:
        learned = places.rebuild_places(session, limit=limit, min_mentions=min_mentions)
    typer.echo(json.dumps({"places": learned, "seconds": round(time.perf_counter() - started, 1)}))


@triage_app.command("rebuild-duplicates")
def rebuild_duplicates_command(
    batch: Annotated[int, typer.Option(min=1, max=100_000, help="Requests per batch.")] = 1000,
) -> None:
    """Rebuild the duplicates index from every request that is not closed (in one transaction)."""
    from chengzhi.db import get_sessionmaker, transaction
    from chengzhi.routing import duplicates_index

    settings = get_settings()
    started = time.perf_counter()
    with transaction(get_sessionmaker(settings.database_url)) as session:
        requests, rows = duplicates_index.rebuild_index(session, batch=batch)
    typer.echo(
        json.dumps({"requests": requests, "rows": rows, "seconds": round(time.perf_counter() - started, 1)})
    )
