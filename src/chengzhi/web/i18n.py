"""What the pages need of translation: the catalogues themselves are core (`chengzhi.i18n`, one mechanism for
pages, API errors and domain labels); this adds the city's local time in the page's language."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

from chengzhi.i18n import (
    BABEL_CFG,
    LOCALE_DIR,
    LOCALES,
    N_,
    NC_,
    Language,
    gettext,
    po_path,
    translate,
    translations,
)

__all__ = [
    "BABEL_CFG",
    "DATE_LOCALES",
    "LOCALES",
    "LOCALE_DIR",
    "NC_",
    "N_",
    "gettext",
    "local_time",
    "po_path",
    "translate",
    "translations",
]

# Page language -> the locale used for dates.
DATE_LOCALES: dict[Language, str] = {"zh": "zh_Hans_CN", "en": "en_GB"}


def local_time(when: dt.datetime | None, timezone: str, lang: Language, style: str = "medium") -> str:
    """A UTC time shown in the city's time zone, in the page's language."""
    if when is None:
        return ""
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    pattern = "yyyy-MM-dd HH:mm" if style == "medium" else "yyyy-MM-dd"
    return format_datetime(when, pattern, tzinfo=ZoneInfo(timezone), locale=DATE_LOCALES[lang])
