"""The pages' message catalogues: every message in the code is translated in both languages, none fuzzy."""

from __future__ import annotations

import datetime as dt

from babel.messages.pofile import read_po

from chengzhi.i18n import LANGUAGES
from chengzhi.web.i18n import LOCALES, gettext, local_time, po_path
from chengzhi.web.messages import extract


def test_both_catalogues_translate_every_message() -> None:
    used = extract()
    assert len(used) > 50, "extraction found almost nothing: is babel.cfg right?"
    for lang in LANGUAGES:
        with po_path(lang).open("rb") as po:
            catalog = read_po(po, locale=LOCALES[lang])
        present = {m.id: m for m in catalog if m.id}
        missing = sorted(set(used) - set(present))
        assert not missing, f"{lang}: not in the catalogue (run python -m chengzhi.web.messages): {missing}"
        empty = sorted(m for m in used if not present[m].string)
        assert not empty, f"{lang}: untranslated: {empty}"
        fuzzy = sorted(m for m in used if present[m].fuzzy)
        assert not fuzzy, f"{lang}: fuzzy: {fuzzy}"
        unused = sorted(set(present) - set(used))
        assert not unused, f"{lang}: no longer used (run python -m chengzhi.web.messages): {unused}"


def test_chinese_catalogue_is_chinese_and_keeps_placeholders() -> None:
    with po_path("zh").open("rb") as po:
        catalog = read_po(po, locale="zh_Hans")
    for entry in catalog:
        if not entry.id or entry.id == "English" or not isinstance(entry.id, str):
            continue
        assert isinstance(entry.string, str)
        assert any("\u4e00" <= ch <= "\u9fff" for ch in entry.string), entry.id
        for placeholder in ("%(limit)s", "%(name)s", "%(zone)s", "%(count)s", "%(size)s", "%(lat)s"):
            assert (placeholder in entry.id) == (placeholder in entry.string), entry.id


def test_gettext_and_city_time() -> None:
    assert gettext("zh", "Sign in") == "登录"
    assert gettext("en", "Sign in") == "Sign in"
    assert gettext("zh", "At most %(limit)s characters.", limit=5) == "最多 5 个字。"
    noon_utc = dt.datetime(2024, 3, 1, 4, 0, tzinfo=dt.UTC)
    assert local_time(noon_utc, "Asia/Shanghai", "zh") == "2024-03-01 12:00"
    assert local_time(noon_utc, "Europe/London", "en") == "2024-03-01 04:00"
    assert local_time(None, "Asia/Shanghai", "en") == ""
