"""What a dashboard question is about (`Scope`: a unit's subtree, a span of received days, a category and a
channel), who may ask it (`resolve_scope`), and the same scope as WHERE clauses on request_facts and on the daily
roll-ups it can be answered from.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Engine, or_
from sqlalchemy.orm import Session

from chengzhi.categories.service import get_category
from chengzhi.errors import Forbidden, Invalid, NotFound
from chengzhi.metrics.models import RequestFact as F
from chengzhi.metrics.models import metric_daily, metric_daily_cat
from chengzhi.metrics.rollup import catch_up
from chengzhi.org import queries as org_queries
from chengzhi.org.models import Role, Unit
from chengzhi.org.service import Actor

# Leaders and analysts read the dashboards; supervisors (who follow overdue requests) and administrators too.
DASHBOARD_ROLES = (Role.leader, Role.analyst, Role.supervisor, Role.admin)
GROUPS = ("none", "unit", "category", "channel", "day", "week", "month")
MAX_DAYS = 3660


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


def level_column(depth: int) -> Any:
    return {1: F.lead_l1, 2: F.lead_l2, 3: F.lead_l3, 4: F.lead_l4}.get(depth)


def where(scope: Scope) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = [F.received_day >= scope.start, F.received_day <= scope.end]
    column = level_column(scope.depth)
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
        found = org_queries.unit_by_id(session, int(unit))
        if found is None:
            raise NotFound("unit_not_found", ref=unit)
        if not actor.covers(found.path, *DASHBOARD_ROLES):
            raise Forbidden("forbidden")
    else:
        found = org_queries.unit_by_id(session, dashboard_units(actor)[0])
        assert found is not None
    today = today or dt.datetime.now(ZoneInfo(zone)).date()
    end_day = parse_date(end, "end") or today
    start_day = parse_date(start, "start") or max(end_day - dt.timedelta(days=29), EARLIEST)
    if start_day > end_day:
        raise Invalid("validation_failed", details="start must not be after end")
    if (end_day - start_day).days > MAX_DAYS:
        raise Invalid("validation_failed", details=f"at most {MAX_DAYS} days at once")
    scope = Scope(found, start_day, end_day)
    if category:
        found_category = get_category(session, category[:40])  # NotFound: category_not_found
        scope.category_id, scope.category_code = found_category.id, found_category.code
    if channel:
        scope.channel = channel[:20]
    return scope


EARLIEST, LATEST = dt.date(2000, 1, 1), dt.date(2099, 12, 31)


def parse_date(value: str | None, name: str) -> dt.date | None:
    if not value:
        return None
    try:
        day = dt.date.fromisoformat(value) if len(value) <= 10 else dt.datetime.fromisoformat(value).date()
    except ValueError:
        raise Invalid("validation_failed", details=f"{name}: a date YYYY-MM-DD is expected") from None
    if not EARLIEST <= day <= LATEST:
        raise Invalid("validation_failed", details=f"{name}: a date from 2000 to 2099 is expected")
    return day
