"""Intake's shortcuts (both databases) write and answer exactly what the longer ways did: the facts of a request
just received are derived from memory and equal a refresh from its stored log."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.metrics import facts
from chengzhi.metrics.models import RequestFact

from .factories import City
from .steps import dispatch, submit

NOW = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)


def _facts_row(session: Session, request_id: int) -> dict[str, Any]:
    row = session.execute(select(RequestFact).where(RequestFact.request_id == request_id)).scalar_one()
    values = {c.key: getattr(row, c.key) for c in RequestFact.__table__.columns if c.key != "refreshed_at"}
    session.expunge(row)
    return values


def _refreshed(session: Session, request_id: int) -> dict[str, Any]:
    facts.refresh(session.connection(), [request_id])
    return _facts_row(session, request_id)


def test_facts_of_a_request_just_received_equal_a_refresh_from_its_log(
    session: Session, settings: Settings, city: City, monkeypatch: pytest.MonkeyPatch
) -> None:
    refreshed: list[int] = []
    refresh = facts.refresh

    def counting(conn: Any, ids: Any, ctx: Any = None) -> int:
        refreshed.extend(ids)
        return refresh(conn, ids, ctx)

    monkeypatch.setattr(facts, "refresh", counting)
    shanghai = dt.timezone(dt.timedelta(hours=8))
    with session.begin():
        received = submit(session, settings, NOW.astimezone(shanghai), where="D2S1C2")
        later = submit(session, settings, NOW, category=None, by="operator")
        session.flush()
        assert refreshed == []  # written from memory
        fresh = [_facts_row(session, r.id) for r in (received, later)]
        assert fresh[0]["event_count"] == 1 and fresh[0]["area_district_id"] is not None
        assert fresh == [_refreshed(session, r.id) for r in (received, later)]
        # A later event is not the whole log: that flush refreshes from the database.
        refreshed.clear()
        dispatch(session, settings, received, "D2S1C2", NOW + dt.timedelta(minutes=5))
        session.flush()
        assert refreshed == [received.id]
        dispatched = _facts_row(session, received.id)
        assert dispatched["event_count"] == 2 and dispatched["dispatched"]
        assert dispatched == _refreshed(session, received.id)
