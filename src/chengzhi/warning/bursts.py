"""Bursts: a day on which a category × area receives more requests than the same weekday's history predicts.

The expected count is the mean of the same weekday over the previous `weeks` weeks (with a small prior, so that a
quiet series does not make every single request a burst); a day is a burst when its count is at least `min_count`
and the Poisson upper tail P(X ≥ count) is below `alpha`. Pure functions: the live domain feeds it daily counts.
Not yet wired to alerts or pages (docs/warning.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import TypeVar

WEEKS = 8
ALPHA = 0.01
MIN_COUNT = 3
PRIOR = 0.5  # requests per weekday added to the history's mean
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Burst:
    key: Hashable  # (category, area) or whatever the counts are keyed by
    day: dt.date
    count: int
    expected: float
    p_value: float


def expected_count(counts: Mapping[dt.date, int], day: dt.date, weeks: int = WEEKS) -> float:
    """The mean count of the same weekday over the `weeks` weeks before `day`, plus the prior."""
    history = [counts.get(day - dt.timedelta(weeks=w), 0) for w in range(1, weeks + 1)]
    return sum(history) / weeks + PRIOR


def bursts_on(
    counts: Mapping[K, Mapping[dt.date, int]],
    day: dt.date,
    *,
    weeks: int = WEEKS,
    alpha: float = ALPHA,
    min_count: int = MIN_COUNT,
) -> list[Burst]:
    """The keys whose count on `day` is a burst, most surprising first."""
    from scipy.stats import poisson

    found = []
    for key, series in counts.items():
        count = series.get(day, 0)
        if count < min_count:
            continue
        expected = expected_count(series, day, weeks)
        p_value = float(poisson.sf(count - 1, expected))
        if p_value < alpha:
            found.append(Burst(key, day, count, round(expected, 2), p_value))
    return sorted(found, key=lambda burst: burst.p_value)
