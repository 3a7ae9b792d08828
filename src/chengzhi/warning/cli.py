"""`chengzhi hot ...`: hot issues from a file of messages (offline), and the live recomputation."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

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
) -> None:
    """Group the file's messages into issues, rank them by heat and write the top N: DIR/hot_issues.csv (rank,
    heat, time range, place or group, description, heat terms) and DIR/hot_messages.csv (their messages)."""
    from chengzhi.config import get_settings
    from chengzhi.warning import hot
    from chengzhi.warning.files import MessageFileError, issue_id, read_messages, write_tables
    from chengzhi.warning.settings import grouping_settings, heat_weights

    settings = get_settings()
    started = time.perf_counter()
    try:
        messages = read_messages(file)
    except MessageFileError as error:
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
