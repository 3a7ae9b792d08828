"""Rankings of units by their composite score, and the top categories with their change against the span
before."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from chengzhi.categories.service import categories_by_id
from chengzhi.i18n import N_, gettext
from chengzhi.metrics.measures import MEASURES
from chengzhi.metrics.models import metric_daily
from chengzhi.metrics.rates import Row, table
from chengzhi.metrics.scope import Scope, fresh, level_column, use_daily, where, where_daily
from chengzhi.org import queries as org_queries
from chengzhi.org.models import Unit, UnitKind

RANKING_MEASURES = (
    "received",
    "response_numerator",
    "response_denominator",
    "follow_up_denominator",
    "resolution_numerator",
    "satisfaction_numerator",
    "overdue",
    "open",
)


def _ranking_sums(session: Session, scope: Scope) -> list[tuple[tuple[Any, Any, Any], dict[str, int]]]:
    """metric_daily summed per (level 2, 3, 4 unit) once per scope and session: every ranking of the page reads it."""
    memo: dict[Any, Any] = session.info.setdefault("metrics_ranking_sums", {})
    key = (scope.unit.id, scope.start, scope.end)
    if key not in memo:
        fresh(session)
        D = metric_daily.c
        query = (
            select(
                D.lead_l2, D.lead_l3, D.lead_l4, *[func.sum(D[f"n_{m}"]).label(m) for m in RANKING_MEASURES]
            )
            .where(*where_daily(scope))
            .group_by(D.lead_l2, D.lead_l3, D.lead_l4)
        )
        memo[key] = [
            ((r.lead_l2, r.lead_l3, r.lead_l4), {m: int(r._mapping[m] or 0) for m in RANKING_MEASURES})
            for r in session.execute(query)
        ]
    result: list[tuple[tuple[Any, Any, Any], dict[str, int]]] = memo[key]
    return result


def ranking(
    session: Session,
    scope: Scope,
    kind: UnitKind,
    weights: dict[str, float],
    lang: str = "zh",
    *,
    daily: bool | None = None,
) -> list[tuple[Unit, Row]]:
    """Units of one kind in the scope's subtree, best composite score first (units without one last)."""
    units = org_queries.active_units_under(session, scope.unit.path, kind)
    by_depth: dict[int, dict[int, Unit]] = {}
    for unit in units:
        by_depth.setdefault(unit.path.strip("/").count("/") + 1, {})[unit.id] = unit
    ranked: list[tuple[Unit, Row]] = []
    if daily is None:
        daily = use_daily(scope)
    sums = _ranking_sums(session, scope) if daily else None
    for depth, members in sorted(by_depth.items()):
        column = level_column(depth)
        if column is None:
            continue
        if sums is not None:
            found: dict[Any, dict[str, int]] = {}
            for levels, counts in sums:
                unit_id = levels[depth - 2] if depth >= 2 else None
                if unit_id in members:
                    into = found.setdefault(unit_id, dict.fromkeys(RANKING_MEASURES, 0))
                    for m in RANKING_MEASURES:
                        into[m] += counts[m]
        else:
            query = (
                select(
                    column.label("key"),
                    *[func.sum(case((MEASURES[m], 1), else_=0)).label(m) for m in RANKING_MEASURES],
                )
                .where(*where(scope), column.in_(list(members)))
                .group_by(column)
            )
            found = {
                r["key"]: {m: int(r[m] or 0) for m in RANKING_MEASURES}
                for r in session.execute(query).mappings()
            }
        for unit_id, unit in members.items():
            counts = found.get(unit_id) or dict.fromkeys(RANKING_MEASURES, 0)
            ranked.append((unit, Row(key=unit_id, label=unit.name(lang), counts=dict(counts))))

    def order(item: tuple[Unit, Row]) -> tuple[int, float, int]:
        score = item[1].composite(weights)
        return (score is None, -(score or 0.0), -item[1].counts["received"])

    ranked.sort(key=order)
    return ranked


# ---------------------------------------------------------------- top categories and their change


@dataclass
class CategoryChange:
    category_id: int | None
    label: str
    code: str | None
    now: int
    before: int

    @property
    def change(self) -> float | None:
        return (self.now - self.before) / self.before if self.before else None


def top_categories(session: Session, scope: Scope, limit: int = 10, lang: str = "zh") -> list[CategoryChange]:
    """The categories with most requests in the span, against the span of the same length just before it."""
    days = (scope.end - scope.start).days + 1
    before = Scope(
        scope.unit,
        scope.start - dt.timedelta(days=days),
        scope.start - dt.timedelta(days=1),
        scope.category_id,
        scope.category_code,
        scope.channel,
    )
    now_counts = {r.key: r.counts["received"] for r in table(session, scope, "category", ["received"])}
    before_counts = {r.key: r.counts["received"] for r in table(session, before, "category", ["received"])}
    rows = [(k, now_counts.get(k, 0), before_counts.get(k, 0)) for k in {*now_counts, *before_counts}]
    rows.sort(key=lambda r: (-r[1], -r[2], r[0] or 0))
    rows = [r for r in rows if r[1] or r[2]][:limit]
    ids = [r[0] for r in rows if r[0] is not None]
    cats = categories_by_id(session, ids)
    out = []
    for cid, now, prev in rows:
        cat = cats.get(cid) if cid is not None else None
        label = cat.name(lang) if cat else gettext(lang, N_("unclassified"))
        out.append(CategoryChange(cid, label, cat.code if cat else None, now, prev))
    return out


# ---------------------------------------------------------------- the map
