"""The daily roll-ups: request_facts summed per received day and lead unit (metric_daily), per received
day, category, channel and district (metric_daily_cat), and the stage-time histograms per received day (and
month) and district (metric_stage_hist).

Kept fresh at read time: before a dashboard figure is computed, `catch_up` finds the received days whose facts
changed since the day was last summed (facts carry `refreshed_at`, indexed) and sums those days again, in a short
transaction of its own. Facts are rewritten in each event's transaction, so a figure read after a commit includes
that event. A day is summed again when one of its facts was refreshed up to MARGIN before the day's last roll-up,
so that a transaction which committed just after a roll-up started is not missed.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import zlib
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Engine, and_, case, delete, func, insert, literal, select, text
from sqlalchemy.exc import DBAPIError

from chengzhi.db import utcnow
from chengzhi.metrics.measures import MEASURES
from chengzhi.metrics.models import (
    HIST_ALL_CHANNELS,
    HIST_BUCKETS,
    HIST_COLUMNS,
    HIST_FLOOR,
    HIST_STEPS,
    HIST_TOP,
    ROLLUP_MEASURES,
    ROLLUP_STAGES,
    RequestFact,
    metric_daily,
    metric_daily_cat,
    metric_days,
    metric_stage_hist,
)

log = logging.getLogger(__name__)

MARGIN = dt.timedelta(seconds=5)
DAYS_PER_STATEMENT = 31
LOCK_KEY = zlib.crc32(b"chengzhi.metrics.rollup")


def _stage(name: str) -> Any:
    return getattr(RequestFact, f"{name}_s")


def _sums() -> tuple[list[Any], list[str]]:
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


def bucket_of(seconds: float) -> int:
    """The histogram bucket of a stage time (metrics.models.HIST_*)."""
    if seconds < HIST_FLOOR:
        return 0
    return min(1 + math.floor(HIST_STEPS * math.log2(seconds / HIST_FLOOR)), HIST_TOP + 1)


def bucket_value(bucket: int) -> float:
    """What a bucket stands for: its geometric middle (half a minute for bucket 0, the lower bound of the last)."""
    if bucket <= 0:
        return HIST_FLOOR / 2
    if bucket > HIST_TOP:
        return HIST_FLOOR * 2 ** (HIST_TOP / HIST_STEPS)
    return HIST_FLOOR * 2 ** ((bucket - 0.5) / HIST_STEPS)


def _month(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _next_month(first: dt.date) -> dt.date:
    return (first + dt.timedelta(days=32)).replace(day=1)


def _sum_histograms(conn: Connection, days: list[dt.date]) -> None:
    """Bucket the stage times of these received days' facts (in Python: no logarithm in every SQLite) into
    metric_stage_hist day rows, replacing theirs."""
    H = metric_stage_hist.c
    conn.execute(delete(metric_stage_hist).where(H.grain == "d", H.day.in_(days)))
    stages = [getattr(RequestFact, f"{s}_s") for s in ROLLUP_STAGES]
    found: dict[tuple[dt.date, int, str, str], list[int]] = {}
    top: dict[tuple[dt.date, int], int | None] = {}
    query = select(
        RequestFact.received_day, RequestFact.lead_l2, RequestFact.lead_l1, RequestFact.channel, *stages
    ).where(RequestFact.received_day.in_(days))
    for day, l2, l1, channel, *seconds in conn.execute(query):
        key = (day, l2 or 0)
        known = top.get(key)
        if l1 is not None and (known is None or l1 > known):
            top[key] = l1
        elif key not in top:
            top[key] = None
        for stage, value in zip(ROLLUP_STAGES, seconds, strict=True):
            if value is None:
                continue
            bucket = bucket_of(float(value))
            for into in (HIST_ALL_CHANNELS, channel):
                counts = found.get((day, key[1], into, stage))
                if counts is None:
                    counts = found[(day, key[1], into, stage)] = [0] * HIST_BUCKETS
                counts[bucket] += 1
    rows = [
        {
            "grain": "d",
            "day": day,
            "lead_l2_key": l2,
            "channel": channel,
            "stage": stage,
            "lead_l1": top[(day, l2)],
            **dict(zip(HIST_COLUMNS, counts, strict=True)),
        }
        for (day, l2, channel, stage), counts in found.items()
    ]
    if rows:
        conn.execute(insert(metric_stage_hist), rows)


def _sum_months(conn: Connection, months: Iterable[dt.date]) -> None:
    """Month rows of metric_stage_hist again: the sums of their day rows."""
    H = metric_stage_hist.c
    for first in sorted(set(months)):
        conn.execute(delete(metric_stage_hist).where(H.grain == "m", H.day == first))
        by_month = (
            select(
                literal("m"),
                literal(first),
                H.lead_l2_key,
                H.channel,
                H.stage,
                func.max(H.lead_l1),
                *[func.sum(H[name]) for name in HIST_COLUMNS],
            )
            .where(and_(H.grain == "d", H.day >= first, H.day < _next_month(first)))
            .group_by(H.lead_l2_key, H.channel, H.stage)
        )
        names = ["grain", "day", "lead_l2_key", "channel", "stage", "lead_l1", *HIST_COLUMNS]
        conn.execute(insert(metric_stage_hist).from_select(names, by_month))


def sum_days(conn: Connection, days: Iterable[dt.date]) -> int:
    """Sum the facts of these received days into metric_daily, metric_daily_cat and metric_stage_hist again
    (replacing their rows; the histograms of their months are summed again too)."""
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
        _sum_histograms(conn, chunk)
        conn.execute(delete(metric_days).where(metric_days.c.day.in_(chunk)))
        conn.execute(insert(metric_days), [{"day": day, "rolled_at": now} for day in chunk])
    _sum_months(conn, {_month(day) for day in wanted})
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
        conn.execute(delete(metric_stage_hist))
        conn.execute(delete(metric_days))
        sum_days(conn, days)
    return len(days)
