"""The table of counts behind the three rates: one row per group (unit, category, channel, day, week, month) of
every measure, the stage-time averages and the scope's totals, from the smallest table that can answer.

Every count is `SUM(CASE WHEN <measure> ...)` over `request_facts` (or the daily roll-ups' sums of the same), and
the drill-down list (drill.py) filters the same table by the same `<measure>`: a number and its list cannot
disagree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, func, literal, select
from sqlalchemy.orm import Session

from chengzhi.categories.service import categories_by_id
from chengzhi.errors import Invalid
from chengzhi.i18n import N_, gettext
from chengzhi.metrics.measures import MEASURES, STAGE_COLUMNS, STAGES
from chengzhi.metrics.models import RequestFact as F
from chengzhi.metrics.models import metric_daily, metric_daily_cat
from chengzhi.metrics.scope import (
    GROUPS,
    Scope,
    fresh,
    level_column,
    use_daily,
    use_daily_cat,
    where,
    where_daily,
    where_daily_cat,
)
from chengzhi.org import queries as org_queries

DEFAULT_WEIGHTS = {"response": 30.0, "resolution": 35.0, "satisfaction": 35.0}


@dataclass
class Row:
    key: Any
    label: str
    counts: dict[str, int]
    stage_avg: dict[str, float | None] = field(default_factory=dict)
    stage_n: dict[str, int] = field(default_factory=dict)
    returns: int = 0
    reopenings: int = 0

    def rate(self, numerator: str, denominator: str) -> float | None:
        den = self.counts.get(denominator, 0)
        return self.counts.get(numerator, 0) / den if den else None

    @property
    def response_rate(self) -> float | None:
        return self.rate("response_numerator", "response_denominator")

    @property
    def resolution_rate(self) -> float | None:
        return self.rate("resolution_numerator", "follow_up_denominator")

    @property
    def satisfaction_rate(self) -> float | None:
        return self.rate("satisfaction_numerator", "follow_up_denominator")

    def composite(self, weights: dict[str, float]) -> float | None:
        rates = {
            "response": self.response_rate,
            "resolution": self.resolution_rate,
            "satisfaction": self.satisfaction_rate,
        }
        total = sum(weights.get(k, 0.0) for k in rates)
        if total <= 0 or any(v is None for v in rates.values()):
            return None
        return 100.0 * sum(weights.get(k, 0.0) * (v or 0.0) for k, v in rates.items()) / total


TABLE_MEASURES = tuple(MEASURES)


def group_key(scope: Scope, group_by: str) -> Any:
    if group_by == "unit":
        child = level_column(scope.depth + 1)
        own = level_column(scope.depth)
        if child is None or own is None:
            return F.lead_unit_id
        return func.coalesce(child, own)
    return {
        "none": literal("all"),
        "category": F.category_id,
        "channel": F.channel,
        "day": F.received_day,
        "week": F.received_week,
        "month": F.received_month,
    }[group_by]


def table(
    session: Session,
    scope: Scope,
    group_by: str = "none",
    measures: Sequence[str] = TABLE_MEASURES,
    lang: str = "zh",
    *,
    source: str | None = None,
) -> list[Row]:
    """One row of counts per group, from the smallest table that can answer: metric_daily, metric_daily_cat or
    request_facts (`source` = "lead", "cat" or "facts" forces one)."""
    if group_by not in GROUPS:
        raise Invalid("validation_failed", details=f"group_by: one of {', '.join(GROUPS)}")
    if source is None:
        source = (
            "lead" if use_daily(scope, group_by) else ("cat" if use_daily_cat(scope, group_by) else "facts")
        )
    if source in ("lead", "cat"):
        return _table_daily(session, scope, group_by, measures, lang, source)
    key = group_key(scope, group_by).label("key")
    columns: list[Any] = [key]
    columns += [func.sum(case((MEASURES[m], 1), else_=0)).label(m) for m in measures]
    columns += [func.avg(STAGE_COLUMNS[s]).label(f"avg_{s}") for s in STAGES]
    columns += [func.count(STAGE_COLUMNS[s]).label(f"cnt_{s}") for s in STAGES]
    columns += [func.sum(F.returns).label("returns_sum"), func.sum(F.reopenings).label("reopenings_sum")]
    query = select(*columns).where(*where(scope)).group_by(key)
    rows = []
    for r in session.execute(query).mappings():
        rows.append(
            Row(
                key=r["key"],
                label="",
                counts={m: int(r[m] or 0) for m in measures},
                stage_avg={s: (float(r[f"avg_{s}"]) if r[f"avg_{s}"] is not None else None) for s in STAGES},
                stage_n={s: int(r[f"cnt_{s}"] or 0) for s in STAGES},
                returns=int(r["returns_sum"] or 0),
                reopenings=int(r["reopenings_sum"] or 0),
            )
        )
    label_rows(session, scope, group_by, rows, lang)
    if group_by in ("day", "week", "month"):
        rows.sort(key=lambda row: row.key)
    else:
        rows.sort(key=lambda row: -row.counts.get("received", 0))
    return rows


def _table_daily(
    session: Session, scope: Scope, group_by: str, measures: Sequence[str], lang: str, source: str = "lead"
) -> list[Row]:
    """`table` from a daily roll-up: the same sums, from one row per day and lead unit (or category, channel and
    district) instead of one per request."""
    fresh(session)
    D = metric_daily.c if source == "lead" else metric_daily_cat.c
    clauses = where_daily(scope) if source == "lead" else where_daily_cat(scope)
    key: Any
    if source == "cat":
        key = {
            "none": literal("all"),
            "category": D.category_key,
            "channel": D.channel,
            "unit": D.lead_l2_key,
        }.get(group_by, D.day)
    elif group_by == "unit":
        child = {1: D.lead_l2, 2: D.lead_l3, 3: D.lead_l4}.get(scope.depth)
        own = {1: D.lead_l1, 2: D.lead_l2, 3: D.lead_l3, 4: D.lead_l4}.get(scope.depth)
        key = func.coalesce(child, own) if child is not None and own is not None else D.lead_key
    elif group_by == "none":
        key = literal("all")
    else:
        key = D.day
    key = key.label("key")
    columns: list[Any] = [key]
    columns += [func.sum(D[f"n_{m}"]).label(m) for m in measures]
    columns += [func.sum(D[f"sum_{s}_s"]).label(f"sum_{s}") for s in STAGES]
    columns += [func.sum(D[f"cnt_{s}"]).label(f"cnt_{s}") for s in STAGES]
    columns += [
        func.sum(D.returns_sum).label("returns_sum"),
        func.sum(D.reopenings_sum).label("reopenings_sum"),
    ]
    query = select(*columns).where(*clauses).group_by(key)
    merged: dict[Any, dict[str, float]] = {}
    for r in session.execute(query).mappings():
        k = r["key"]
        if group_by == "week":
            k = k - dt.timedelta(days=k.weekday())
        elif group_by == "month":
            k = k.replace(day=1)
        bucket = merged.setdefault(k, {})
        for name in (
            *measures,
            *[f"sum_{s}" for s in STAGES],
            *[f"cnt_{s}" for s in STAGES],
            "returns_sum",
            "reopenings_sum",
        ):
            bucket[name] = bucket.get(name, 0) + float(r[name] or 0)
    rows = []
    for k, b in merged.items():
        if group_by in ("unit", "category") and k == 0:
            k = None
        rows.append(
            Row(
                key=k,
                label="",
                counts={m: int(b.get(m, 0)) for m in measures},
                stage_avg={s: (b[f"sum_{s}"] / b[f"cnt_{s}"] if b.get(f"cnt_{s}") else None) for s in STAGES},
                stage_n={s: int(b.get(f"cnt_{s}", 0)) for s in STAGES},
                returns=int(b.get("returns_sum", 0)),
                reopenings=int(b.get("reopenings_sum", 0)),
            )
        )
    label_rows(session, scope, group_by, rows, lang)
    if group_by in ("day", "week", "month"):
        rows.sort(key=lambda row: row.key)
    else:
        rows.sort(key=lambda row: -row.counts.get("received", 0))
    return rows


def label_rows(session: Session, scope: Scope, group_by: str, rows: list[Row], lang: str) -> None:
    if group_by == "unit":
        ids = [r.key for r in rows if r.key is not None]
        names = {u.id: u.name(lang) for u in org_queries.units_by_id(session, ids).values()}
        for r in rows:
            r.label = (
                names.get(r.key, str(r.key)) if r.key is not None else gettext(lang, N_("not dispatched"))
            )
    elif group_by == "category":
        ids = [r.key for r in rows if r.key is not None]
        cats = categories_by_id(session, ids)
        for r in rows:
            r.label = cats[r.key].name(lang) if r.key in cats else gettext(lang, N_("unclassified"))
    elif group_by == "none":
        for r in rows:
            r.label = scope.unit.name(lang)
    else:
        for r in rows:
            r.label = r.key.isoformat() if isinstance(r.key, dt.date) else str(r.key)


def totals(session: Session, scope: Scope, lang: str = "zh", rows: Sequence[Row] | None = None) -> Row:
    """The scope's total: summed from `rows` (any grouping of the same scope, which partitions it) or queried."""
    if rows is None:
        rows = table(session, scope, "none", lang=lang)
    total = Row(key="all", label=scope.unit.name(lang), counts=dict.fromkeys(TABLE_MEASURES, 0))
    weighted = dict.fromkeys(STAGES, 0.0)
    total.stage_n = dict.fromkeys(STAGES, 0)
    for row in rows:
        for m, v in row.counts.items():
            total.counts[m] = total.counts.get(m, 0) + v
        total.returns += row.returns
        total.reopenings += row.reopenings
        for s in STAGES:
            n = row.stage_n.get(s, 0)
            if n and row.stage_avg.get(s) is not None:
                weighted[s] += float(row.stage_avg[s] or 0.0) * n
                total.stage_n[s] += n
    total.stage_avg = {s: (weighted[s] / total.stage_n[s] if total.stage_n[s] else None) for s in STAGES}
    return total
