"""Time limits: parsing, hours and minutes, working days of mainland China, and the deadlines the service sets.

Holidays and make-up working days are read from the `chinesecalendar` package itself, never from a table typed
into this file: if the package's data change, the expectations change with them.
"""

from __future__ import annotations

import datetime as dt
import logging
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from chengzhi.categories import timelimits
from chengzhi.categories.timelimits import (
    DEFAULT_LIMITS,
    TimeLimit,
    add_working_days,
    deadline,
    is_working_day,
    parse_limit,
    stage_deadlines,
    stage_limits,
)
from chengzhi.config import Settings
from chengzhi.requests import service as svc

from .factories import City
from .steps import actor, dispatch, handle, submit

TZ = "Asia/Shanghai"
CST = ZoneInfo(TZ)
EMERGENCY = {"sign": "30m", "contact": "1h", "reply": "2h", "review": "1d"}


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=CST)  # type: ignore[misc, arg-type]


def library_workdays_between(start: dt.date, end: dt.date) -> int:
    """How many days in (start, end] the package calls working days."""
    return sum(
        1
        for n in range(1, (end - start).days + 1)
        if chinese_calendar.is_workday(start + dt.timedelta(days=n))
    )


def next_library_workday(day: dt.date) -> dt.date:
    day += dt.timedelta(days=1)
    while not chinese_calendar.is_workday(day):
        day += dt.timedelta(days=1)
    return day


def makeup_days(year: int, holiday: str) -> list[dt.date]:
    """Weekend days the package lists as working days for `holiday` (调休上班)."""
    return sorted(
        day
        for day, name in chinese_calendar.workdays.items()
        if day.year == year
        and day.weekday() >= 5
        and name == getattr(chinese_calendar.Holiday, holiday).value
    )


NATIONAL_DAY_2026 = [dt.date(2026, 10, d) for d in range(1, 8)]


# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", TimeLimit(30, "m")),
        ("2h", TimeLimit(2, "h")),
        ("1.5h", TimeLimit(1.5, "h")),
        (" 3d ", TimeLimit(3, "d")),
        ("7wd", TimeLimit(7, "wd")),
    ],
)
def test_parse_limit(text: str, expected: TimeLimit) -> None:
    assert parse_limit(text) == expected
    assert parse_limit(str(expected)) == expected  # str() gives back a parseable limit


@pytest.mark.parametrize(
    "text", ["", "h", "2", "2x", "-2h", "0h", "0wd", "1.5d", "2.5wd", "20000h", "2 hours", "h2", "2hh", "wd7"]
)
def test_parse_errors(text: str) -> None:
    with pytest.raises(ValueError, match=r"time limit|whole"):
        parse_limit(text)


def test_deadline_refuses_a_bad_limit() -> None:
    with pytest.raises(ValueError):
        deadline(local(2026, 3, 2, 10), "soon", TZ)


# ---------------------------------------------------------------- hours, minutes, calendar days


def test_minutes_and_hours_are_plain_durations_returned_in_utc() -> None:
    start = local(2026, 10, 1, 23, 50)  # a holiday: hours run regardless
    assert deadline(start, "30m", TZ) == start + dt.timedelta(minutes=30)
    assert deadline(start, "2h", TZ) == start + dt.timedelta(hours=2)
    assert deadline(start, "1.5h", TZ) == start + dt.timedelta(minutes=90)
    assert deadline(start, "2h", TZ).tzinfo == dt.UTC


def test_calendar_days_ignore_holidays() -> None:
    start = local(2026, 9, 30, 10)
    assert deadline(start, "3d", TZ) == local(2026, 10, 3, 10)


# ---------------------------------------------------------------- working days


def test_the_library_has_the_2026_arrangement_this_file_relies_on() -> None:
    for day in NATIONAL_DAY_2026:
        assert chinese_calendar.is_holiday(day), day
        on_holiday, name = chinese_calendar.get_holiday_detail(day)
        assert on_holiday and name == chinese_calendar.Holiday.national_day.value
    assert makeup_days(2026, "national_day"), "expected a weekend make-up day around National Day 2026"


def test_national_day_holiday_is_skipped() -> None:
    start = local(2026, 9, 30, 10)  # the last working day before the holiday
    assert chinese_calendar.is_workday(start.date())
    end = deadline(start, "1wd", TZ).astimezone(CST)
    assert end.date() == next_library_workday(start.date())
    assert end.date() > max(NATIONAL_DAY_2026)
    assert end.time() == start.time().replace(tzinfo=None)


def test_seven_working_days_across_national_day() -> None:
    start = local(2026, 9, 28, 15, 30)
    end = deadline(start, "7wd", TZ).astimezone(CST)
    assert chinese_calendar.is_workday(end.date())
    assert library_workdays_between(start.date(), end.date()) == 7
    assert end.time() == dt.time(15, 30)
    # Calendar days would end inside the holiday; working days end well after it.
    assert end.date() > max(NATIONAL_DAY_2026)


@pytest.mark.parametrize("makeup", makeup_days(2026, "national_day"))
def test_a_makeup_weekend_day_counts_as_a_working_day(makeup: dt.date) -> None:
    assert makeup.weekday() >= 5
    assert is_working_day(makeup)
    before = makeup - dt.timedelta(days=1)
    while not chinese_calendar.is_workday(before):
        before -= dt.timedelta(days=1)
    start = dt.datetime.combine(before, dt.time(11, 0), tzinfo=CST)
    assert deadline(start, "1wd", TZ).astimezone(CST) == dt.datetime.combine(
        makeup, dt.time(11, 0), tzinfo=CST
    )


def test_a_start_on_a_rest_day_counts_from_the_next_working_morning() -> None:
    start = local(2026, 10, 3, 15)  # inside the National Day holiday
    first = next_library_workday(start.date())
    end = deadline(start, "1wd", TZ).astimezone(CST)
    assert end == dt.datetime.combine(next_library_workday(first), dt.time(9, 0), tzinfo=CST)
    assert add_working_days(start, 0) == dt.datetime.combine(first, dt.time(9, 0), tzinfo=CST)


def test_working_days_follow_the_city_date_not_the_utc_date() -> None:
    # 17:00 UTC on 30 September is already 1 October, a holiday, in Beijing.
    start = dt.datetime(2026, 9, 30, 17, 0, tzinfo=dt.UTC)
    first = next_library_workday(dt.date(2026, 10, 1) - dt.timedelta(days=1))
    assert first > max(NATIONAL_DAY_2026)
    expected = dt.datetime.combine(next_library_workday(first), dt.time(9, 0), tzinfo=CST)
    assert deadline(start, "1wd", TZ) == expected.astimezone(dt.UTC)


@hsettings(max_examples=200, deadline=None)
@given(
    day=st.dates(min_value=dt.date(2025, 1, 1), max_value=dt.date(2026, 11, 30)),
    minute=st.integers(0, 24 * 60 - 1),
    days=st.integers(1, 20),
)
def test_working_days_agree_with_the_library(day: dt.date, minute: int, days: int) -> None:
    start = dt.datetime.combine(day, dt.time(minute // 60, minute % 60), tzinfo=CST)
    end = deadline(start, f"{days}wd", TZ).astimezone(CST)
    assert chinese_calendar.is_workday(end.date())
    if chinese_calendar.is_workday(day):
        assert end.time() == start.time().replace(tzinfo=None)
        assert library_workdays_between(day, end.date()) == days
    else:  # counted from 09:00 of the next working day
        first = next_library_workday(day)
        assert end.time() == dt.time(9, 0)
        assert library_workdays_between(first, end.date()) == days


def first_year_without_data() -> int:
    return int(max(day.year for day in chinese_calendar.holidays)) + 1


def test_a_year_without_an_arrangement_falls_back_to_weekends_and_warns(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    year = first_year_without_data()
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(dt.date(year, 3, 1))
    # Start from a clean memo so that the warning is not swallowed by an earlier test's call.
    monkeypatch.setattr(timelimits, "_warned_years", set())
    is_working_day.cache_clear()
    caplog.set_level(logging.WARNING, logger=timelimits.__name__)
    # A logging configuration loaded earlier in the run (Alembic's, uvicorn's) may have disabled existing loggers.
    monkeypatch.setattr(logging.getLogger(timelimits.__name__), "disabled", False)
    days = [dt.date(year, 1, 1) + dt.timedelta(days=n) for n in range(14)]
    assert [is_working_day(d) for d in days] == [d.weekday() < 5 for d in days]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and str(year) in r.getMessage()]
    assert len(warnings) == 1  # once per year, not once per day
    is_working_day.cache_clear()


def test_counting_into_a_year_without_data_uses_weekdays(monkeypatch: pytest.MonkeyPatch) -> None:
    year = first_year_without_data()
    monkeypatch.setattr(timelimits, "_warned_years", {year})  # the warning is covered above
    last = dt.date(year - 1, 12, 31)
    while not chinese_calendar.is_workday(last):
        last -= dt.timedelta(days=1)
    start = dt.datetime.combine(last, dt.time(10, 0), tzinfo=CST)
    # The last working day of the old year: the five days counted are the new year's first five weekdays.
    new_year = [dt.date(year, 1, 1) + dt.timedelta(days=n) for n in range(14)]
    fifth_weekday = [d for d in new_year if d.weekday() < 5][4]
    assert add_working_days(start, 5) == dt.datetime.combine(fifth_weekday, dt.time(10, 0), tzinfo=CST)
    is_working_day.cache_clear()


# ---------------------------------------------------------------- limits per stage


def test_stage_limits_default_category_and_emergency() -> None:
    assert stage_limits(None, "normal", EMERGENCY) == DEFAULT_LIMITS
    water = stage_limits({"reply": "24h", "unknown": "1h"}, "high", EMERGENCY)
    assert water == DEFAULT_LIMITS | {"reply": "24h"}
    assert stage_limits({"reply": "24h"}, "emergency", EMERGENCY) == EMERGENCY


def test_stage_deadlines_counts_each_stage_from_the_start() -> None:
    start = local(2026, 9, 30, 10)
    limits = {"sign": "2h", "contact": "1d", "reply": "7wd", "review": "1wd"}
    got = stage_deadlines(("sign", "contact", "reply"), start, limits, TZ)
    assert set(got) == {"sign", "contact", "reply"}
    for stage, value in got.items():
        assert dt.datetime.fromisoformat(value) == deadline(start, limits[stage], TZ)


# ---------------------------------------------------------------- deadlines set by the service (both databases)


def deadlines_of(request: object) -> dict[str, dt.datetime]:
    return {k: dt.datetime.fromisoformat(v) for k, v in (request.deadlines or {}).items()}  # type: ignore[attr-defined]


def test_dispatch_sets_stage_deadlines_from_the_category(
    session: Session, settings: Settings, city: City
) -> None:
    now = local(2026, 9, 30, 10).astimezone(dt.UTC)
    litter = submit(session, settings, now, category="litter")
    water = submit(session, settings, now, category="water")
    dispatch(session, settings, litter, "D1S1C1", now)
    dispatch(session, settings, water, "D1-water", now)
    session.commit()
    session.expire_all()

    got = deadlines_of(litter)
    assert got["sign"] == now + dt.timedelta(hours=2)
    assert got["contact"] == deadline(now, "1d", TZ) == now + dt.timedelta(days=1)
    assert got["reply"] == deadline(now, "7wd", TZ)
    assert library_workdays_between(now.astimezone(CST).date(), got["reply"].astimezone(CST).date()) == 7
    assert litter.due_at == got["sign"]

    got = deadlines_of(water)
    assert water.priority == "high"
    assert got["reply"] == now + dt.timedelta(hours=24)  # the category's own limit
    assert got["sign"] == now + dt.timedelta(hours=2)  # the default where the category says nothing


def test_emergency_priority_uses_the_emergency_limits(
    session: Session, settings: Settings, city: City
) -> None:
    now = local(2026, 10, 2, 22).astimezone(dt.UTC)  # a holiday night: emergencies do not wait
    urgent = submit(session, settings, now, category="litter", priority="emergency", by="operator")
    dispatch(session, settings, urgent, "D1S1C1", now)
    session.commit()
    got = deadlines_of(urgent)
    for stage in ("sign", "contact", "reply"):
        assert got[stage] == deadline(now, settings.emergency_limits[stage], TZ)
    assert got["reply"] == now + dt.timedelta(hours=2)
    assert urgent.due_at == now + dt.timedelta(minutes=30)


def test_reply_sets_the_review_deadline(session: Session, settings: Settings, city: City) -> None:
    now = local(2026, 9, 29, 16).astimezone(dt.UTC)
    request = submit(session, settings, now)
    dispatch(session, settings, request, "D1S1C1", now)
    handle(session, settings, request, "d1s1c1-handler", now + dt.timedelta(hours=1))
    session.commit()
    replied_at = request.replied_at
    assert replied_at is not None
    assert request.status == "replied"
    assert deadlines_of(request)["review"] == deadline(replied_at, "1wd", TZ)
    assert request.due_at == deadlines_of(request)["review"]


def test_approved_extension_moves_the_reply_deadline_by_working_days(
    session: Session, settings: Settings, city: City
) -> None:
    now = local(2026, 9, 21, 9, 30).astimezone(dt.UTC)
    request = submit(session, settings, now)
    dispatch(session, settings, request, "D1S1C1", now)
    handle(session, settings, request, "d1s1c1-handler", now + dt.timedelta(minutes=10), upto="contacted")
    old_reply = deadlines_of(request)["reply"]
    handler, supervisor = actor(session, "d1s1c1-handler"), actor(session, "supervisor")
    later = now + dt.timedelta(hours=3)
    svc.request_extension(session, handler, request, 4, "需要协调物业", later)
    svc.decide_extension(session, supervisor, request, True, settings, "同意", later + dt.timedelta(hours=1))
    session.commit()
    session.expire_all()

    new_reply = deadlines_of(request)["reply"]
    assert new_reply == deadline(old_reply, "4wd", TZ)
    assert library_workdays_between(old_reply.astimezone(CST).date(), new_reply.astimezone(CST).date()) == 4
    assert new_reply.astimezone(CST).time() == old_reply.astimezone(CST).time()
    assert request.extension_days == 4
    assert not request.extension_pending
    assert request.due_at == new_reply  # contacted: the reply stage runs
    # Other stages are not moved.
    assert deadlines_of(request)["sign"] == now + dt.timedelta(hours=2)
