"""The drill-down list: the requests a figure counts (the scope, the measure and the row's key), a page at a
time (keyset by request id) or streamed for exports, and the figure itself to show above the list."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from chengzhi.errors import Invalid
from chengzhi.metrics.measures import MEASURES
from chengzhi.metrics.models import RequestFact as F
from chengzhi.metrics.rates import group_key, table
from chengzhi.metrics.scope import GROUPS, Scope, parse_date, where
from chengzhi.requests import queries as requests_queries


def drill_query(scope: Scope, measure: str, group_by: str = "none", key: str | None = None) -> Select[Any]:
    """The ids of the requests a figure counts (request_facts: the scope, the measure and, for a table row, the
    row's key): `drill_page` and `stream` read their lines, `drill_count` counts them."""
    if measure not in MEASURES:
        raise Invalid("validation_failed", details=f"measure: one of {', '.join(MEASURES)}")
    if group_by not in GROUPS:
        raise Invalid("validation_failed", details=f"group_by: one of {', '.join(GROUPS)}")
    clauses = [*where(scope), MEASURES[measure]]
    if group_by != "none" and key is not None:
        column = group_key(scope, group_by)
        if key == "":
            clauses.append(column.is_(None))
        elif group_by in ("day", "week", "month"):
            clauses.append(column == parse_date(key, "key"))
        elif group_by == "channel":
            clauses.append(column == key[:20])
        else:
            if not (key.isascii() and key.isdigit() and len(key) < 10):
                raise Invalid("validation_failed", details="key: an id is expected")
            clauses.append(column == int(key))
    return select(F.request_id).where(*clauses)


def drill_page(session: Session, query: Select[Any], before: int | None = None, limit: int = 50) -> list[Any]:
    """Up to limit + 1 requests of a drill-down list (the one more tells that a next page exists), newest id
    first, below `before`: each row has the requests domain's summary columns (`requests.queries.summary_page`)."""
    return requests_queries.summary_page(session, query, before, limit + 1)


def drill_count(session: Session, query: Select[Any]) -> int:
    return int(session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0)


def stream(session: Session, query: Select[Any], chunk: int = 2000) -> Iterator[Any]:
    """Every row of a drill-down list, in chunks (keyset by id), for exports."""
    before: int | None = None
    while True:
        rows = drill_page(session, query, before, chunk)[:chunk]
        yield from rows
        if len(rows) < chunk:
            return
        before = rows[-1].id


def in_area(query: Select[Any], unit_id: int) -> Select[Any]:
    """Only the requests whose point lies in this district, street or community."""
    return query.where(
        or_(F.area_district_id == unit_id, F.area_street_id == unit_id, F.area_community_id == unit_id)
    )


def figure_count(
    session: Session, scope: Scope, measure: str, group_by: str = "none", key: str | None = None
) -> int:
    """How many requests a drill-down lists: the figure itself, from the same table the dashboard shows."""
    rows = table(session, scope, group_by if key is not None else "none", [measure])
    if group_by == "none" or key is None:
        return sum(r.counts.get(measure, 0) for r in rows)
    for row in rows:
        shown = (
            ""
            if row.key is None
            else (row.key.isoformat() if hasattr(row.key, "isoformat") else str(row.key))
        )
        if shown == key:
            return row.counts.get(measure, 0)
    return 0


# ---------------------------------------------------------------- exclusions
