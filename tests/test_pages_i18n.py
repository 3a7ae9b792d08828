"""The pages' translation helpers. The catalogues themselves (pages, API errors, domain labels) are checked in
tests/test_i18n.py."""

from __future__ import annotations

import datetime as dt

from chengzhi.web.i18n import gettext, local_time


def test_gettext_and_city_time() -> None:
    assert gettext("zh", "Sign in") == "登录"
    assert gettext("en", "Sign in") == "Sign in"
    assert gettext("zh", "At most %(limit)s characters.", limit=5) == "最多 5 个字。"
    noon_utc = dt.datetime(2024, 3, 1, 4, 0, tzinfo=dt.UTC)
    assert local_time(noon_utc, "Asia/Shanghai", "zh") == "2024-03-01 12:00"
    assert local_time(noon_utc, "Europe/London", "en") == "2024-03-01 04:00"
    assert local_time(None, "Asia/Shanghai", "en") == ""
