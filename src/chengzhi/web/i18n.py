"""Babel message catalogues of the pages: loaded from the `.po` files at start, so no compile step is needed.

Messages are written in English (the msgid); `locale/zh_Hans` translates them into Simplified Chinese and
`locale/en` repeats them, so that both catalogues are complete and checked alike (tests/test_pages_i18n.py).
In Python, `N_("...")` marks a message for extraction; `gettext(lang, message)` translates it when rendered.
"""

from __future__ import annotations

import datetime as dt
import io
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from chengzhi.i18n import Language

LOCALE_DIR = Path(__file__).parent / "locale"
BABEL_CFG = Path(__file__).parent / "babel.cfg"
# Page language (chengzhi.i18n.Language) -> the catalogue's locale and the locale used for dates.
LOCALES: dict[Language, str] = {"zh": "zh_Hans", "en": "en"}
DATE_LOCALES: dict[Language, str] = {"zh": "zh_Hans_CN", "en": "en_GB"}


def N_(message: str) -> str:
    """Mark `message` for extraction; it is translated later with `gettext(lang, message)`."""
    return message


def po_path(lang: Language) -> Path:
    return LOCALE_DIR / LOCALES[lang] / "LC_MESSAGES" / "messages.po"


@lru_cache(maxsize=4)
def translations(lang: Language) -> Translations:
    with po_path(lang).open("rb") as po:
        catalog = read_po(po, locale=LOCALES[lang])
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer, domain="messages")


def gettext(lang: Language, message: str, **params: object) -> str:
    text = translations(lang).gettext(message)
    return text % params if params else text


def local_time(when: dt.datetime | None, timezone: str, lang: Language, style: str = "medium") -> str:
    """A UTC time shown in the city's time zone, in the page's language."""
    if when is None:
        return ""
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    pattern = "yyyy-MM-dd HH:mm" if style == "medium" else "yyyy-MM-dd"
    return format_datetime(when, pattern, tzinfo=ZoneInfo(timezone), locale=DATE_LOCALES[lang])
