"""Intake's shortcuts (both databases) write and answer exactly what the longer ways did: intake leaves the facts
to the triage worker, whose facts equal a refresh from the stored log; the actor of an API token is read in one
query; intake tells which units hold the request it received; automatic dispatch by the worker writes the rows a
dispatch writes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.db import utcnow
from chengzhi.errors import NotAuthenticated
from chengzhi.metrics import facts
from chengzhi.metrics.models import RequestFact
from chengzhi.org.models import Role, RoleAssignment, User
from chengzhi.org.service import actor_for, actor_for_token, create_user, issue_token
from chengzhi.requests import access
from chengzhi.requests import service as svc
from chengzhi.requests.models import Request, RequestUnit

from .conftest import triage
from .factories import City
from .steps import POINTS, actor, dispatch, submit
from .test_auto_dispatch import _submit as submit_sure
from .test_auto_dispatch import active, model  # noqa: F401 - fixtures

NOW = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)


def _facts_row(session: Session, request_id: int) -> dict[str, Any]:
    row = session.execute(select(RequestFact).where(RequestFact.request_id == request_id)).scalar_one()
    values = {c.key: getattr(row, c.key) for c in RequestFact.__table__.columns if c.key != "refreshed_at"}
    session.expunge(row)
    return values


def _refreshed(session: Session, request_id: int) -> dict[str, Any]:
    facts.refresh(session.connection(), [request_id])
    return _facts_row(session, request_id)


@pytest.mark.being_triaged
def test_intake_leaves_the_facts_to_the_triage_worker_which_writes_what_a_refresh_does(
    session: Session, settings: Settings, city: City
) -> None:
    shanghai = dt.timezone(dt.timedelta(hours=8))
    with session.begin():
        received = submit(session, settings, NOW.astimezone(shanghai), where="D2S1C2")
        later = submit(session, settings, NOW, category=None, by="operator")
        session.flush()
        facts_rows = select(RequestFact).where(RequestFact.request_id.in_([received.id, later.id]))
        assert session.execute(facts_rows).first() is None  # not in intake's transaction
        assert received.triage_pending and later.triage_pending
    assert triage(settings) == 2
    session.expire_all()
    with session.begin():
        fresh = [_facts_row(session, r.id) for r in (received, later)]
        assert fresh[0]["event_count"] == 1 and fresh[0]["area_district_id"] is not None
        assert fresh == [_refreshed(session, r.id) for r in (received, later)]
        assert not received.triage_pending and received.triaged_at is not None
    # A person's later step refreshes the facts in its own transaction.
    with session.begin():
        dispatch(session, settings, received, "D2S1C2", NOW + dt.timedelta(minutes=5))
        session.flush()
        dispatched = _facts_row(session, received.id)
        assert dispatched["event_count"] == 2 and dispatched["dispatched"]
        assert dispatched == _refreshed(session, received.id)


def test_actor_for_token_is_the_actor_of_the_tokens_user(session: Session, city: City) -> None:
    with session.begin():
        dispatcher = city.users["dispatcher"]
        # A second role and a user without any: one row per role, and none.
        session.add(RoleAssignment(user_id=dispatcher.id, unit_id=city.unit("D1").id, role=Role.supervisor))
        nobody = create_user(session, username="nobody", display_name="无角色", password=None)
        tokens = {
            username: issue_token(session, user, days=1)
            for username, user in (
                ("dispatcher", dispatcher),
                ("resident", city.users["resident"]),
                ("nobody", nobody),
            )
        }
    with session.begin():
        for username, (token, record) in tokens.items():
            user = session.get(User, record.user_id)
            assert user is not None
            expected = actor_for(user)
            got = actor_for_token(session, token)
            assert (got.user_id, got.username, got.display_name) == (
                expected.user_id,
                expected.username,
                expected.display_name,
            ), username
            assert sorted(got.grants, key=repr) == sorted(expected.grants, key=repr), username
            assert got.primary_unit_id == expected.primary_unit_id
        assert len(actor_for_token(session, tokens["dispatcher"][0]).grants) == 2
        assert actor_for_token(session, tokens["nobody"][0]).grants == ()
    with session.begin():
        tokens["dispatcher"][1].revoked = True
        tokens["resident"][1].expires_at = utcnow() - dt.timedelta(seconds=1)
        nobody.active = False
    with session.begin():
        for token, _record in tokens.values():
            with pytest.raises(NotAuthenticated):
                actor_for_token(session, token)
        with pytest.raises(NotAuthenticated):
            actor_for_token(session, "czt_unknown")


def test_units_holding_a_request_just_received_are_known_without_a_query(
    session: Session, settings: Settings, city: City
) -> None:
    with session.begin():
        lon, lat = POINTS["D1S1C1"]
        data = svc.Submission(text="路面有大坑", lat=lat, lon=lon, contact_phone="13912345678")
        received = svc.receive(session, actor(session, "resident"), data, settings, NOW)
        assert received.hub_path == city.unit("city").path
        request = session.get(Request, received.row["id"])
        assert request is not None and request.tracking_number == received.row["tracking_number"]
        assert [received.hub_path] == access.unit_paths_of(session, request)


def test_automatic_dispatch_by_the_worker_writes_what_a_dispatch_does(
    session: Session,
    active: Settings,  # noqa: F811 - the fixture
    city: City,
) -> None:
    request = submit_sure(session, active, "新华小区停水3天了，请尽快处理")  # committed, then triaged
    assert request.status == "dispatched"
    assert len(access.unit_paths_of(session, request)) == 2
    holders = session.execute(
        select(RequestUnit.role, RequestUnit.unit_id, RequestUnit.unit_path).where(
            RequestUnit.request_id == request.id
        )
    ).all()
    water = city.unit("D1-water")
    assert sorted(holders) == sorted(
        [("hub", city.unit("city").id, city.unit("city").path), ("lead", water.id, water.path)]
    )
    stored = _facts_row(session, request.id)
    assert stored["dispatched"] and stored["event_count"] == 2
    assert stored == _refreshed(session, request.id)
