"""Retention periods: the cut-off times that `CHENGZHI_RETENTION_MONTHS` gives, shared by the domains that remove
personal data by age (requests closed long ago, outside posts, and what `requests.retention.on_cutoff` prunes)."""

from __future__ import annotations

import datetime as dt

from chengzhi.config import Settings


def months_before(now: dt.datetime, months: int) -> dt.datetime:
    """The same day and time `months` calendar months earlier (the month's last day when it is shorter)."""
    index = now.year * 12 + now.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    for day in range(now.day, 27, -1):
        try:
            return now.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    return now.replace(year=year, month=month, day=min(now.day, 28))


def retention_cutoff(settings: Settings, now: dt.datetime) -> dt.datetime | None:
    """What is older than this goes (`retention_months` before now); None when retention is off (0 months)."""
    if settings.retention_months <= 0:
        return None
    return months_before(now, settings.retention_months)
