"""The ranking of live hot issues: every issue's heat, scored at once with numpy from one aggregated query.

The numbers are those of `hot.Tally`, `hot.raw_terms` and `hot.score` (the offline method), computed for all the
issues of a viewer's scope as arrays instead of issue by issue: the same operations in the same order, so the same
floats (tests/test_warning_ranking.py compares them with the previous computation). The query reads the
memberships of the window through their covering indexes (migration 0057) and the outside posts.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from chengzhi.warning import hot
from chengzhi.warning.contributions import contributions
from chengzhi.warning.models import HotIssue

RECENT_DAYS = 30  # the growth term: share of the messages in the last RECENT_DAYS
HALF_LIFE_DAYS = 90.0  # the recency term halves every HALF_LIFE_DAYS since the last message
# Terms already between 0 and 1: not scaled by the largest among the issues (as in `hot.score`).
ABSOLUTE = ("recency", "growth", "negativity")


@dataclass
class Tallies:
    """What the heat index reads of each issue of a scope, as arrays in the order of `ids`."""

    ids: np.ndarray  # int64
    messages: np.ndarray  # int64
    people: np.ndarray
    likes: np.ndarray
    dislikes: np.ndarray
    first_us: np.ndarray  # microseconds since the epoch (int64)
    last_us: np.ndarray
    recent: np.ndarray
    negativity: np.ndarray  # float64, NaN where no message has a sentiment
    areas: np.ndarray
    outside: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def tally(self, k: int) -> hot.Tally:
        """The k-th issue's tally as the offline method holds it."""
        negativity = float(self.negativity[k])
        return hot.Tally(
            messages=int(self.messages[k]),
            people=int(self.people[k]),
            likes=int(self.likes[k]),
            dislikes=int(self.dislikes[k]),
            first=_time(int(self.first_us[k])),
            last=_time(int(self.last_us[k])),
            recent=int(self.recent[k]),
            negativity=None if np.isnan(negativity) else negativity,
            areas=int(self.areas[k]),
        )


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _micros(value: dt.datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    delta = value - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def _time(micros: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=micros)


def tallies(
    session: Session,
    scope: Callable[[Any], ColumnElement[bool]],
    since: dt.datetime,
    now: dt.datetime,
    min_people: int,
) -> Tallies:
    """One aggregated query: per open issue with messages of at least `min_people` people in the scope since
    `since`, its counts and times. `scope` gives the condition on a `unit_path` column."""
    recent = now - dt.timedelta(days=RECENT_DAYS)
    C = contributions(since)
    people = func.count(func.distinct(C.c.person))
    query = (
        select(
            C.c.issue_id,
            func.count(),
            people,
            func.coalesce(func.sum(C.c.supports), 0),
            func.coalesce(func.sum(C.c.dislikes), 0),
            func.min(C.c.received_at),
            func.max(C.c.received_at),
            func.sum(case((C.c.received_at >= recent, 1), else_=0)),
            func.avg(C.c.negativity),
            func.count(func.distinct(C.c.area_unit_id)),
            func.sum(C.c.outside),
        )
        .where(scope(C.c.unit_path))
        .group_by(C.c.issue_id)
        .having(people >= min_people)
    )
    # Issues merged by the staff are left out after the aggregation (a join with the issues in the statement cost
    # more than the aggregation itself at 1,000,000 requests); a merge moves their requests anyway.
    merged = set(session.scalars(select(HotIssue.id).where(HotIssue.merged_into_id.is_not(None))))
    rows = [row for row in session.execute(query) if row[0] not in merged]
    n = len(rows)
    ints = np.zeros((10, n), dtype=np.int64)
    negativity = np.full(n, np.nan)
    for k, (issue_id, count, persons, likes, dislikes, first, last, fresh, mean, areas, outside) in enumerate(
        rows
    ):
        ints[:, k] = (issue_id, count, persons, likes, dislikes, fresh or 0, areas, outside or 0, 0, 0)
        ints[8, k], ints[9, k] = _micros(first), _micros(last)
        if mean is not None:
            negativity[k] = float(mean)
    return Tallies(
        ids=ints[0],
        messages=ints[1],
        people=ints[2],
        likes=ints[3],
        dislikes=ints[4],
        first_us=ints[8],
        last_us=ints[9],
        recent=ints[5],
        negativity=negativity,
        areas=ints[6],
        outside=ints[7],
    )


def _log1p(values: np.ndarray) -> np.ndarray:
    # The C library's log1p, as `math.log1p` in `hot.raw_terms`: numpy's own (vectorised) differs in the last bit.
    return np.fromiter((math.log1p(v) for v in values.tolist()), dtype=np.float64, count=len(values))


def _halves(values: np.ndarray) -> np.ndarray:
    return np.fromiter((0.5**v for v in values.tolist()), dtype=np.float64, count=len(values))


def raw_terms(t: Tallies, now: dt.datetime) -> dict[str, np.ndarray]:
    """`hot.raw_terms` of every issue at once (every issue here has a first and a last message). Arithmetic is
    numpy's (the same IEEE operations in the same order); logarithms and powers are the C library's, as in
    `hot.raw_terms`, so that every term is the same float."""
    n = t.messages.astype(np.float64)
    span_days = (t.last_us - t.first_us) / 1e6 / 86400
    age_days = np.maximum(0.0, (_micros(now) - t.last_us) / 1e6 / 86400)
    per_week = n / np.maximum(1.0, (span_days + 1) / 7)
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = np.where(t.messages > 0, t.recent / n, 0.0)
    return {
        "messages": _log1p(n),
        "people": _log1p(t.people.astype(np.float64)),
        "likes": _log1p(t.likes.astype(np.float64)),
        "dislikes": _log1p(t.dislikes.astype(np.float64)),
        "intensity": np.where(t.messages > 1, _log1p(per_week), 0.0),
        "recency": _halves(age_days / HALF_LIFE_DAYS),
        "growth": growth,
        "negativity": np.where(np.isnan(t.negativity), 0.0, t.negativity),
        "spread": _log1p(np.maximum(0, t.areas - 1).astype(np.float64)),
    }


@dataclass
class Scores:
    terms: dict[str, np.ndarray]
    contributions: dict[str, np.ndarray]
    heat: np.ndarray  # rounded to 2 decimals, as `hot.score` does


def score(terms: dict[str, np.ndarray], weights: hot.HeatWeights) -> Scores:
    """`hot.score` of every issue at once: counts scaled by the largest among these issues, the terms between 0
    and 1 kept as they are, each weighted; the heat is the sum of the contributions in the terms' order."""
    w = weights.as_dict()
    total = sum(w.values()) or 1.0
    contributions: dict[str, np.ndarray] = {}
    heat: np.ndarray | None = None
    for name in hot.HEAT_TERMS:
        raw = terms[name]
        if name in ABSOLUTE:
            scaled = raw
        else:
            top = float(raw.max()) if len(raw) else 0.0
            scaled = raw / top if top > 0 else np.zeros_like(raw)
        contributions[name] = 100.0 * w[name] * scaled / total
        heat = contributions[name] if heat is None else heat + contributions[name]
    summed = heat if heat is not None else np.zeros(0)
    # Python's round (correctly rounded), not numpy's (scaled by 100): the same heat as `hot.score`.
    rounded = np.array([round(float(x), 2) for x in summed.tolist()], dtype=np.float64)
    return Scores(terms, contributions, rounded)


def order(t: Tallies, scores: Scores, limit: int) -> list[int]:
    """Positions of the hottest issues: heat, then more messages, then the lower id first."""
    ranked = np.lexsort((t.ids, -t.messages, -scores.heat))
    return [int(k) for k in ranked[:limit]]
