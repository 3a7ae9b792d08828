"""Time limits: "30m", "2h", "3d" (calendar days) and "7wd" (working days of mainland China).

Working days follow the State Council's yearly holiday arrangement, make-up working days included, as published
in the `chinesecalendar` package. For a year the package does not cover yet, weekends alone count (and a warning
is logged once per year): upgrade the package when the next arrangement is published.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

import chinese_calendar

from chengzhi.categories.models import STAGES, Priority
from chengzhi.i18n import N_

log = logging.getLogger(__name__)

_LIMIT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|h|d|wd)\s*$")
_warned_years: set[int] = set()


@dataclass(frozen=True)
class TimeLimit:
    amount: float
    unit: str  # m, h, d, wd

    def __str__(self) -> str:
        amount = int(self.amount) if self.amount == int(self.amount) else self.amount
        return f"{amount}{self.unit}"


def parse_limit(text: str) -> TimeLimit:
    match = _LIMIT.match(text or "")
    if not match:
        raise ValueError(f"invalid time limit {text!r}")
    amount = float(match.group(1))
    if amount <= 0 or amount > 10000:
        raise ValueError(f"invalid time limit {text!r}")
    if match.group(2) in ("d", "wd") and amount != int(amount):
        raise ValueError(f"days must be whole: {text!r}")
    return TimeLimit(amount, match.group(2))


@lru_cache(maxsize=4096)
def is_working_day(day: dt.date) -> bool:
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        if day.year not in _warned_years:
            _warned_years.add(day.year)
            log.warning("no holiday arrangement for %s in chinesecalendar; counting weekends only", day.year)
        return day.weekday() < 5


def add_working_days(start: dt.datetime, days: int) -> dt.datetime:
    """The same wall-clock time `days` working days after `start` (a local, aware datetime).

    A start on a rest day counts from the start of the next working day.
    """
    current = start
    if not is_working_day(current.date()):
        while not is_working_day(current.date()):
            current = (current + dt.timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    counted = 0
    while counted < days:
        current += dt.timedelta(days=1)
        if is_working_day(current.date()):
            counted += 1
    return current


def deadline(start: dt.datetime, limit: TimeLimit | str, tz: str) -> dt.datetime:
    """When a limit that starts at `start` (aware) runs out, in UTC."""
    if isinstance(limit, str):
        limit = parse_limit(limit)
    if limit.unit == "m":
        return (start + dt.timedelta(minutes=limit.amount)).astimezone(dt.UTC)
    if limit.unit == "h":
        return (start + dt.timedelta(hours=limit.amount)).astimezone(dt.UTC)
    local = start.astimezone(ZoneInfo(tz))
    if limit.unit == "d":
        return (local + dt.timedelta(days=int(limit.amount))).astimezone(dt.UTC)
    return add_working_days(local, int(limit.amount)).astimezone(dt.UTC)


DEFAULT_LIMITS = {"sign": "2h", "contact": "1d", "reply": "7wd", "review": "1wd"}


def stage_limits(
    category_limits: dict[str, str] | None, priority: str, emergency_limits: dict[str, str]
) -> dict[str, str]:
    limits = dict(DEFAULT_LIMITS)
    limits.update({k: v for k, v in (category_limits or {}).items() if k in STAGES})
    if priority == Priority.emergency:
        limits.update({k: v for k, v in emergency_limits.items() if k in STAGES})
    return limits


def stage_deadlines(
    stages: tuple[str, ...], start: dt.datetime, limits: dict[str, str], tz: str
) -> dict[str, str]:
    """ISO deadlines for the given stages, each counted from `start`."""
    return {stage: deadline(start, limits[stage], tz).isoformat() for stage in stages}


# The stages whose deadlines run, named for people (pages).
STAGE_NAMES = {
    "sign": N_("Sign for it"),
    "contact": N_("Contact the resident"),
    "reply": N_("Reply"),
    "review": N_("Review with the resident"),
    "return": N_("Return a wrong dispatch"),
}
