"""`chengzhi hot ...`: hot issues from a file of messages (offline), and the live recomputation."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

hot_app = typer.Typer(
    help="Hot issues: find them in a file of messages, recompute the live ones.", no_args_is_help=True
)


@hot_app.command("detect")
def detect_command(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV of messages: message_id, user, title, detail, time, likes, dislikes "
            "(or 留言编号, 留言用户, 留言主题, 留言时间, 留言详情, 点赞数, 反对数)."
        ),
    ],
    output: Annotated[
        Path, typer.Option("--output", help="Directory for hot_issues.csv and hot_messages.csv.")
    ],
    top: Annotated[int, typer.Option("--top", min=1, help="How many hot issues to write.")] = 10,
    text_model: Annotated[
        Path | None,
        typer.Option(
            "--text-model",
            help="A sentiment model (chengzhi hot train-text) to read each message's negativity with; "
            "without it the negativity term is 0.",
        ),
    ] = None,
    dask: Annotated[
        bool,
        typer.Option(
            "--dask",
            help="The batch: blocked grouping (not n x n) with Dask, for files of years of messages.",
        ),
    ] = False,
    scheduler: Annotated[
        str,
        typer.Option(
            "--scheduler",
            help="With --dask: local (processes, the default), threads, sync, or a distributed scheduler's "
            "address (tcp://host:8786).",
        ),
    ] = "local",
) -> None:
    """Group the file's messages into issues, rank them by heat and write the top N: DIR/hot_issues.csv (rank,
    heat, time range, place or group, description, heat terms) and DIR/hot_messages.csv (their messages)."""
    from chengzhi.config import get_settings
    from chengzhi.warning import hot
    from chengzhi.warning.files import MessageFileError, issue_id, read_messages, write_tables
    from chengzhi.warning.sentiment import TextModelError
    from chengzhi.warning.settings import grouping_settings, heat_weights

    settings = get_settings()
    started = time.perf_counter()
    try:
        messages = with_negativity(read_messages(file), text_model)
    except (MessageFileError, TextModelError) as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    if dask:
        from chengzhi.warning import batch

        issues = batch.detect(
            messages,
            grouping=grouping_settings(settings),
            weights=heat_weights(settings),
            scheduler=scheduler,
        )
        batch.close_clients()
    else:
        issues = hot.detect(messages, grouping=grouping_settings(settings), weights=heat_weights(settings))
    chosen = issues[:top]
    issues_path, messages_path = write_tables(chosen, output)
    seconds = time.perf_counter() - started
    typer.echo(
        f"{len(messages)} 条留言 / messages → {len(issues)} 个候选问题 / candidate issues; "
        f"前 {len(chosen)} 个热点问题 / top {len(chosen)} hot issues ({seconds:.1f} s):"
    )
    for rank, issue in enumerate(chosen, start=1):
        terms = ", ".join(
            f"{name} {issue.contributions[name]:.1f}"
            for name in hot.HEAT_TERMS
            if issue.contributions[name] >= 0.05
        )
        typer.echo(
            f"{rank:>3}. {issue_id(rank)} heat {issue.heat:6.2f} | {len(issue.messages)} msgs, {issue.people} people"
            f" | {issue.time_range()} | {issue.place_or_group} | {issue.description}\n       ({terms})"
        )
    typer.echo(f"→ {issues_path}\n→ {messages_path}")


def with_negativity(messages: list[Any], path: Path | None) -> list[Any]:
    """The messages with their negativity from the text model at `path`, if given (else unchanged)."""
    import dataclasses

    from chengzhi.warning.labels import text_of
    from chengzhi.warning.sentiment import label, load

    if path is None or not messages:
        return messages
    model = load(path)
    found = label(model, [text_of(m.title, m.detail) for m in messages])
    return [dataclasses.replace(m, negativity=f.negativity) for m, f in zip(messages, found, strict=True)]


@hot_app.command("train-text")
def train_text_command(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV with a text column (or title and detail) and sentiment and/or type columns "
            "(e.g. msga-messages/train.csv)."
        ),
    ],
    folds: Annotated[
        int,
        typer.Option("--folds", min=0, help="Cross-validation folds for the scores (0: do not evaluate)."),
    ] = 5,
    output: Annotated[
        Path | None, typer.Option("--output", help="Model file (default: the warning_text_model setting).")
    ] = None,
) -> None:
    """Train the sentiment and message-type model on a labelled file, score it against a naive Bayes baseline
    and the majority class under the same folds (macro-F1), and save it where the triage worker reads it."""
    import json

    from chengzhi.config import get_settings
    from chengzhi.warning import sentiment
    from chengzhi.warning.labels import model_path

    settings = get_settings()
    started = time.perf_counter()
    try:
        examples = sentiment.read_examples(file)
        scores = {}
        for target in ("sentiment", "type") if folds else ():
            if folds < 2:
                raise sentiment.TextModelError("--folds: at least 2 (or 0 to skip the evaluation)")
            found = sentiment.cross_validate(examples, target, folds=folds)
            scores[target] = found.as_dict()
            typer.echo(
                f"{target}: macro-F1 {found.model[0]:.3f} ± {found.model[1]:.3f} "
                f"(naive Bayes baseline {found.baseline[0]:.3f} ± {found.baseline[1]:.3f}, "
                f"majority {found.majority[0]:.3f}; {found.examples} examples, {found.folds} folds)"
            )
        model = sentiment.train(examples)
    except sentiment.TextModelError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    model.scores = scores
    path = output or model_path(settings)
    sentiment.save(model, path)
    path.with_suffix(".json").write_text(
        json.dumps({"version": model.version, "examples": model.examples, "scores": scores}, indent=2)
    )
    typer.echo(f"→ {path} (version {model.version}, {time.perf_counter() - started:.1f} s)")


@hot_app.command("label")
def label_command(
    days: Annotated[int, typer.Option("--days", min=1, help="Label the requests of the last N days.")] = 90,
) -> None:
    """Label the recent requests that have no sentiment and type yet (after a first model is trained)."""
    from chengzhi.config import get_settings
    from chengzhi.db import get_sessionmaker, utcnow
    from chengzhi.warning.labels import label_backlog
    from chengzhi.warning.sentiment import TextModelError

    settings = get_settings()
    with get_sessionmaker(settings.database_url)() as session, session.begin():
        try:
            found = label_backlog(session, settings, utcnow(), days=days)
        except TextModelError as error:
            typer.echo(str(error), err=True)
            raise typer.Exit(2) from None
    typer.echo(f"{found['labelled']} of {found['requests']} requests labelled")


@hot_app.command("import-posts")
def import_posts_command(
    file: Annotated[
        Path,
        typer.Argument(help="CSV of a message board's posts, with the columns of `chengzhi hot detect`."),
    ],
    source: Annotated[str, typer.Option("--source", help="The board or site the posts come from.")],
) -> None:
    """Store outside posts (channel feed) from a message-board export: they join hot issues beside the requests,
    count toward heat and alerts, and are never requests. Posts already stored from the source are skipped."""
    from chengzhi.config import get_settings
    from chengzhi.db import get_sessionmaker, utcnow
    from chengzhi.errors import Invalid
    from chengzhi.warning import posts

    settings = get_settings()
    try:
        rows = posts.rows_of(file.read_bytes())
    except (OSError, Invalid) as error:
        typer.echo(f"{file}: {getattr(error, 'params', {}).get('detail') or error}", err=True)
        raise typer.Exit(2) from None
    name = " ".join(source.split())[:100]
    if not name:
        typer.echo("--source: give the board's name", err=True)
        raise typer.Exit(2)
    with get_sessionmaker(settings.database_url)() as session, session.begin():
        found = posts.ingest(session, settings, name, rows, utcnow())
    typer.echo(
        f"{found.added} added, {found.duplicates} already stored, {found.skipped} empty, "
        f"{found.expired} older than the retention period"
    )


feeds_app = typer.Typer(help="Outside feeds (RSS/Atom) read on a schedule.", no_args_is_help=True)
hot_app.add_typer(feeds_app, name="feeds")


@feeds_app.command("add")
def feeds_add_command(
    name: Annotated[str, typer.Argument(help="The feed's name (its posts' source).")],
    url: Annotated[str, typer.Argument(help="The feed's http or https address.")],
    unit: Annotated[
        int | None, typer.Option("--unit", help="Unit id whose scope its posts count in (default: the city).")
    ] = None,
) -> None:
    """Add a feed: the periodic job `warning_feeds` reads it every warning_feed_minutes."""
    from chengzhi.config import get_settings
    from chengzhi.db import get_sessionmaker
    from chengzhi.warning.models import Feed

    settings = get_settings()
    if not url.startswith(("http://", "https://")):
        typer.echo("the address must start with http:// or https://", err=True)
        raise typer.Exit(2)
    with get_sessionmaker(settings.database_url)() as session, session.begin():
        session.add(Feed(name=name.strip()[:100], url=url.strip()[:500], unit_id=unit))
    typer.echo(f"feed {name} added")


@feeds_app.command("list")
def feeds_list_command() -> None:
    """The feeds with when they were last read and their last error."""
    from chengzhi.config import get_settings
    from chengzhi.db import get_sessionmaker
    from chengzhi.warning import posts

    with get_sessionmaker(get_settings().database_url)() as session:
        for feed in posts.feeds(session):
            when = feed.fetched_at.isoformat() if feed.fetched_at else "never"
            typer.echo(f"{feed.id}\t{feed.name}\t{feed.url}\t{when}\t{feed.last_error or ''}")


@feeds_app.command("fetch")
def feeds_fetch_command() -> None:
    """Read every active feed now (whenever it was last read)."""
    import json

    from chengzhi.config import get_settings
    from chengzhi.db import get_sessionmaker, utcnow
    from chengzhi.warning import posts

    settings = get_settings()
    with get_sessionmaker(settings.database_url)() as session:
        found = posts.feeds_job(session, settings, utcnow(), every_feed=True)
    typer.echo(json.dumps(found))
