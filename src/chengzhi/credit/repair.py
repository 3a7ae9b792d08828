"""Publication periods and credit repair (信用修复) by the rules in force on the date of the record.

The rule sets are data with the date each took effect; a record is judged by the set in force on its decision date.
Periods count in calendar months from the decision date (a day that does not exist in the target month is the
month's last day). `max_months` gives the first day a record is no longer published; `min_months` the first day
its entity may apply for repair. Sources and assumptions: docs/credit.md.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass

from chengzhi.i18n import N_, Text


@dataclass(frozen=True)
class Period:
    min_months: int  # repair may be applied for from decided_on + min_months
    max_months: int  # publication ends automatically at decided_on + max_months (0: never published)


@dataclass(frozen=True)
class RuleSet:
    code: str
    effective: dt.date
    source: Text  # the document, in the reader's language (translate)
    periods: dict[str, Period]


RULE_SETS: tuple[RuleSet, ...] = (
    RuleSet(
        "2019",
        dt.date(2019, 5, 1),  # not checked; immaterial: the earliest set also judges every older record
        N_(
            "NDRC General Office notice 发改办财金〔2019〕527号 on the credit repair of administrative penalty information"
        ),
        # Two classes only (一般 / 严重): a minor penalty is a general one. Sources: docs/credit.md.
        {"minor": Period(3, 12), "general": Period(3, 12), "serious": Period(6, 36)},
    ),
    RuleSet(
        "2023",
        dt.date(2023, 5, 1),  # "自2023年5月1日起施行" (the order's own text)
        N_("NDRC Order No. 58, Measures for credit information repair after dishonesty is corrected (trial)"),
        {"minor": Period(0, 0), "general": Period(3, 12), "serious": Period(12, 36)},
    ),
    RuleSet(
        "2026",
        dt.date(2026, 4, 1),  # the measures' announcement of 2025-11-26 (docs/credit.md)
        N_("NDRC Credit Repair Measures (adopted 2025-11-19, in force from 2026-04-01)"),
        {"minor": Period(0, 3), "general": Period(3, 12), "serious": Period(12, 36)},
    ),
)


def add_months(day: dt.date, months: int) -> dt.date:
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def rule_set_on(day: dt.date) -> RuleSet:
    """The rule set in force on `day` (the earliest one for records older than every set)."""
    chosen = RULE_SETS[0]
    for rules in RULE_SETS:
        if rules.effective <= day:
            chosen = rules
    return chosen


@dataclass(frozen=True)
class Window:
    rule_set: str
    repair_from: dt.date  # first day repair may be applied for
    publish_until: dt.date  # first day the record is no longer published


def window(decided_on: dt.date, severity: str) -> Window:
    rules = rule_set_on(decided_on)
    period = rules.periods[severity]
    return Window(
        rules.code, add_months(decided_on, period.min_months), add_months(decided_on, period.max_months)
    )


def published(
    decided_on: dt.date, publish_until: dt.date | None, repaired_on: dt.date | None, on: dt.date
) -> bool:
    if on < decided_on:
        return False
    if repaired_on is not None and on >= repaired_on:
        return False
    return publish_until is None or on < publish_until


def can_repair(decided_on: dt.date, severity: str, on: dt.date) -> bool:
    """True from the minimum period on, while the record is still published."""
    w = window(decided_on, severity)
    return w.repair_from <= on < w.publish_until
