"""Open311 parameters and errors: platform errors as Open311 errors, the arguments every call reads (dates,
page numbers, the date window) and the jurisdiction."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.errors import ChengzhiError
from chengzhi.i18n import N_, Language, gettext, message
from chengzhi.open311.formats import Open311Error
from chengzhi.org.service import city_unit

MAX_DESCRIPTION = 4000
MAX_RESULTS = 1000
WINDOW = dt.timedelta(days=90)


def error_of(exc: ChengzhiError, lang: Language) -> Open311Error:
    """A platform error as Open311 says: 404 for what does not exist, 403 for what is not allowed, 400 else."""
    text = message(exc.code, lang, dict(exc.params))
    if exc.status_code == 404:
        return Open311Error(404, text)
    if exc.status_code in (401, 403):
        return Open311Error(403, text)
    if exc.status_code == 429:
        return Open311Error(429, text, {"Retry-After": str(exc.params.get("seconds", 60))})
    return Open311Error(400, text)


def bad(lang: Language, en: str, zh: str) -> Open311Error:
    return Open311Error(400, en if lang == "en" else zh)


def clean(value: str | None) -> str | None:
    """Empty optional arguments count as absent."""
    if value is None:
        return None
    value = value.strip()
    return value or None


def parse_datetime(value: str | None, name: str, lang: Language) -> dt.datetime | None:
    value = clean(value)
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        raise bad(
            lang,
            f"{name}: a W3C datetime is expected, e.g. 2026-01-01T00:00:00Z",
            f"{name}：应为 W3C 日期时间，例如 2026-01-01T00:00:00Z",
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def parse_positive(value: str | None, name: str, lang: Language, default: int, maximum: int) -> int:
    value = clean(value)
    if value is None:
        return default
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= maximum:
        raise bad(
            lang, f"{name} must be a whole number from 1 to {maximum}", f"{name} 应为 1 到 {maximum} 的整数"
        )
    return int(value)


def jurisdiction(session: Session, settings: Settings) -> str:
    return settings.open311_jurisdiction or city_unit(session).code


def check_jurisdiction(session: Session, settings: Settings, given: str | None, lang: Language) -> None:
    given = clean(given)
    if given is not None and given != jurisdiction(session, settings):
        raise Open311Error(
            404,
            gettext(lang, N_("jurisdiction_id %(given)s is not served here"), given=repr(given)),
        )


def window(
    start: dt.datetime | None, end: dt.datetime | None, now: dt.datetime, lang: Language
) -> tuple[dt.datetime, dt.datetime]:
    """The spec's date range: at most 90 days; the most recent 90 days when neither end is given."""
    if start is None and end is None:
        return now - WINDOW, now
    if start is None:
        assert end is not None
        start = end - WINDOW
    if end is None:
        end = start + WINDOW
    if end < start:
        raise bad(lang, "end_date is before start_date", "end_date 早于 start_date")
    if end - start > WINDOW:
        raise bad(
            lang, "start_date to end_date spans more than 90 days", "start_date 至 end_date 不能超过 90 天"
        )
    return start, end
