"""Migration 0033 (identity) with rows present, on both databases: a second factor stored plain at 0028 survives the
widening of `second_factors.secret` and still reads; a sealed secret (longer than the old column) fits; going down
refuses to cut a sealed secret and, once there is none, restores the old column with the rows kept."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from chengzhi.db import make_engine
from chengzhi.migrate import downgrade, upgrade
from chengzhi.security.secretbox import seal

from .test_migrations import _diff, _tables, empty_url  # noqa: F401 (the fixture)

WHEN = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)
PLAIN = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def _execute(url: str, sql: str, **params: object) -> list[tuple[object, ...]]:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(sql), params)
            return [tuple(r) for r in result] if result.returns_rows else []
    finally:
        engine.dispose()


def test_0033_keeps_second_factors_and_refuses_to_cut_sealed_ones(empty_url: str) -> None:  # noqa: F811
    upgrade(empty_url, "0028")
    sqlite = empty_url.startswith("sqlite")
    when = WHEN.replace(tzinfo=None).isoformat(" ") if sqlite else WHEN
    _execute(
        empty_url,
        "INSERT INTO users (id, username, display_name, language, active, created_at) "
        "VALUES (1, 'dispatcher', 'D', 'zh', :yes, :when)",
        yes=True,
        when=when,
    )
    _execute(
        empty_url,
        "INSERT INTO second_factors (user_id, secret, last_step, created_at) VALUES (1, :secret, 7, :when)",
        secret=PLAIN,
        when=when,
    )
    upgrade(empty_url, "0033")
    assert {"detail_sharing", "detail_views"} <= _tables(empty_url)
    assert _execute(empty_url, "SELECT user_id, secret, last_step FROM second_factors") == [(1, PLAIN, 7)]
    sealed = seal(PLAIN, "a-secret-key-" + "x" * 30)
    assert len(sealed) > 64
    _execute(empty_url, "UPDATE second_factors SET secret = :s", s=sealed)
    assert _execute(empty_url, "SELECT secret FROM second_factors") == [(sealed,)]

    with pytest.raises(RuntimeError, match="sealed TOTP secrets"):
        downgrade(empty_url, "0028")
    _execute(empty_url, "UPDATE second_factors SET secret = :s", s=PLAIN)
    downgrade(empty_url, "0028")
    assert "detail_views" not in _tables(empty_url)
    assert _execute(empty_url, "SELECT user_id, secret FROM second_factors") == [(1, PLAIN)]
    upgrade(empty_url)
    assert _diff(empty_url) == []
