"""Who sees and does what: scoping by unit subtree, residents' own requests, masked contact details, list filters
and pagination, through the API and the service, on both databases."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.db import get_sessionmaker
from chengzhi.errors import Forbidden
from chengzhi.jobs.service import run_job
from chengzhi.org.models import Role, User
from chengzhi.org.service import issue_token
from chengzhi.requests import access
from chengzhi.requests import service as svc
from chengzhi.requests.models import Request, RequestUnit
from chengzhi.requests.steps import allowed_for

from .conftest import auth
from .factories import City, make_user
from .steps import actor, dispatch, submit

NOW = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)  # a Monday morning in Beijing
PHONE = "13912345678"
USERNAMES = [
    "operator",
    "dispatcher",
    "supervisor",
    "leader",
    "admin",
    "resident",
    "resident2",
    "d1-dispatcher",
    "d1s1-handler",
    "d1s2-handler",
    "d1s1c1-handler",
    "d1-water-handler",
    "d2-supervisor",
    "credit-officer",
    "knowledge-editor",
]
# Roles of other domains, granted at the city unit: they work on no request, so they read none.
OTHER_DOMAIN_ROLES = {"credit-officer": Role.credit_officer, "knowledge-editor": Role.knowledge_editor}
CITY_ROLES = ["operator", "dispatcher", "supervisor", "leader", "admin"]

# Who sees which of the five requests of `world` (derived from the tree in tests/factories.py):
#   A: resident's litter in D1S1C1, led by D1S1C1 (signed)      B: resident2's road damage in D1S2, led by D1S2
#   C: resident's litter in D2S1C1, led by D2S1C1               E: resident's litter in D1S2C2, led by D1S2C2,
#   D: a phone consultation taken by the operator, not dispatched   with D1S1C1 summoned as a co-unit
VISIBLE = {
    **{name: set("ABCDE") for name in CITY_ROLES},
    "resident": set("ACE"),
    "resident2": set("B"),
    "d1-dispatcher": set("ABE"),
    "d1s1-handler": set("AE"),
    "d1s2-handler": set("BE"),
    "d1s1c1-handler": set("AE"),
    "d1-water-handler": set(),
    "d2-supervisor": set("C"),
    "credit-officer": set(),
    "knowledge-editor": set(),
}
# Who sees request A's contact details in full.
SEES_CONTACT_OF_A = {"resident", "d1s1c1-handler", "operator", "supervisor"}


@dataclass
class World:
    refs: dict[str, str]  # letter -> tracking number
    ids: dict[str, int]
    units: dict[str, int]  # unit code -> id
    headers: dict[str, dict[str, str]]

    def letter(self, request_id: int) -> str:
        return {v: k for k, v in self.ids.items()}[request_id]


@pytest.fixture
def world(settings: Settings, city: City) -> Iterator[World]:
    factory = get_sessionmaker(settings.database_url)
    with factory() as session, session.begin():
        for username, role in OTHER_DOMAIN_ROLES.items():
            make_user(session, city, username, role, "city")
        a = submit(session, settings, NOW, by="resident", where="D1S1C1")
        b = submit(
            session, settings, NOW, by="resident2", category="road", where="D1S2C1", phone="13800001111"
        )
        c = submit(session, settings, NOW, by="resident", where="D2S1C1")
        d = svc.submit_request(
            session,
            actor(session, "operator"),
            svc.Submission(text="咨询办事时间", channel="phone", contact_phone="13700002222"),
            settings,
            NOW,
        )
        e = submit(session, settings, NOW, by="resident", where="D1S2C2")
        later = NOW + dt.timedelta(minutes=5)
        dispatch(session, settings, a, "D1S1C1", later)
        dispatch(session, settings, b, "D1S2", later)
        dispatch(session, settings, c, "D2S1C1", later)
        dispatch(session, settings, e, "D1S2C2", later, co=("D1S1C1",))
        svc.sign_request(session, actor(session, "d1s1c1-handler"), a, NOW + dt.timedelta(hours=1))
        requests = {"A": a, "B": b, "C": c, "D": d, "E": e}
        headers = {}
        for name in USERNAMES:
            user = session.scalar(select(User).where(User.username == name))
            assert user is not None
            token, _ = issue_token(session, user, days=1)
            headers[name] = {"Authorization": f"Bearer {token}"}
        built = World(
            refs={k: r.tracking_number for k, r in requests.items()},
            ids={k: r.id for k, r in requests.items()},
            units={code: unit.id for code, unit in city.units.items()},
            headers=headers,
        )
    yield built


def listed(client: TestClient, world: World, username: str, **params: object) -> list[str]:
    """Every request the list endpoint gives `username`, following next_cursor to the end."""
    letters: list[str] = []
    query: dict[str, object] = {"limit": 2, **params}
    for _ in range(20):
        response = client.get("/api/v1/requests", params=query, headers=world.headers[username])
        assert response.status_code == 200, response.text
        page = response.json()
        letters += [world.letter(item["id"]) for item in page["items"] if item["id"] in world.ids.values()]
        if page["next_cursor"] is None:
            return letters
        query["before"] = page["next_cursor"]
    raise AssertionError("pagination did not end")


def test_each_user_reads_and_lists_exactly_their_scope(client: TestClient, world: World) -> None:
    for username in USERNAMES:
        expected = VISIBLE[username]
        for letter, ref in world.refs.items():
            response = client.get(f"/api/v1/requests/{ref}", headers=world.headers[username])
            assert response.status_code == (200 if letter in expected else 404), (
                username,
                letter,
                response.text,
            )
            if letter not in expected:
                assert response.json()["error"]["code"] == "request_not_found"
            by_id = client.get(f"/api/v1/requests/{world.ids[letter]}", headers=world.headers[username])
            assert by_id.status_code == response.status_code, (username, letter)
        letters = listed(client, world, username)
        assert sorted(letters) == sorted(expected), username  # each visible request exactly once


def test_anonymous_sees_nothing(client: TestClient, world: World) -> None:
    assert client.get("/api/v1/requests").status_code == 401
    for ref in world.refs.values():
        assert client.get(f"/api/v1/requests/{ref}").status_code == 404
    assert client.post(f"/api/v1/requests/{world.refs['A']}/supervise", json={"note": "x"}).status_code == 401


def test_service_scope_matches_the_list_query(session: Session, world: World) -> None:
    """`can_view` (one request) and `visibility_clause` (lists) are two implementations of one rule."""
    for username in [*USERNAMES, None]:
        who = actor(session, username)
        by_query = set(session.scalars(select(Request.id).where(access.visibility_clause(who))))
        by_row = {r.id for r in session.scalars(select(Request)) if access.can_view(session, who, r)}
        assert by_query == by_row, username
        expected = VISIBLE.get(username or "", set())
        assert by_row == {world.ids[letter] for letter in expected}, username


def test_contact_details_are_masked_outside_the_people_who_call_back(
    client: TestClient, world: World
) -> None:
    for username in VISIBLE:
        if "A" not in VISIBLE[username]:
            continue
        contact = client.get(f"/api/v1/requests/{world.refs['A']}", headers=world.headers[username]).json()[
            "contact"
        ]
        if username in SEES_CONTACT_OF_A:
            assert contact == {"name": "张三", "phone": PHONE, "email": "zhang@example.org", "masked": False}
        else:
            assert contact["masked"] is True, username
            assert contact["phone"] == "139****5678"
            assert contact["name"] == "张*"
            assert contact["email"] == "z***@example.org"
        # Lists mask the same way.
        items = client.get("/api/v1/requests", params={"limit": 100}, headers=world.headers[username]).json()
        row = next(i for i in items["items"] if i["id"] == world.ids["A"])
        assert row["contact"]["masked"] is (username not in SEES_CONTACT_OF_A)
    # A co-unit's handler calls the resident too; the supervisor of the district sees its own district's.
    e = client.get(f"/api/v1/requests/{world.refs['E']}", headers=world.headers["d1s1c1-handler"]).json()
    assert e["contact"]["masked"] is False
    c = client.get(f"/api/v1/requests/{world.refs['C']}", headers=world.headers["d2-supervisor"]).json()
    assert c["contact"]["masked"] is False
    # The street above the lead unit sees the request but not the phone number.
    e = client.get(f"/api/v1/requests/{world.refs['E']}", headers=world.headers["d1s2-handler"]).json()
    assert e["contact"]["masked"] is True


def events_of(client: TestClient, world: World, letter: str) -> list[str]:
    response = client.get(
        f"/api/v1/requests/{world.refs[letter]}/events", headers=world.headers["dispatcher"]
    )
    assert response.status_code == 200
    return [e["action"] for e in response.json()]


def test_handlers_cannot_act_outside_their_unit(client: TestClient, world: World) -> None:
    before = {letter: events_of(client, world, letter) for letter in world.refs}
    a = world.refs["A"]
    # Another street's handler: the request does not exist for them.
    for step, body in (("contact", None), ("return", {"reason": "不是我们的"}), ("reply", {"text": "好"})):
        response = client.post(
            f"/api/v1/requests/{a}/{step}", json=body, headers=world.headers["d1s2-handler"]
        )
        assert response.status_code == 404, (step, response.text)
    assert (
        client.post(f"/api/v1/requests/{a}/contact", headers=world.headers["d1-water-handler"]).status_code
        == 404
    )
    # The street above the lead community sees it but is not the lead unit: 403.
    response = client.post(f"/api/v1/requests/{a}/contact", headers=world.headers["d1s1-handler"])
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "out_of_scope"
    # A co-unit's handler helps but does not sign for the lead.
    e = world.refs["E"]
    response = client.post(f"/api/v1/requests/{e}/sign", headers=world.headers["d1s1c1-handler"])
    assert response.status_code == 403
    # A resident cannot supervise their own request; another resident cannot even rate it.
    response = client.post(
        f"/api/v1/requests/{a}/supervise", json={"note": "快"}, headers=world.headers["resident"]
    )
    assert response.status_code == 403
    response = client.post(
        f"/api/v1/requests/{a}/review",
        json={"resolved": True, "satisfaction": 5},
        headers=world.headers["resident2"],
    )
    assert response.status_code == 404
    # The district dispatcher cannot touch what the city hub has not sent down yet.
    d = world.refs["D"]
    response = client.post(
        f"/api/v1/requests/{d}/dispatch",
        json={"lead_unit_id": world.units["D1S1"]},
        headers=world.headers["d1-dispatcher"],
    )
    assert response.status_code == 404
    after = {letter: events_of(client, world, letter) for letter in world.refs}
    assert after == before  # nothing refused left a trace
    # The lead unit's handler can.
    response = client.post(f"/api/v1/requests/{a}/contact", headers=world.headers["d1s1c1-handler"])
    assert response.status_code == 200, response.text


def test_supervisors_supervise_only_their_district(client: TestClient, world: World) -> None:
    note = {"note": "请加快办理"}
    a, c = world.refs["A"], world.refs["C"]
    assert (
        client.post(
            f"/api/v1/requests/{a}/supervise", json=note, headers=world.headers["d2-supervisor"]
        ).status_code
        == 404
    )
    response = client.post(
        f"/api/v1/requests/{c}/supervise", json=note, headers=world.headers["d2-supervisor"]
    )
    assert response.status_code == 200, response.text
    assert response.json()["events"][-1]["action"] == "supervise"
    for city_role in ("supervisor", "leader"):
        response = client.post(f"/api/v1/requests/{a}/supervise", json=note, headers=world.headers[city_role])
        assert response.status_code == 200, (city_role, response.text)
    # A dispatcher sees the request but supervising is not a dispatcher's job.
    response = client.post(f"/api/v1/requests/{a}/supervise", json=note, headers=world.headers["dispatcher"])
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden_role"


def test_service_refuses_out_of_scope_steps(session: Session, settings: Settings, world: World) -> None:
    a = session.get(Request, world.ids["A"])
    d = session.get(Request, world.ids["D"])
    assert a is not None and d is not None
    with pytest.raises(Forbidden) as refused:
        svc.contact_resident(session, actor(session, "d1s2-handler"), a, None, NOW + dt.timedelta(hours=2))
    assert refused.value.code == "out_of_scope"
    with pytest.raises(Forbidden) as refused:
        svc.dispatch_request(
            session, actor(session, "d1-dispatcher"), d, world.units["D1S1"], settings, now=NOW
        )
    assert refused.value.code == "out_of_scope"
    with pytest.raises(Forbidden):
        svc.supervise_request(
            session, actor(session, "d2-supervisor"), a, "督办", NOW + dt.timedelta(hours=2)
        )
    # Merging touches both requests: a district dispatcher cannot append to another district's request.
    c = session.get(Request, world.ids["C"])
    e = session.get(Request, world.ids["E"])
    assert c is not None and e is not None
    c_events = c.event_count
    with pytest.raises(Forbidden):
        svc.merge_request(session, actor(session, "d1-dispatcher"), a, c, None, NOW + dt.timedelta(hours=2))
    assert c.event_count == c_events and c.issue_id is None
    svc.merge_request(session, actor(session, "d1-dispatcher"), a, e, None, NOW + dt.timedelta(hours=2))
    assert a.issue_id == e.issue_id is not None
    assert allowed_for(session, actor(session, "d1s2-handler"), a) == []
    assert "contact" in allowed_for(session, actor(session, "d1s1c1-handler"), a)
    session.rollback()


# ---------------------------------------------------------------- list filters and pagination


def test_list_filters(client: TestClient, settings: Settings, world: World) -> None:
    # Three hours after dispatch the sign stage of B, C and E ran out; A was signed in time.
    assert run_job(get_sessionmaker(settings.database_url), settings, "overdue", NOW + dt.timedelta(hours=3))
    cases: list[tuple[dict[str, object], str]] = [
        ({"status": "dispatched"}, "BCE"),
        ({"status": "received"}, "D"),
        ({"status": ["received", "signed"]}, "AD"),
        ({"category": "litter"}, "ACE"),
        ({"category": "road"}, "B"),
        ({"overdue": "true"}, "BCE"),
        ({"overdue": "false"}, "AD"),
        ({"status": "dispatched", "category": "litter", "overdue": "true"}, "CE"),
        ({"channel": "phone"}, "D"),
    ]
    for params, expected in cases:
        assert sorted(listed(client, world, "dispatcher", **params)) == sorted(expected), params
    assert listed(client, world, "dispatcher", unit_id=world.units["D1S2"]) == ["B"]
    assert listed(client, world, "dispatcher", unit_id=world.units["D1S1"]) == []
    # Filters narrow a scope, never widen it.
    assert sorted(listed(client, world, "d1-dispatcher", overdue="true")) == ["B", "E"]
    assert listed(client, world, "resident2", category="litter") == []
    response = client.get("/api/v1/requests", params={"status": "lost"}, headers=world.headers["dispatcher"])
    assert response.status_code == 422


@pytest.mark.parametrize("limit", [1, 3, 4, 7, 100])
def test_pagination_returns_every_item_exactly_once(
    client: TestClient, settings: Settings, world: World, limit: int
) -> None:
    with get_sessionmaker(settings.database_url)() as session, session.begin():
        for n in range(9):
            submit(session, settings, NOW + dt.timedelta(minutes=n), by="resident", where="D1S2C1")
        expected = set(session.scalars(select(Request.id)))
    assert len(expected) == 14
    seen: list[int] = []
    query: dict[str, object] = {"limit": limit}
    pages = 0
    while True:
        page = client.get("/api/v1/requests", params=query, headers=world.headers["leader"]).json()
        pages += 1
        assert len(page["items"]) <= limit
        ids = [item["id"] for item in page["items"]]
        assert ids == sorted(ids, reverse=True)  # newest first
        seen += ids
        if page["next_cursor"] is None:
            break
        assert len(ids) == limit  # only a full page announces more
        query["before"] = page["next_cursor"]
        assert pages < 50
    assert sorted(seen) == sorted(expected)
    assert len(seen) == len(set(seen))
    assert pages == -(-len(expected) // limit)  # no empty trailing page
    # The resident pages through only their own.
    mine = listed(client, world, "resident")
    assert sorted(mine) == ["A", "C", "E"]


def test_redispatch_keeps_former_holders_in_scope_but_not_in_charge(
    session: Session, settings: Settings, world: World
) -> None:
    a = session.get(Request, world.ids["A"])
    assert a is not None
    handler = actor(session, "d1s1c1-handler")
    svc.return_request(session, handler, a, "不属于本社区", NOW + dt.timedelta(hours=2))
    dispatch(session, settings, a, "D1S2", NOW + dt.timedelta(hours=3), co=("D1-water",))
    session.commit()
    held = {
        (u.unit_id, u.role)
        for u in session.scalars(select(RequestUnit).where(RequestUnit.request_id == a.id))
    }
    units = world.units
    assert held == {
        (units["city"], "hub"),
        (units["D1S1C1"], "former"),
        (units["D1S2"], "lead"),
        (units["D1-water"], "co"),
    }
    assert access.can_view(session, handler, a)  # the former lead still sees what it handed back
    assert allowed_for(session, handler, a) == []
    assert not access.sees_contact(session, handler, a)
    new_lead = actor(session, "d1s2-handler")
    assert "sign" in allowed_for(session, new_lead, a)
    assert access.sees_contact(session, new_lead, a)


def test_only_a_citys_admin_may_add_a_root_unit(client: TestClient, session: Session, city: City) -> None:
    from chengzhi.org.models import Role

    from .factories import make_user

    make_user(session, city, "d1-admin", Role.admin, "D1")
    session.commit()
    body = {"code": "other-city", "name_zh": "他市", "name_en": "Other City", "kind": "city"}
    refused = client.post("/api/v1/units", json=body, headers=auth(client, "d1-admin"))
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "out_of_scope"
    allowed = client.post("/api/v1/units", json=body, headers=auth(client, "admin"))
    assert allowed.status_code == 201, allowed.text
