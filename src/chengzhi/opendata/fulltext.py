"""`q` of `package_search` over the full-text index of the datasets (migration 0045), ranked by relevance.

The text is stored cut into words (`words.index_text`), in two parts: the name, titles and tags (`search_title`),
and the description (`search_text`). Every word of the query must occur, as a word or the start of one (公交 finds
公交线路; a quoted phrase's words in a row).

- PostgreSQL: `search_vector @@ to_tsquery('simple', 'w1:* & w2:*')` (GIN index), ranked by `ts_rank` with the
  title's words weighing A (1.0) and the description's D (0.1), divided by 1 + log(length).
- SQLite with FTS5: `od_search_fts MATCH '"w1"* AND "w2"*'`, ranked by FTS5's BM25 with the title column weighing 4
  and the description 1.
- SQLite without FTS5 (the fallback): a `LIKE` per word over the two columns, every word required, no ranking
  (the results keep the default order).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Double,
    FromClause,
    and_,
    cast,
    column,
    func,
    literal_column,
    or_,
    select,
    table,
    text,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql import visitors

from chengzhi.opendata.models import SEARCH_FTS, Dataset, SearchRow

Terms = list[tuple[str, ...]]

_fts = table(SEARCH_FTS, column("dataset_id"))
_lock = threading.Lock()
_has_fts: dict[str, bool] = {}


@dataclass
class Match:
    """The condition a dataset must meet, its relevance (higher is better; None: no ranking), and what to join
    to read it (SQLite's ranked FTS5 rows)."""

    condition: ColumnElement[bool]
    score: Any = None
    join: FromClause | None = None


def backend(session: Session) -> str:
    """ "postgresql", "fts5" (SQLite with the FTS5 table) or "like" (SQLite without it)."""
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        return "postgresql"
    key = str(bind.engine.url)
    with _lock:
        known = _has_fts.get(key)
    if known is None:
        known = (
            session.scalar(
                text("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = :name"),
                {"name": SEARCH_FTS},
            )
            == 1
        )
        with _lock:
            _has_fts[key] = known
    return "fts5" if known else "like"


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def match(session: Session, terms: Terms) -> Match:
    """The datasets whose text has every term (`terms` are safe words: letters and digits, see words.py)."""
    kind = backend(session)
    if kind == "postgresql":
        query = " & ".join(f"{t[0]}:*" if len(t) == 1 else " <-> ".join(t) for t in terms)
        tsquery = func.to_tsquery(literal_column("'simple'::regconfig"), query)
        condition = Dataset.search_vector.op("@@")(tsquery)
        # In double precision: a `real` read back as text loses digits, and deep pages' bookmarks compare exactly.
        return Match(condition, cast(func.ts_rank(Dataset.search_vector, tsquery, 1), Double))
    if kind == "fts5":
        query = " AND ".join(f'"{t[0]}"*' if len(t) == 1 else '"' + " ".join(t) + '"' for t in terms)
        found = literal_column(SEARCH_FTS).match(query)
        ranked = (
            select(_fts.c.dataset_id, (-func.bm25(literal_column(SEARCH_FTS), 0.0, 4.0, 1.0)).label("score"))
            .where(found)
            .subquery("ranked")
        )
        condition = Dataset.id.in_(select(_fts.c.dataset_id).where(found))
        return Match(condition, ranked.c.score, ranked.join(Dataset, ranked.c.dataset_id == Dataset.id))
    conditions = []
    for term in terms:
        pattern = f"%{_escape_like(' '.join(term))}%"
        conditions.append(
            or_(
                Dataset.search_title.like(pattern, escape="\\"),
                Dataset.search_text.like(pattern, escape="\\"),
            )
        )
    return Match(and_(*conditions))


_WIDE = Dataset.__table__
_ROWS = SearchRow.__table__
# The columns of od_datasets that od_search_rows copies (migration 0051), by name.
_NARROW = {
    "id": _ROWS.c.dataset_id,
    "status": _ROWS.c.status,
    "open_level": _ROWS.c.open_level,
    "unit_id": _ROWS.c.unit_id,
    "modified_at": _ROWS.c.modified_at,
    "search_vector": _ROWS.c.search_vector,
}
NARROW_ID = _ROWS.c.dataset_id


def _reads_wide(clause: Any) -> bool:
    return any(getattr(element, "table", None) is _WIDE for element in visitors.iterate(clause))


def narrowed(clauses: list[Any]) -> list[Any] | None:
    """These conditions (or ORDER BY terms) reading `od_search_rows` instead of `od_datasets` (PostgreSQL's ranked
    search: scoring every match then reads the narrow table only), or None when one reads a column the narrow
    table does not have (the search then reads the datasets)."""

    def swap(element: Any, **_: Any) -> Any:
        if getattr(element, "table", None) is _WIDE and isinstance(element, ColumnElement):
            return _NARROW.get(getattr(element, "name", ""))
        return None

    out = [visitors.replacement_traverse(clause, {}, swap) for clause in clauses]
    return None if any(_reads_wide(clause) for clause in out) else out
