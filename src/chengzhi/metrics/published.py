"""What metrics publishes for other domains to republish (open data): every request as an anonymised row of its
facts (no text, no contact, no address, no identifier; area down to the street, time to the hour), and the three
rates of each unit under the city per month with their numerators and denominators, so that anyone can recompute
the published figures from the published rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chengzhi.categories.service import categories_by_id
from chengzhi.metrics.models import RequestFact as F
from chengzhi.metrics.rates import table
from chengzhi.metrics.scope import Scope
from chengzhi.org import queries as org_queries
from chengzhi.org.models import Unit

REQUEST_FIELDS = [
    {"id": "received_day", "type": "date"},
    {"id": "received_hour", "type": "int"},
    {"id": "channel", "type": "text"},
    {"id": "category", "type": "text"},
    {"id": "district", "type": "text"},
    {"id": "street", "type": "text"},
    {"id": "unit_code", "type": "text"},  # the lead unit's ancestor just under the city (the rates' unit)
    {"id": "status", "type": "text"},
    {"id": "in_response", "type": "bool"},  # counted in the response rate's denominator
    {"id": "responded_on_time", "type": "bool"},
    {"id": "ever_overdue", "type": "bool"},
    {"id": "in_follow_up", "type": "bool"},  # counted in the resolution and satisfaction rates' denominators
    {"id": "resolved", "type": "bool"},
    {"id": "satisfied", "type": "bool"},
]

RATE_FIELDS = [
    {"id": "month", "type": "date"},
    {"id": "unit_code", "type": "text"},
    {"id": "unit", "type": "text"},
    {"id": "received", "type": "int"},
    {"id": "response_numerator", "type": "int"},
    {"id": "response_denominator", "type": "int"},
    {"id": "response_rate", "type": "numeric"},
    {"id": "follow_up_denominator", "type": "int"},
    {"id": "resolution_numerator", "type": "int"},
    {"id": "resolution_rate", "type": "numeric"},
    {"id": "satisfaction_numerator", "type": "int"},
    {"id": "satisfaction_rate", "type": "numeric"},
]


def request_days(session: Session) -> tuple[dt.date | None, dt.date | None]:
    """The first and last day (city time) with requests."""
    first = session.scalar(select(F.received_day).order_by(F.received_day).limit(1))
    last = session.scalar(select(F.received_day).order_by(F.received_day.desc()).limit(1))
    return first, last


def anonymised_requests(
    session: Session, after: dt.date | None, until: dt.date, zone: Any, batch: int = 5000
) -> Iterator[list[Any]]:
    """Rows in REQUEST_FIELDS' order for the requests received after `after` and up to `until` (days, city time)."""
    columns = (
        F.request_id,
        F.received_day,
        F.received_at,
        F.channel,
        F.category_id,
        F.area_district_id,
        F.area_street_id,
        func.coalesce(F.lead_l2, F.lead_l1).label("rate_unit"),
        F.status,
        F.response_due,
        F.reviewed,
        F.responded_on_time,
        F.ever_overdue,
        F.resolved,
        F.satisfied,
        F.excluded,
    )
    where = [F.received_day <= until]
    if after is not None:
        where.append(F.received_day > after)
    last_id = 0
    categories: dict[int, str] = {}
    units: dict[int, Unit] = {}
    while True:
        rows = session.execute(
            select(*columns).where(*where, F.request_id > last_id).order_by(F.request_id).limit(batch)
        ).all()
        if not rows:
            return
        last_id = rows[-1].request_id
        missing_categories = {
            r.category_id for r in rows if r.category_id and r.category_id not in categories
        }
        categories.update({k: c.code for k, c in categories_by_id(session, missing_categories).items()})
        missing_units = {
            u for r in rows for u in (r.area_district_id, r.area_street_id) if u and u not in units
        }
        units.update(org_queries.units_by_id(session, missing_units))
        for r in rows:
            district = units.get(r.area_district_id) if r.area_district_id else None
            street = units.get(r.area_street_id) if r.area_street_id else None
            rate_unit = units.get(r.rate_unit) if r.rate_unit else None
            in_response = bool(r.response_due) and r.excluded != "unreasonable"
            in_follow_up = bool(r.reviewed) and r.excluded is None
            yield [
                r.received_day,
                r.received_at.astimezone(zone).hour,
                r.channel,
                categories.get(r.category_id) if r.category_id else None,
                district.name_zh if district else None,
                street.name_zh if street else None,
                rate_unit.code if rate_unit else None,
                r.status,
                in_response,
                in_response and bool(r.responded_on_time),
                bool(r.ever_overdue),
                in_follow_up,
                in_follow_up and bool(r.resolved),
                in_follow_up and bool(r.satisfied),
            ]


def _months(first: dt.date, last: dt.date) -> list[tuple[dt.date, dt.date]]:
    out = []
    month = first.replace(day=1)
    while month <= last:
        following = (month + dt.timedelta(days=32)).replace(day=1)
        out.append((month, following - dt.timedelta(days=1)))
        month = following
    return out


def monthly_rates(session: Session, city: Unit, first: dt.date, last: dt.date) -> list[list[Any]]:
    """Rows in RATE_FIELDS' order: the city and each unit under it, month by month, from the facts table."""
    out: list[list[Any]] = []
    for start, end in _months(first, last):
        scope = Scope(unit=city, start=start, end=end)
        rows = table(session, scope, "unit", source="facts")
        by_id = org_queries.units_by_id(session, [r.key for r in rows if isinstance(r.key, int)])
        for row in rows:
            unit = by_id.get(row.key) if isinstance(row.key, int) else None
            c = row.counts
            out.append(
                [
                    start,
                    unit.code if unit else "",
                    unit.name_zh if unit else row.label,
                    c.get("received", 0),
                    c.get("response_numerator", 0),
                    c.get("response_denominator", 0),
                    _round(row.response_rate),
                    c.get("follow_up_denominator", 0),
                    c.get("resolution_numerator", 0),
                    _round(row.resolution_rate),
                    c.get("satisfaction_numerator", 0),
                    _round(row.satisfaction_rate),
                ]
            )
    return out


def _round(value: float | None) -> float | None:
    return round(value, 6) if value is not None else None
