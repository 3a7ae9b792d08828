"""What a `package_search` page costs no matter how deep it is: the count, the facets and the place of every
1,000th dataset in the order asked for are computed once per state of the catalogue and kept in memory; a deep page
then starts from the nearest such bookmark (a keyset seek) instead of walking `start` rows.

The state of the catalogue is its last version (`od_dataset_versions`: every creation, edit, resource change,
publication and withdrawal writes one, and only these change what a search finds or its order), read with one
index lookup per search; with the database's address, it keys everything kept. A search whose conditions depend on
the time (`NOW` in a range) compiles to new values each time and so is never served from memory.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, FromClause, Select, and_, func, or_, select, tuple_
from sqlalchemy.orm import Session

from chengzhi.opendata.models import Dataset, DatasetVersion

STEP = 1000  # a bookmark every STEP datasets
MAX_ENTRIES = 512
T = TypeVar("T")

_lock = threading.Lock()
_kept: OrderedDict[tuple[Any, ...], Any] = OrderedDict()


def state(session: Session) -> tuple[Any, ...]:
    """The catalogue's state: its database and last version (id and dataset: ids repeat across test databases)."""
    last = session.execute(
        select(DatasetVersion.id, DatasetVersion.dataset_id).order_by(DatasetVersion.id.desc()).limit(1)
    ).first()
    bind = session.get_bind()
    url = bind.engine.url
    return (str(url), *(tuple(last) if last else (None, None)))


def _statement_key(session: Session, statement: Select[Any]) -> tuple[Any, ...]:
    compiled = statement.compile(dialect=session.get_bind().dialect)
    return (compiled.string, tuple(sorted((k, repr(v)) for k, v in compiled.params.items())))


_MISSING = object()


def known(session: Session, catalogue: tuple[Any, ...], what: str, statement: Select[Any]) -> tuple[Any, Any]:
    """The key of this value and the value kept under it, or None."""
    key = (catalogue, what, *_statement_key(session, statement))
    with _lock:
        value = _kept.get(key, _MISSING)
        if value is not _MISSING:
            _kept.move_to_end(key)
            return key, value
    return key, None


def keep(key: Any, value: Any) -> None:
    with _lock:
        _kept[key] = value
        while len(_kept) > MAX_ENTRIES:
            _kept.popitem(last=False)


def kept(
    session: Session, catalogue: tuple[Any, ...], what: str, statement: Select[Any], make: Callable[[], T]
) -> T:
    """`make()`'s value for this statement in this state of the catalogue, computed once."""
    key, value = known(session, catalogue, what, statement)
    if value is None:
        value = make()
        keep(key, value)
    made: T = value
    return made


def clear() -> None:
    with _lock:
        _kept.clear()


def _columns(order: Sequence[Any]) -> list[tuple[Any, bool]]:
    """(column, descending) of each ORDER BY term."""
    out = []
    for term in order:
        modifier = getattr(term, "modifier", None)
        name = getattr(modifier, "__name__", "")
        element = getattr(term, "element", term)
        out.append((element, name == "desc_op"))
    return out


def from_bookmark(order: Sequence[Any], values: Sequence[Any]) -> ColumnElement[bool]:
    """The rows at or after the bookmark's in this order (keys end with the unique id)."""
    columns = _columns(order)
    directions = {descending for _, descending in columns}
    if len(directions) == 1:
        left = tuple_(*(c for c, _ in columns))
        right = tuple_(*values)
        return left <= right if directions.pop() else left >= right
    condition: ColumnElement[bool] | None = None
    for (column, descending), value in reversed(list(zip(columns, values, strict=True))):
        if condition is None:
            condition = column <= value if descending else column >= value
        else:
            after = column < value if descending else column > value
            condition = or_(after, and_(column == value, condition))
    assert condition is not None
    return condition


def counted_page(
    session: Session,
    where: Sequence[Any],
    order: Sequence[Any],
    start: int,
    rows: int,
    *,
    source: FromClause | None = None,
    ident: Any = Dataset.id,
) -> tuple[list[str], int | None]:
    """A first page (`start` < STEP) and the count of all the rows it was chosen from, in one query: for a ranked
    search, whose page scores every match anyway, this saves a second scan for the count. The count is None when
    the page is empty (it cannot be read from no row)."""
    query = select(ident, func.count().over()).where(*where).order_by(*order).offset(start).limit(rows)
    if source is not None:
        query = query.select_from(source)
    found = session.execute(query).all()
    return [row[0] for row in found], (int(found[0][1]) if found else None)


def page_ids(
    session: Session,
    catalogue: tuple[Any, ...],
    where: Sequence[Any],
    order: Sequence[Any],
    start: int,
    rows: int,
    *,
    source: FromClause | None = None,
    ident: Any = Dataset.id,
) -> list[str]:
    """The ids of the page: from the nearest bookmark at or before `start`, at most STEP - 1 rows walked.
    `source`: what to select from when the order needs more than the datasets (SQLite's ranked search rows);
    `ident`: the id column of what the conditions read (PostgreSQL's ranked search reads od_search_rows)."""
    base = select(ident).where(*where).order_by(*order)
    if source is not None:
        base = base.select_from(source)
    if start < STEP:
        return list(session.scalars(base.offset(start).limit(rows)))
    keys = [c for c, _ in _columns(order)]

    def bookmarks() -> list[tuple[Any, ...]]:
        numbered_rows = select(*keys, func.row_number().over(order_by=list(order)).label("n")).where(*where)
        if source is not None:
            numbered_rows = numbered_rows.select_from(source)
        numbered = numbered_rows.subquery()
        marks = select(*(numbered.c[i] for i in range(len(keys)))).where((numbered.c.n - 1) % STEP == 0)
        return [tuple(r) for r in session.execute(marks.order_by(numbered.c.n))]

    marks = kept(session, catalogue, "bookmarks", base, bookmarks)
    index = start // STEP
    if index >= len(marks):
        return []
    seek = base.where(from_bookmark(order, marks[index])).offset(start - index * STEP).limit(rows)
    return list(session.scalars(seek))
