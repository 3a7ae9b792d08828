"""Message files in and hot-issue tables out, for the offline analysis (`chengzhi hot detect`).

The input is a CSV with the columns of the 2020 Teddy Cup problem C, attachment 3, in English or in Chinese:
message_id / 留言编号, user / 留言用户, title / 留言主题, detail / 留言详情, time / 留言时间, likes / 点赞数,
dislikes / 反对数 (any order; likes and dislikes may be missing). The outputs are the competition's two tables:
`hot_issues.csv` (one row per hot issue, with the heat terms) and `hot_messages.csv` (every message of those issues).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from pathlib import Path

from chengzhi.routing.service import TextError, decode
from chengzhi.security.cells import safe_cell
from chengzhi.warning.hot import HEAT_TERMS, Issue, Message

# The columns by their English names, and the Chinese headers of the competition's files, in the same order.
FIELDS = ("message_id", "user", "title", "detail", "time", "likes", "dislikes")
CHINESE_HEADERS = ("留言编号", "留言用户", "留言主题", "留言详情", "留言时间", "点赞数", "反对数")
COLUMNS: dict[str, tuple[str, ...]] = {
    name: (name, chinese) for name, chinese in zip(FIELDS, CHINESE_HEADERS, strict=True)
}
REQUIRED = ("message_id", "title")
ISSUE_COLUMNS = (
    "issue_rank",
    "issue_id",
    "heat",
    "time_range",
    "place_or_group",
    "description",
    "messages",
    "people",
    "top_words",
    *tuple(f"term_{name}" for name in HEAT_TERMS),
)
MESSAGE_COLUMNS = ("issue_rank", "issue_id", "message_id", "user", "title", "time", "likes", "dislikes")
_TIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M",
    "%Y-%m-%d",
    "%Y/%m/%d",
)


class MessageFileError(ValueError):
    """A file that cannot be read as messages; the message says what to fix (Chinese / English)."""


def parse_time(value: str) -> dt.datetime | None:
    value = (value or "").strip()
    if not value:
        return None
    for pattern in _TIME_FORMATS:
        try:
            return dt.datetime.strptime(value, pattern)
        except ValueError:
            continue
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return None


def _count(value: str | None) -> int:
    try:
        return max(0, int(float((value or "0").strip() or 0)))
    except ValueError:
        return 0


def read_messages(path: Path) -> list[Message]:
    """Reads a message CSV (UTF-8, UTF-8 with BOM, UTF-16 with BOM or GB18030) with either header."""
    try:
        content = path.read_bytes()
    except OSError as error:
        raise MessageFileError(f"无法读取文件 / cannot read the file: {error}") from error
    return read_message_bytes(content)


def read_message_bytes(content: bytes) -> list[Message]:
    """The messages of a CSV file's bytes (see `read_messages`)."""
    try:
        text = decode(content)
    except TextError as error:
        raise MessageFileError(f"{error.message('zh')} / {error.message('en')}") from error
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip().lstrip("\ufeff") for name in next(reader)]
    except StopIteration:
        raise MessageFileError("文件是空的 / the file is empty") from None
    where: dict[str, int] = {}
    for key, names in COLUMNS.items():
        for position, name in enumerate(header):
            if name.lower() in names:
                where[key] = position
                break
    missing = [key for key in REQUIRED if key not in where]
    if missing:
        wanted = ", ".join(f"{COLUMNS[k][0]} / {COLUMNS[k][1]}" for k in missing)
        raise MessageFileError(f"缺少列 / missing columns: {wanted} (header: {', '.join(header)})")
    messages = []
    for number, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue

        def cell(key: str, row: list[str] = row) -> str:
            position = where.get(key)
            return row[position] if position is not None and position < len(row) else ""

        message_id = cell("message_id").strip() or f"row{number}"
        messages.append(
            Message(
                id=message_id,
                title=cell("title").strip(),
                detail=cell("detail").strip(),
                time=parse_time(cell("time")),
                user=cell("user").strip(),
                likes=_count(cell("likes")),
                dislikes=_count(cell("dislikes")),
            )
        )
    if not messages:
        raise MessageFileError("文件中没有留言 / the file has no messages")
    return messages


def write_tables(issues: Sequence[Issue], directory: Path) -> tuple[Path, Path]:
    """Writes hot_issues.csv and hot_messages.csv (UTF-8 with BOM, so that spreadsheet programs read Chinese);
    residents' words that a spreadsheet would run as a formula are neutralised."""
    directory.mkdir(parents=True, exist_ok=True)
    issues_path = directory / "hot_issues.csv"
    messages_path = directory / "hot_messages.csv"
    with issues_path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(ISSUE_COLUMNS)
        for rank, issue in enumerate(issues, start=1):
            writer.writerow(
                [
                    rank,
                    issue_id(rank),
                    f"{issue.heat:.2f}",
                    issue.time_range(),
                    safe_cell(issue.place_or_group),
                    safe_cell(issue.description),
                    len(issue.messages),
                    issue.people,
                    safe_cell("、".join(issue.top_words)),
                ]
                + [f"{issue.contributions.get(name, 0.0):.2f}" for name in HEAT_TERMS]
            )
    with messages_path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(MESSAGE_COLUMNS)
        for rank, issue in enumerate(issues, start=1):
            ordered = sorted(issue.messages, key=lambda m: (m.time or dt.datetime.min, m.id))
            for message in ordered:
                writer.writerow(
                    [
                        rank,
                        issue_id(rank),
                        message.id,
                        safe_cell(message.user),
                        safe_cell(message.title),
                        f"{message.time:%Y-%m-%d %H:%M:%S}" if message.time else "",
                        message.likes,
                        message.dislikes,
                    ]
                )
    return issues_path, messages_path


def issue_id(rank: int) -> str:
    return f"H{rank:03d}"
