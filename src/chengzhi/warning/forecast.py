"""未诉先办 lists and monthly focus candidates from the live tables (`warning.proactive` does the counting)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from chengzhi.categories import service as categories_service
from chengzhi.config import Settings
from chengzhi.org import queries as org_queries
from chengzhi.org.models import Unit
from chengzhi.warning import proactive
from chengzhi.warning.alerts import AreaKey, daily_counts

HISTORY_MONTHS = 15


def _counts(session: Session, settings: Settings, now: dt.datetime) -> dict[AreaKey, dict[dt.date, int]]:
    zone = ZoneInfo(settings.timezone)
    start = proactive.add_months(proactive.month_of(now.astimezone(zone).date()), -HISTORY_MONTHS)
    return proactive.monthly(daily_counts(session, settings, dt.datetime.combine(start, dt.time(), zone)))


def proactive_list(
    session: Session, settings: Settings, unit: Unit, now: dt.datetime, lang: str = "zh", limit: int = 200
) -> dict[str, Any]:
    """Next month's expected problems per street under `unit`, and the current month's focus candidates in it."""
    zone = ZoneInfo(settings.timezone)
    this_month = proactive.month_of(now.astimezone(zone).date())
    next_month = proactive.add_months(this_month, 1)
    city = unit.path.count("/") == 2
    counts = {
        k: v for k, v in _counts(session, settings, now).items() if city or k.area_path.startswith(unit.path)
    }
    streets = {k: v for k, v in counts.items() if k.area_path}
    expected = proactive.expected_in(streets, next_month)[:limit]
    street_ids = {int(k.area_path.strip("/").split("/")[-1]) for k in streets}
    street_names = org_queries.unit_names(session, street_ids, lang)
    by_category: dict[int | None, dict[dt.date, int]] = defaultdict(lambda: defaultdict(int))
    for key, series in counts.items():
        for month, n in series.items():
            by_category[key.category_id][month] += n
    focus = proactive.focus_candidates(by_category, this_month)
    categories = categories_service.categories_by_id(
        session, {k.category_id for k in counts if k.category_id is not None}
    )

    def category_name(category_id: int | None) -> str:
        found = categories.get(category_id or 0)
        return (found.name_en if lang == "en" else found.name_zh) if found else ""

    rows = []
    for e in expected:
        key = cast(AreaKey, e.key)
        street_id = int(key.area_path.strip("/").split("/")[-1])
        rows.append(
            {
                "street_id": street_id,
                "street": street_names.get(street_id, ""),
                "category_id": key.category_id,
                "category": category_name(key.category_id),
                "score": e.score,
                "recent_months": e.recent_months,
                "last_year": e.last_year,
                "reasons": e.reasons,
            }
        )
    return {
        "unit": unit.id,
        "month": next_month.isoformat()[:7],
        "expected": rows,
        "focus_month": this_month.isoformat()[:7],
        "focus_candidates": [
            {"category_id": c, "category": category_name(c), "requests": n} for c, n in focus if c is not None
        ],
    }


def backtest(session: Session, settings: Settings, now: dt.datetime, months: int = 6) -> proactive.Backtest:
    """Precision and recall of "will recur next month" over the last `months` complete months of the history."""
    zone = ZoneInfo(settings.timezone)
    this_month = proactive.month_of(now.astimezone(zone).date())
    counts = {k: v for k, v in _counts(session, settings, now).items() if k.area_path}
    return proactive.backtest(counts, [proactive.add_months(this_month, -n) for n in range(months, 0, -1)])
