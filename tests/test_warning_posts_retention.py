"""Retention of outside posts (both databases): the retention job deletes the posts older than
`CHENGZHI_RETENTION_MONTHS` (`warning.posts.prune`, registered with the job's cut-off), and a post already older
than that is not stored when it arrives (counted as `expired` in the ingest answer); retention off keeps them."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.db import utcnow
from chengzhi.requests.retention import anonymise_expired
from chengzhi.security.periods import months_before, retention_cutoff
from chengzhi.warning import posts
from chengzhi.warning.models import OutsidePost

from .conftest import auth
from .factories import City


def _post(n: int, at: dt.datetime) -> posts.PostIn:
    return posts.PostIn(f"e{n}", f"青松花园噪音{n}", "烧烤店噪音扰民。", None, f"a{n}", at)


def _stored(session: Session) -> set[str]:
    return set(session.scalars(select(OutsidePost.external_id)))


def test_the_retention_job_deletes_old_posts(session: Session, settings: Settings, city: City) -> None:
    now = utcnow()
    kept = settings.model_copy(update={"retention_months": 0})  # stored first whatever their age
    posts.ingest(
        session,
        kept,
        "board",
        [
            _post(1, months_before(now, 40)),
            _post(2, months_before(now, 37)),
            _post(3, months_before(now, 35)),
        ],
        now,
    )
    session.commit()
    assert _stored(session) == {"e1", "e2", "e3"}
    # Retention off: the job keeps them.
    assert anonymise_expired(session, kept, now).get("outside_posts_deleted") is None
    session.commit()
    assert _stored(session) == {"e1", "e2", "e3"}
    result = anonymise_expired(session, settings.model_copy(update={"retention_months": 36}), now)
    session.commit()
    assert result["outside_posts_deleted"] == 2
    assert _stored(session) == {"e3"}
    # Nothing more to do: nothing reported.
    again = anonymise_expired(session, settings.model_copy(update={"retention_months": 36}), now)
    assert "outside_posts_deleted" not in again


def test_posts_older_than_the_period_are_not_stored(
    session: Session, settings: Settings, city: City, client: TestClient
) -> None:
    now = utcnow()
    months = settings.model_copy(update={"retention_months": 12})
    found = posts.ingest(
        session, months, "board", [_post(1, months_before(now, 13)), _post(2, months_before(now, 11))], now
    )
    session.commit()
    assert found.as_dict() == {"added": 1, "duplicates": 0, "skipped": 0, "expired": 1}
    assert _stored(session) == {"e2"}
    session.rollback()  # a new snapshot for what the API writes
    # Through the API, with the default period (36 months): a row of 2019 is expired, one of last week stored.
    recent = (now - dt.timedelta(days=7)).strftime("%Y-%m-%d %H:%M:%S")
    csv = (
        "message_id,user,title,detail,time,likes,dislikes\n"
        "old,赵六,幸福路路灯不亮,幸福路路灯坏了。,2019-01-05 20:00:00,1,0\n"
        f"new,钱七,幸福路路灯全黑,幸福路晚上路灯不亮。,{recent},0,0\n"
    )
    files = {"file": ("board.csv", csv.encode("utf-8"), "text/csv")}
    answer = client.post(
        "/api/v1/warning/posts", data={"source": "论坛"}, files=files, headers=auth(client, "admin")
    )
    assert answer.status_code == 201, answer.text
    assert answer.json() == {"source": "论坛", "added": 1, "duplicates": 0, "skipped": 0, "expired": 1}
    session.rollback()
    assert session.scalar(select(func.count()).where(OutsidePost.source == "论坛")) == 1


def test_the_cutoff_follows_the_setting(settings: Settings) -> None:
    at = dt.datetime(2026, 3, 31, 12, 0, tzinfo=dt.UTC)
    assert retention_cutoff(settings.model_copy(update={"retention_months": 0}), at) is None
    assert retention_cutoff(settings.model_copy(update={"retention_months": 1}), at) == dt.datetime(
        2026, 2, 28, 12, 0, tzinfo=dt.UTC
    )
