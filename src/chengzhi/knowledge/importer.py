"""`chengzhi kb import FILE [--mapping M]`: articles from a CSV or XLSX file, all or nothing.

Without a mapping the columns are `question`, `answer`, `unit` (the format of the Beijing Q&A data) and optionally
`category`, `keywords`, `valid_from`, `valid_until`, `source`. Rows with the same answer and unit become one
article with several questions. A unit is matched by its code or its exact Chinese or English name, or through
the mapping's `[units]` table; a name that only resembles a unit (a spelling variant) is reported with the
candidate, never matched silently."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from chengzhi.errors import ChengzhiError
from chengzhi.knowledge import service
from chengzhi.knowledge.models import ArticleStatus
from chengzhi.org.queries import active_unit_names, unit_id_of_code
from chengzhi.org.service import ANONYMOUS
from chengzhi.security.archives import check_zip

FIELDS = ("question", "answer", "unit", "category", "keywords", "valid_from", "valid_until", "source")
REQUIRED = ("question", "answer", "unit")
MAX_ROWS = 100_000
_KEYWORD_SPLIT = re.compile(r"[;；,，、\s]+")
_UNIT_NOISE = re.compile(r"^(北京市|北京|市)|[和、\s()（）]")


@dataclass
class ImportFailed(Exception):
    problems: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.problems)


def load_mapping(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ImportFailed([f"mapping {path.name}: {error}"]) from None


def read_rows(path: Path) -> list[dict[str, str]]:
    """Rows as dictionaries of stripped strings (header names lower-cased)."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        import openpyxl

        try:
            check_zip(path)
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception as error:  # openpyxl raises many types for a broken file
            raise ImportFailed([f"{path.name}: not a readable XLSX file ({error})"]) from None
        sheet: Any = book.active
        values = [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]
        book.close()
    else:
        raw = path.read_bytes()
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                text = raw.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise ImportFailed([f"{path.name}: not UTF-8 or GB18030 text"])
        values = list(csv.reader(io.StringIO(text)))
    if not values:
        raise ImportFailed([f"{path.name}: the file is empty"])
    header = [h.strip().lower() for h in values[0]]
    return [
        {h: (row[i].strip() if i < len(row) else "") for i, h in enumerate(header)}
        for row in values[1:]
        if any(c.strip() for c in row)
    ]


def _unit_key(name: str) -> str:
    return _UNIT_NOISE.sub("", name)


class UnitMatcher:
    def __init__(self, session: Session, aliases: dict[str, str]) -> None:
        self.session = session
        self.names = {name: uid for uid, name in active_unit_names(session)}
        self.aliases = aliases

    def _direct(self, ref: str) -> int | None:
        uid = unit_id_of_code(self.session, ref)
        return uid if uid is not None else self.names.get(ref)

    def match(self, name: str) -> tuple[int | None, str]:
        """(unit id, "") or (None, the reason)."""
        if name in self.aliases:
            target = self.aliases[name]
            uid = self._direct(target)
            return (
                (uid, "") if uid is not None else (None, f"[units] maps {name!r} to {target!r}, not a unit")
            )
        uid = self._direct(name)
        if uid is not None:
            return uid, ""
        key = _unit_key(name)
        near = [
            n
            for n, k in ((n, _unit_key(n)) for n in self.names)
            if key and len(k) >= 2 and (k == key or key in k or k in key)
        ]
        if near:
            hint = ", ".join(repr(n) for n in sorted(near)[:3])
            return None, (
                f"unit {name!r} not found; a spelling variant of {hint}? "
                f'add \'"{name}" = "<unit code>"\' under [units] in the mapping'
            )
        return None, f"unit {name!r} not found (by code or exact name)"


def _date(value: str) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def import_articles(
    session: Session,
    path: Path,
    mapping_path: Path | None = None,
    *,
    publish: bool = False,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Validate every row, then create the articles (drafts, or published with `publish`); any problem imports
    nothing and raises ImportFailed with one "line N: reason" per problem (N counts the header as line 1)."""
    mapping = load_mapping(mapping_path)
    columns = {f: f for f in FIELDS} | {k: str(v).lower() for k, v in mapping.get("columns", {}).items()}
    unknown = set(columns) - set(FIELDS)
    if unknown:
        raise ImportFailed(
            [f"mapping: unknown field(s) {', '.join(sorted(unknown))}; known: {', '.join(FIELDS)}"]
        )
    rows = read_rows(path)
    if len(rows) > MAX_ROWS:
        raise ImportFailed([f"{path.name}: {len(rows)} rows; at most {MAX_ROWS} per file"])
    missing = [columns[f] for f in REQUIRED if rows and columns[f] not in rows[0]]
    if missing or not rows:
        raise ImportFailed([f"{path.name}: missing column(s) {', '.join(missing) or 'and rows'}"])
    matcher = UnitMatcher(session, {str(k): str(v) for k, v in mapping.get("units", {}).items()})
    problems: list[str] = []
    grouped: dict[tuple[str, int], dict[str, Any]] = {}
    for line, row in enumerate(rows, start=2):
        get = {f: row.get(columns[f], "") for f in FIELDS}
        reasons = [f"{f} is empty" for f in ("question", "answer", "unit") if not get[f]]
        unit_id, why = matcher.match(get["unit"]) if get["unit"] else (None, "")
        if why:
            reasons.append(why)
        try:
            valid = (_date(get["valid_from"]), _date(get["valid_until"]))
        except ValueError:
            reasons.append("valid_from / valid_until must be dates YYYY-MM-DD")
            valid = (None, None)
        if reasons or unit_id is None:
            problems.append(f"line {line}: {'; '.join(reasons)}")
            continue
        entry = grouped.setdefault(
            (get["answer"], unit_id),
            {"questions": [], "line": line, "row": get, "valid": valid, "unit_id": unit_id},
        )
        entry["questions"].append(get["question"])
    articles: list[tuple[int, service.ArticleInput]] = []
    for entry in grouped.values():
        get = entry["row"]
        data = service.ArticleInput(
            questions=entry["questions"],
            answer=get["answer"],
            unit_id=entry["unit_id"],
            category_code=get["category"] or None,
            keywords=tuple(k for k in _KEYWORD_SPLIT.split(get["keywords"]) if k),
            valid_from=entry["valid"][0],
            valid_until=entry["valid"][1],
            source=get["source"] or path.name,
        )
        try:
            service.clean(session, data)
        except ChengzhiError as error:
            problems.append(f"line {entry['line']}: {error.code} {error.params}")
        articles.append((entry["line"], data))
    if problems:
        raise ImportFailed(problems)
    if dry_run:
        return {"rows": len(rows), "articles": len(articles), "imported": 0, "dry_run": True}
    created = []
    for _, data in articles:
        article = service.create_article(session, ANONYMOUS, data, action="imported", check=False)
        if publish:
            service.set_status_unchecked(session, article, ArticleStatus.published)
        created.append(article.id)
    return {"rows": len(rows), "articles": len(created), "imported": len(created), "published": publish}
