"""The daily roll-ups: request_facts summed per received day and lead unit (metric_daily), and per received
day, category, channel and district (metric_daily_cat).

Kept fresh at read time: before a dashboard figure is computed, `catch_up` finds the received days whose facts
changed since the day was last summed (facts carry `refreshed_at`, indexed) and sums those days again, in a short
transaction of its own. Facts are rewritten in each event's transaction, so a figure read after a commit includes
that event. A day is summed again when one of its facts was refreshed up to MARGIN before the day's last roll-up,
so that a transaction which committed just after a roll-up started is not missed.
"""

from __future__ import annotations

import datetime as dt
import logging
import zlib
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Engine, case, delete, func, insert, literal, select, text
from sqlalchemy.exc import DBAPIError

from chengzhi.db import utcnow
from chengzhi.metrics.models import (
    ROLLUP_MEASURES,
    ROLLUP_STAGES,
    RequestFact,
    metric_daily,
    metric_daily_cat,
    metric_days,
)

log = logging.getLogger(__name__)

MARGIN = dt.timedelta(seconds=5)
DAYS_PER_STATEMENT = 31
LOCK_KEY = zlib.crc32(b"chengzhi.metrics.rollup")


def _stage(name: str) -> Any:
    return getattr(RequestFact, f"{name}_s")


def _sums() -> tuple[list[Any], list[str]]:
    from chengzhi.metrics.service import MEASURES

    assert tuple(MEASURES) == ROLLUP_MEASURES, "the roll-ups' columns and the measures differ"
    columns = [
        *[func.sum(case((MEASURES[m], 1), else_=0)) for m in ROLLUP_MEASURES],
        *[func.coalesce(func.sum(_stage(s)), 0.0) for s in ROLLUP_STAGES],
        *[func.count(_stage(s)) for s in ROLLUP_STAGES],
        func.sum(RequestFact.returns),
        func.sum(RequestFact.reopenings),
    ]
    names = [
        *[f"n_{m}" for m in ROLLUP_MEASURES],
        *[f"sum_{s}_s" for s in ROLLUP_STAGES],
        *[f"cnt_{s}" for s in ROLLUP_STAGES],
        "returns_sum",
        "reopenings_sum",
    ]
    return columns, names


def sum_days(conn: Connection, days: Iterable[dt.date]) -> int:
    """Sum the facts of these received days into metric_daily and metric_daily_cat again (replacing their rows)."""
    wanted = sorted(set(days))
    if not wanted:
        return 0
    now = utcnow()
    sums, sum_names = _sums()
    lead_key = func.coalesce(RequestFact.lead_unit_id, literal(0))
    category_key = func.coalesce(RequestFact.category_id, literal(0))
    l2_key = func.coalesce(RequestFact.lead_l2, literal(0))
    written = 0
    for start in range(0, len(wanted), DAYS_PER_STATEMENT):
        chunk = wanted[start : start + DAYS_PER_STATEMENT]
        conn.execute(delete(metric_daily).where(metric_daily.c.day.in_(chunk)))
        conn.execute(delete(metric_daily_cat).where(metric_daily_cat.c.day.in_(chunk)))
        by_lead = (
            select(
                RequestFact.received_day,
                lead_key,
                func.max(RequestFact.lead_l1),
                func.max(RequestFact.lead_l2),
                func.max(RequestFact.lead_l3),
                func.max(RequestFact.lead_l4),
                *sums,
            )
            .where(RequestFact.received_day.in_(chunk))
            .group_by(RequestFact.received_day, lead_key)
        )
        names = ["day", "lead_key", "lead_l1", "lead_l2", "lead_l3", "lead_l4", *sum_names]
        result = conn.execute(insert(metric_daily).from_select(names, by_lead))
        written += max(result.rowcount or 0, 0)
        by_category = (
            select(
                RequestFact.received_day,
                category_key,
                RequestFact.channel,
                l2_key,
                func.max(RequestFact.lead_l1),
                *sums,
            )
            .where(RequestFact.received_day.in_(chunk))
            .group_by(RequestFact.received_day, category_key, RequestFact.channel, l2_key)
        )
        names = ["day", "category_key", "channel", "lead_l2_key", "lead_l1", *sum_names]
        conn.execute(insert(metric_daily_cat).from_select(names, by_category))
        conn.execute(delete(metric_days).where(metric_days.c.day.in_(chunk)))
        conn.execute(insert(metric_days), [{"day": day, "rolled_at": now} for day in chunk])
    return written


def dirty_days(conn: Connection) -> list[dt.date]:
    """Received days whose facts were refreshed after (or just before) the day was last summed."""
    last = conn.execute(select(func.max(metric_days.c.rolled_at))).scalar()
    changed = select(RequestFact.received_day, func.max(RequestFact.refreshed_at))
    if last is not None:
        changed = changed.where(RequestFact.refreshed_at > last - MARGIN)
    latest = dict(conn.execute(changed.group_by(RequestFact.received_day)).all())
    if not latest:
        return []
    rolled = dict(
        conn.execute(
            select(metric_days.c.day, metric_days.c.rolled_at).where(metric_days.c.day.in_(list(latest)))
        ).all()
    )
    return sorted(day for day, when in latest.items() if day not in rolled or when > rolled[day] - MARGIN)


def catch_up(engine: Engine) -> int:
    """Sum again every day whose facts changed; returns the number of days. Other processes doing the same at
    the same moment are skipped on PostgreSQL (advisory lock); on SQLite the write lock serialises them."""
    with engine.connect() as reader:
        days = dirty_days(reader)
    if not days:
        return 0
    try:
        with engine.begin() as conn:
            postgres = conn.dialect.name == "postgresql"
            if (
                postgres
                and not conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": LOCK_KEY}).scalar()
            ):
                return 0
            sum_days(conn, dirty_days(conn))
    except DBAPIError:
        # SQLite busy or a concurrent roll-up on the same days: the figures fall back to a later call.
        log.warning("daily roll-up skipped this time", exc_info=True)
        return 0
    return len(days)


def rebuild(engine: Engine) -> int:
    """Sum every received day again (after bulk loads)."""
    with engine.connect() as reader:
        days = list(reader.execute(select(RequestFact.received_day).distinct()).scalars())
    with engine.begin() as conn:
        conn.execute(delete(metric_daily))
        conn.execute(delete(metric_daily_cat))
        conn.execute(delete(metric_days))
        sum_days(conn, days)
    return len(days)
