"""未诉先办 ("fix before asked"): for each street, the problems (categories) likely to come in next month from its
history, so that the street can work on them before residents call; and the month's most frequent problems across
the city as candidates for the monthly focus topic (每月一题).

A street × category is expected next month when it **recurs** (requests in at least `min_recent` of the last
`recent` months) or is **seasonal** (at least `min_count` requests in the same calendar month a year before). Pure
functions over monthly counts; `backtest` measures precision and recall of "will recur next month" (at least
`min_count` requests) on history.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

K = TypeVar("K", bound=Hashable)
RECENT = 3
MIN_RECENT = 2
MIN_COUNT = 2


def month_of(day: dt.date) -> dt.date:
    return day.replace(day=1)


def add_months(month: dt.date, n: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + n
    return dt.date(index // 12, index % 12 + 1, 1)


def monthly(daily: Mapping[K, Mapping[dt.date, int]]) -> dict[K, dict[dt.date, int]]:
    found: dict[K, dict[dt.date, int]] = defaultdict(lambda: defaultdict(int))
    for key, series in daily.items():
        for day, count in series.items():
            found[key][month_of(day)] += count
    return {k: dict(v) for k, v in found.items()}


@dataclass(frozen=True)
class Expected:
    key: Hashable
    month: dt.date  # the month it is expected in
    recent_months: int  # of the last RECENT months, how many had requests
    recent_requests: int
    last_year: int  # requests in the same month a year before
    score: float  # for ordering: requests expected, roughly

    @property
    def reasons(self) -> list[str]:
        found = []
        if self.recent_months >= MIN_RECENT:
            found.append("recurring")
        if self.last_year >= MIN_COUNT:
            found.append("seasonal")
        return found


def expected_in(
    counts: Mapping[K, Mapping[dt.date, int]],
    month: dt.date,
    *,
    recent: int = RECENT,
    min_recent: int = MIN_RECENT,
    min_count: int = MIN_COUNT,
) -> list[Expected]:
    """The keys expected in `month` from the months before it, most expected first."""
    found = []
    for key, series in counts.items():
        before = [series.get(add_months(month, -n), 0) for n in range(1, recent + 1)]
        months_with = sum(1 for c in before if c > 0)
        last_year = series.get(add_months(month, -12), 0)
        if months_with >= min_recent or last_year >= min_count:
            score = max(sum(before) / recent, float(last_year))
            found.append(Expected(key, month, months_with, sum(before), last_year, round(score, 2)))
    return sorted(found, key=lambda e: (-e.score, str(e.key)))


@dataclass(frozen=True)
class Backtest:
    months: int
    predicted: int
    happened: int
    hits: int

    @property
    def precision(self) -> float:
        return self.hits / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.hits / self.happened if self.happened else 0.0


def backtest(
    counts: Mapping[K, Mapping[dt.date, int]], months: Iterable[dt.date], *, min_count: int = MIN_COUNT
) -> Backtest:
    """For each month: the keys expected from the months before it against the keys that had at least
    `min_count` requests in it."""
    predicted = happened = hits = n = 0
    for month in months:
        n += 1
        guessed = {e.key for e in expected_in(counts, month, min_count=min_count)}
        came = {k for k, series in counts.items() if series.get(month, 0) >= min_count}
        predicted += len(guessed)
        happened += len(came)
        hits += len(guessed & came)
    return Backtest(n, predicted, happened, hits)


def focus_candidates(
    counts: Mapping[K, Mapping[dt.date, int]], month: dt.date, limit: int = 5
) -> list[tuple[K, int]]:
    """The month's most frequent keys (e.g. categories across the city): candidates for the monthly focus topic."""
    totals = [(key, series.get(month, 0)) for key, series in counts.items()]
    return sorted([t for t in totals if t[1] > 0], key=lambda t: (-t[1], str(t[0])))[:limit]
