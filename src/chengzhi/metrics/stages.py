"""Stage times: the 90th percentile of the seconds spent in each stage, exact from the facts or from the summed
stage-time histograms (metric_stage_hist) over long spans."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from chengzhi.metrics.measures import STAGE_COLUMNS, STAGES
from chengzhi.metrics.models import HIST_ALL_CHANNELS, HIST_COLUMNS, metric_stage_hist
from chengzhi.metrics.rollup import bucket_value
from chengzhi.metrics.scope import Scope, fresh, where


def use_histograms(scope: Scope) -> bool:
    """metric_stage_hist answers for the city and level-2 units (districts, city departments), of all channels or
    one, without a category filter."""
    return scope.depth <= 2 and scope.category_id is None


def hist_spans(start: dt.date, end: dt.date) -> ColumnElement[bool]:
    """metric_stage_hist rows covering start..end exactly: the months wholly inside it, the days outside them."""
    H = metric_stage_hist.c
    first_full = start if start.day == 1 else (start.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    after_end = end + dt.timedelta(days=1)
    last_full = (after_end.replace(day=1) - dt.timedelta(days=1)).replace(day=1)  # first day of the month
    if first_full > last_full:
        return and_(H.grain == "d", H.day >= start, H.day <= end)
    last_full_end = (last_full + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    return or_(
        and_(H.grain == "m", H.day >= first_full, H.day <= last_full),
        and_(H.grain == "d", H.day >= start, H.day < first_full),
        and_(H.grain == "d", H.day > last_full_end, H.day <= end),
    )


def percentile_90(session: Session, scope: Scope, *, exact: bool | None = None) -> dict[str, float | None]:
    """The 90th percentile (nearest rank: the ceil(0.9 n)-th smallest value) of the seconds in each stage.

    For the city and level-2 units without filters (`exact` unset) it is read from the summed stage-time
    histograms: the bucket holding the nearest-rank value is exact, the value reported is that bucket's geometric
    middle (within 4.4 %; docs/metrics.md). Otherwise, or with `exact=True`, it is computed from the facts."""
    if exact is None:
        exact = not use_histograms(scope)
    if not exact:
        return _percentile_90_histograms(session, scope)
    clauses = where(scope)
    out: dict[str, float | None] = {}
    if session.get_bind().dialect.name == "postgresql":
        columns = [func.percentile_disc(0.9).within_group(STAGE_COLUMNS[s]).label(s) for s in STAGES]
        row = session.execute(select(*columns).where(*clauses)).mappings().one()
        return {s: (float(row[s]) if row[s] is not None else None) for s in STAGES}
    # SQLite has no percentile function and sorts each ORDER BY ... OFFSET in a temporary b-tree: one pass that
    # reads the five columns, then five sorts in memory, is several times faster.
    values: dict[str, list[float]] = {s: [] for s in STAGES}
    found_rows: list[Any] = list(session.execute(select(*[STAGE_COLUMNS[s] for s in STAGES]).where(*clauses)))
    for found_row in found_rows:
        for stage, seconds in zip(STAGES, found_row, strict=True):
            if seconds is not None:
                values[stage].append(float(seconds))
    for stage, found in values.items():
        found.sort()
        out[stage] = found[math.ceil(0.9 * len(found)) - 1] if found else None
    return out


def _percentile_90_histograms(session: Session, scope: Scope) -> dict[str, float | None]:
    fresh(session)
    H = metric_stage_hist.c
    unit = (
        or_(H.lead_l1 == scope.unit.id, H.lead_l1.is_(None))
        if scope.depth == 1
        else H.lead_l2_key == scope.unit.id
    )
    query = (
        select(H.stage, *[func.sum(H[name]) for name in HIST_COLUMNS])
        .where(hist_spans(scope.start, scope.end), unit, H.channel == (scope.channel or HIST_ALL_CHANNELS))
        .group_by(H.stage)
    )
    out: dict[str, float | None] = dict.fromkeys(STAGES)
    for stage, *counts in session.execute(query):
        n = sum(int(c or 0) for c in counts)
        if not n or stage not in out:
            continue
        rank, seen = math.ceil(0.9 * n), 0
        for bucket, count in enumerate(counts):
            seen += int(count or 0)
            if seen >= rank:
                out[stage] = bucket_value(bucket)
                break
    return out
