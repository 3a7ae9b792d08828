"""Queries behind every dashboard figure: one table of counts for any grouping, stage times, rankings, top
categories, the map, and the drill-down list of the requests behind a number.

Every count is `SUM(CASE WHEN <measure> ...)` over `request_facts`, and the drill-down list filters the same table
by the same `<measure>`: a number and its list cannot disagree.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Engine, Select, and_, case, func, literal, or_, select
from sqlalchemy.orm import Session, undefer

from chengzhi.categories.models import Category
from chengzhi.errors import Forbidden, Invalid, NotFound
from chengzhi.metrics.measures import MEASURES, STAGE_COLUMNS, STAGES
from chengzhi.metrics.models import (
    HIST_ALL_CHANNELS,
    HIST_COLUMNS,
    metric_daily,
    metric_daily_cat,
    metric_stage_hist,
)
from chengzhi.metrics.models import RequestFact as F
from chengzhi.metrics.rollup import bucket_value, catch_up
from chengzhi.org.models import Role, Unit, UnitKind
from chengzhi.org.service import Actor
from chengzhi.requests.models import Request

# Leaders and analysts read the dashboards; supervisors (who follow overdue requests) and administrators too.
DASHBOARD_ROLES = (Role.leader, Role.analyst, Role.supervisor, Role.admin)
GROUPS = ("none", "unit", "category", "channel", "day", "week", "month")
MAX_DAYS = 3660
DEFAULT_WEIGHTS = {"response": 30.0, "resolution": 35.0, "satisfaction": 35.0}


@dataclass
class Scope:
    """What a dashboard question is about: a unit's subtree, a span of received days, optional filters."""

    unit: Unit
    start: dt.date
    end: dt.date  # inclusive
    category_id: int | None = None
    category_code: str | None = None
    channel: str | None = None

    @property
    def depth(self) -> int:
        return self.unit.path.strip("/").count("/") + 1

    def params(self) -> dict[str, str]:
        out = {"unit": str(self.unit.id), "start": self.start.isoformat(), "end": self.end.isoformat()}
        if self.category_code:
            out["category"] = self.category_code
        if self.channel:
            out["channel"] = self.channel
        return out


def _level(depth: int) -> Any:
    return {1: F.lead_l1, 2: F.lead_l2, 3: F.lead_l3, 4: F.lead_l4}.get(depth)


def where(scope: Scope) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = [F.received_day >= scope.start, F.received_day <= scope.end]
    column = _level(scope.depth)
    if scope.depth == 1:
        # The city: its requests, including those not dispatched yet (no lead unit).
        clauses.append(or_(F.lead_l1 == scope.unit.id, F.lead_l1.is_(None)))
    elif column is not None:
        clauses.append(column == scope.unit.id)
    else:
        clauses.append(F.lead_unit_id == scope.unit.id)
    if scope.category_id is not None:
        clauses.append(F.category_id == scope.category_id)
    if scope.channel:
        clauses.append(F.channel == scope.channel)
    return clauses


def where_daily(scope: Scope) -> list[ColumnElement[bool]]:
    """The same scope on metric_daily (which has no category or channel: callers check `use_daily`)."""
    D = metric_daily.c
    clauses: list[ColumnElement[bool]] = [D.day >= scope.start, D.day <= scope.end]
    column = {1: D.lead_l1, 2: D.lead_l2, 3: D.lead_l3, 4: D.lead_l4}.get(scope.depth)
    if scope.depth == 1:
        clauses.append(or_(D.lead_l1 == scope.unit.id, D.lead_l1.is_(None)))
    elif column is not None:
        clauses.append(column == scope.unit.id)
    else:
        clauses.append(D.lead_key == scope.unit.id)
    return clauses


def where_daily_cat(scope: Scope) -> list[ColumnElement[bool]]:
    """The same scope and filters on metric_daily_cat (the city or a level-2 unit: callers check `use_daily_cat`)."""
    C = metric_daily_cat.c
    clauses: list[ColumnElement[bool]] = [C.day >= scope.start, C.day <= scope.end]
    if scope.depth == 1:
        clauses.append(or_(C.lead_l1 == scope.unit.id, C.lead_l1.is_(None)))
    else:
        clauses.append(C.lead_l2_key == scope.unit.id)
    if scope.category_id is not None:
        clauses.append(C.category_key == scope.category_id)
    if scope.channel:
        clauses.append(C.channel == scope.channel)
    return clauses


def use_daily_cat(scope: Scope, group_by: str = "none") -> bool:
    if scope.depth > 2:
        return False
    return group_by in ("none", "category", "channel", "day", "week", "month") or (
        group_by == "unit" and scope.depth == 1
    )


def use_daily(scope: Scope, group_by: str = "none") -> bool:
    return (
        scope.category_id is None
        and not scope.channel
        and group_by in ("none", "unit", "day", "week", "month")
    )


def fresh(session: Session) -> None:
    """Bring metric_daily up to date with the facts (rollup.catch_up) before reading it."""
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    if engine.dialect.name == "sqlite":
        engine = engine.execution_options(sqlite_begin_immediate=True)
    if catch_up(engine):
        # End this session's read transaction, so that its next statement sees the new sums (SQLite snapshots).
        session.commit()


# ---------------------------------------------------------------- scope from the query string


def dashboard_units(actor: Actor) -> list[int]:
    return actor.units_for(*DASHBOARD_ROLES)


def resolve_scope(
    session: Session,
    actor: Actor,
    *,
    unit: str | None = None,
    start: str | None = None,
    end: str | None = None,
    category: str | None = None,
    channel: str | None = None,
    today: dt.date | None = None,
    zone: str = "Asia/Shanghai",
) -> Scope:
    """Check the caller may read these figures (a dashboard role in the unit or above it) and parse the dates."""
    if not actor.has_role(*DASHBOARD_ROLES):
        raise Forbidden("forbidden_role", roles="leader, analyst, supervisor, admin")
    if unit:
        if not (unit.isascii() and unit.isdigit() and len(unit) < 10):
            raise Invalid("validation_failed", details="unit: a unit id is expected")
        found = session.get(Unit, int(unit))
        if found is None:
            raise NotFound("unit_not_found", ref=unit)
        if not actor.covers(found.path, *DASHBOARD_ROLES):
            raise Forbidden("forbidden")
    else:
        found = session.get(Unit, dashboard_units(actor)[0])
        assert found is not None
    today = today or dt.datetime.now(ZoneInfo(zone)).date()
    end_day = _date(end, "end") or today
    start_day = _date(start, "start") or max(end_day - dt.timedelta(days=29), EARLIEST)
    if start_day > end_day:
        raise Invalid("validation_failed", details="start must not be after end")
    if (end_day - start_day).days > MAX_DAYS:
        raise Invalid("validation_failed", details=f"at most {MAX_DAYS} days at once")
    scope = Scope(found, start_day, end_day)
    if category:
        row = session.execute(
            select(Category.id, Category.code).where(Category.code == category[:40])
        ).first()
        if row is None:
            raise NotFound("category_not_found", ref=category[:40])
        scope.category_id, scope.category_code = row
    if channel:
        scope.channel = channel[:20]
    return scope


EARLIEST, LATEST = dt.date(2000, 1, 1), dt.date(2099, 12, 31)


def _date(value: str | None, name: str) -> dt.date | None:
    if not value:
        return None
    try:
        day = dt.date.fromisoformat(value) if len(value) <= 10 else dt.datetime.fromisoformat(value).date()
    except ValueError:
        raise Invalid("validation_failed", details=f"{name}: a date YYYY-MM-DD is expected") from None
    if not EARLIEST <= day <= LATEST:
        raise Invalid("validation_failed", details=f"{name}: a date from 2000 to 2099 is expected")
    return day


# ---------------------------------------------------------------- the table of counts


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
        child = _level(scope.depth + 1)
        own = _level(scope.depth)
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
    en = lang == "en"
    if group_by == "unit":
        ids = [r.key for r in rows if r.key is not None]
        names = (
            {u.id: u.name(lang) for u in session.scalars(select(Unit).where(Unit.id.in_(ids)))} if ids else {}
        )
        for r in rows:
            r.label = (
                names.get(r.key, str(r.key)) if r.key is not None else ("not dispatched" if en else "未派单")
            )
    elif group_by == "category":
        ids = [r.key for r in rows if r.key is not None]
        cats = {c.id: c for c in session.scalars(select(Category).where(Category.id.in_(ids)))} if ids else {}
        for r in rows:
            r.label = cats[r.key].name(lang) if r.key in cats else ("unclassified" if en else "未分类")
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


# ---------------------------------------------------------------- stage times


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


# ---------------------------------------------------------------- rankings


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
    units = list(
        session.scalars(
            select(Unit).where(
                Unit.kind == kind, Unit.path.startswith(scope.unit.path), Unit.active.is_(True)
            )
        )
    )
    by_depth: dict[int, dict[int, Unit]] = {}
    for unit in units:
        by_depth.setdefault(unit.path.strip("/").count("/") + 1, {})[unit.id] = unit
    ranked: list[tuple[Unit, Row]] = []
    if daily is None:
        daily = use_daily(scope)
    sums = _ranking_sums(session, scope) if daily else None
    for depth, members in sorted(by_depth.items()):
        column = _level(depth)
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
    cats = {c.id: c for c in session.scalars(select(Category).where(Category.id.in_(ids)))} if ids else {}
    out = []
    for cid, now, prev in rows:
        cat = cats.get(cid) if cid is not None else None
        label = cat.name(lang) if cat else ("unclassified" if lang == "en" else "未分类")
        out.append(CategoryChange(cid, label, cat.code if cat else None, now, prev))
    return out


# ---------------------------------------------------------------- the map

AREA_LEVELS = {"district": F.area_district_id, "street": F.area_street_id, "community": F.area_community_id}


def area_counts(session: Session, scope: Scope, level: str, measure: str = "received") -> dict[int, int]:
    column = AREA_LEVELS[level]
    query = (
        select(column, func.sum(case((MEASURES[measure], 1), else_=0)))
        .where(*where(scope), column.is_not(None))
        .group_by(column)
    )
    return {int(k): int(v or 0) for k, v in session.execute(query)}


def area_units(session: Session, scope: Scope, kind: UnitKind) -> list[Unit]:
    """Units of a territorial kind in the scope (with their polygons), or around it when the scope is a department."""
    root = (
        scope.unit.path
        if scope.unit.kind != UnitKind.department
        else "/" + scope.unit.path.strip("/").split("/")[0] + "/"
    )
    query = (
        select(Unit)
        .options(undefer(Unit.area))
        .where(Unit.kind == kind, Unit.path.startswith(root), Unit.active.is_(True))
        .order_by(Unit.path)
    )
    return list(session.scalars(query))


def area_geojson(units: Sequence[Unit], counts: dict[int, int], lang: str) -> dict[str, Any]:
    features = []
    for unit in units:
        if not unit.area:
            continue
        features.append(
            {
                "type": "Feature",
                "geometry": json.loads(unit.area),
                "properties": {
                    "id": unit.id,
                    "code": unit.code,
                    "name": unit.name(lang),
                    "count": counts.get(unit.id, 0),
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


def points(session: Session, scope: Scope, measure: str, limit: int = 2000) -> list[tuple[float, float, int]]:
    """(lat, lon, request id) of the newest requests a measure counts, at most `limit`."""
    query = (
        select(F.lat, F.lon, F.request_id)
        .where(*where(scope), MEASURES[measure], F.lat.is_not(None))
        .order_by(F.received_day.desc(), F.request_id.desc())
        .limit(limit)
    )
    return [(float(a or 0.0), float(b or 0.0), int(c)) for a, b, c in session.execute(query)]


# ---------------------------------------------------------------- drill-down


def drill_query(scope: Scope, measure: str, group_by: str = "none", key: str | None = None) -> Any:
    """The requests a figure counts: the scope, the measure and (for a table row) the row's key."""
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
            clauses.append(column == _date(key, "key"))
        elif group_by == "channel":
            clauses.append(column == key[:20])
        else:
            if not (key.isascii() and key.isdigit() and len(key) < 10):
                raise Invalid("validation_failed", details="key: an id is expected")
            clauses.append(column == int(key))
    return (
        select(
            Request.id,
            Request.tracking_number,
            Request.title,
            Request.status,
            Request.channel,
            Request.received_at,
            Request.lead_unit_id,
            Request.category_id,
            Request.overdue_stage,
        )
        .join(F, F.request_id == Request.id)
        .where(*clauses)
        .order_by(Request.id.desc())
    )


def drill_page(session: Session, query: Select[Any], before: int | None = None, limit: int = 50) -> list[Any]:
    if before is not None:
        query = query.where(Request.id < before)
    return list(session.execute(query.limit(limit + 1)).all())


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

EXCLUSION_CHOICES = ("refused_to_rate", "unreasonable", "none")
EXCLUDING_ROLES = (Role.supervisor, Role.admin)
NOTE_MAX = 2000


def may_exclude(actor: Actor) -> bool:
    return actor.has_role(*EXCLUDING_ROLES)


def record_exclusion(session: Session, actor: Actor, ref: str, reason: str, note: str) -> Any:
    """Take a request out of the rates' denominators (or put it back: reason "none"), for supervisors and
    administrators of a unit holding it. Flushed, not committed; returns the new MetricExclusion."""
    from chengzhi.metrics.models import MetricExclusion
    from chengzhi.requests import access as requests_access
    from chengzhi.requests import service as requests_service

    if reason not in EXCLUSION_CHOICES:
        raise Invalid("validation_failed", details=f"reason: one of {', '.join(EXCLUSION_CHOICES)}")
    request = requests_service.get_request(session, actor, ref.strip()[:20])
    paths = requests_access.unit_paths_of(session, request)
    if not any(actor.covers(p, *EXCLUDING_ROLES) for p in paths):
        raise Forbidden("forbidden_role", roles="supervisor, admin")
    if not note.strip():
        raise Invalid("reason_required")
    row = MetricExclusion(
        request_id=request.id, reason=reason, note=note.strip()[:NOTE_MAX], actor_id=actor.user_id
    )
    session.add(row)
    session.flush()
    return row


@dataclass
class ExclusionRow:
    request_id: int
    tracking_number: str
    title: str
    reason: str
    note: str
    by: str | None
    at: dt.datetime


def exclusions(session: Session, scope: Scope, limit: int = 200) -> list[ExclusionRow]:
    """The requests the scope's "excluded" figure counts, each with its newest exclusion (reason, note, who,
    when), the most recently excluded first."""
    from chengzhi.metrics.models import MetricExclusion as X
    from chengzhi.org.models import User

    newest = select(X.request_id, func.max(X.id).label("id")).group_by(X.request_id).subquery()
    query = (
        select(
            Request.id,
            Request.tracking_number,
            Request.title,
            X.reason,
            X.note,
            User.display_name,
            X.at,
        )
        .select_from(F)
        .join(Request, Request.id == F.request_id)
        .join(newest, newest.c.request_id == F.request_id)
        .join(X, X.id == newest.c.id)
        .outerjoin(User, User.id == X.actor_id)
        .where(*where(scope), MEASURES["excluded"])
        .order_by(X.id.desc())
        .limit(limit)
    )
    return [ExclusionRow(*row) for row in session.execute(query)]
