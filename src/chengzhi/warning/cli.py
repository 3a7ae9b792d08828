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
