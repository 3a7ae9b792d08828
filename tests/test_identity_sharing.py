"""Units never ask a resident again for what the platform already holds: the resident chooses which verified details
the units handling their requests may see; staff who must reach the resident see them after pressing a button, and
every viewing is recorded (who, which unit, which request, which details, when), shown to the resident and to staff."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.db import utcnow
from chengzhi.identity.models import DetailView
from chengzhi.org.models import User

from .conftest import auth
from .factories import PASSWORD, City
from .test_api_errors import SUBMIT, created_number, valid_submission
from .test_identity_space import PHONE, _csrf, sign_in, verify_phone

REAL_NAME = "王小明"


def _resident_request(client: TestClient) -> str:
    token = client.post("/api/v1/auth/token", json={"username": "resident", "password": PASSWORD}).json()
    return created_number(
        client.post(
            SUBMIT,
            json=valid_submission(contact_phone=None, contact_name=None),
            headers={"Authorization": f"Bearer {token['access_token']}"},
        )
    )


def _real_name_verified(session: Session) -> None:
    session.commit()  # a fresh snapshot: SQLite refuses a write from a read transaction older than the last commit
    user = session.scalars(select(User).where(User.username == "resident")).one()
    user.display_name, user.real_name_verified_at = REAL_NAME, utcnow()
    session.commit()


def _switch(client: TestClient, username: str) -> None:
    client.cookies.clear()
    sign_in(client, username)


def _views(session: Session) -> list[DetailView]:
    session.commit()
    return list(session.scalars(select(DetailView).order_by(DetailView.id)))


def test_shared_details_are_shown_to_the_unit_and_every_viewing_is_logged(
    client: TestClient, city: City, session: Session
) -> None:
    number = _resident_request(client)
    sign_in(client, "resident")
    verify_phone(client, session, "/me")
    _real_name_verified(session)
    page = f"/staff/requests/{number}/resident"

    # Nothing is shared until the resident chooses.
    _switch(client, "operator")
    assert 'id="resident-details"' in client.get(f"/staff/requests/{number}").text
    assert 'id="nothing-shared"' in client.get(page).text

    _switch(client, "resident")
    me = client.get("/me")
    assert 'id="sharing"' in me.text and REAL_NAME in me.text
    chosen = client.post(
        "/me/sharing",
        data={"csrf_token": _csrf(me.text), "name": "on", "phone": "on"},
        follow_redirects=False,
    )
    assert chosen.headers["location"] == "/me?done=saved#sharing"

    # The unit sees which details are offered, not their values, and nothing is recorded by looking at that.
    _switch(client, "operator")
    offered = client.get(page)
    assert offered.status_code == 200 and 'id="show-details"' in offered.text
    assert PHONE not in offered.text and REAL_NAME not in offered.text
    assert _views(session) == []
    shown = client.post(page, data={"csrf_token": _csrf(offered.text)})
    assert shown.status_code == 200 and 'id="shared-details"' in shown.text
    assert PHONE in shown.text and REAL_NAME in shown.text
    assert shown.headers["cache-control"] == "no-store"
    views = _views(session)
    operator = city.users["operator"]
    assert [(v.viewer_id, v.viewer_unit_id, v.resident_id, v.fields) for v in views] == [
        (operator.id, city.unit("city").id, city.users["resident"].id, ["name", "phone"])
    ]
    assert 'id="detail-views"' in client.get(page).text, "staff see who looked"

    # A forged form (no CSRF token) shows and records nothing.
    refused = client.post(page, data={"csrf_token": "forged"})
    assert refused.status_code == 422 and PHONE not in refused.text and len(_views(session)) == 1

    # The resident sees which unit looked, when, for which request and which details; the export holds the same,
    # never the values.
    _switch(client, "resident")
    mine = client.get("/me")
    assert 'id="my-detail-views"' in mine.text and city.unit("city").name("zh") in mine.text
    listed = mine.text.split('id="my-detail-views"')[1].split("</ul>")[0]
    assert number in listed and "实名" in listed and "phone" not in listed, "the details named in Chinese"
    exported = client.get("/me/export.json").json()
    assert exported["sharing"] == {"name": True, "phone": True, "email": False}
    assert [(v["request"], v["fields"]) for v in exported["detail_views"]] == [(number, ["name", "phone"])]
    table = list(csv.reader(io.StringIO(client.get("/me/export.csv").text)))
    assert ["sharing", "", "phone", "True"] in table and ["detail_views", "1", "request", number] in table
    assert "share" in [e["action"] for e in exported["data_rights_trace"]]

    # Withdrawn: the unit sees nothing any more, and nothing more is recorded.
    client.post("/me/sharing", data={"csrf_token": _csrf(mine.text)})
    _switch(client, "operator")
    after = client.post(page, data={"csrf_token": _csrf(client.get(page).text)})
    assert 'id="nothing-shared"' in after.text and PHONE not in after.text
    assert len(_views(session)) == 1


def test_only_the_people_who_must_reach_the_resident_see_the_details(
    client: TestClient, city: City, session: Session
) -> None:
    number = _resident_request(client)
    sign_in(client, "resident")
    verify_phone(client, session, "/me")
    client.post("/me/sharing", data={"csrf_token": _csrf(client.get("/me").text), "phone": "on"})
    page = f"/staff/requests/{number}/resident"

    client.cookies.clear()
    assert client.get(page, follow_redirects=False).headers["location"].startswith("/login?next=")
    _switch(client, "leader")  # reads the request, does not see contact details
    assert client.get(page).status_code == 403
    assert client.post(page, data={"csrf_token": _csrf(client.get("/me").text)}).status_code == 403
    _switch(client, "resident2")  # cannot see the request at all
    assert client.get(page).status_code == 404
    _switch(client, "resident")  # the resident's own request: their details are in /me, not here
    assert client.get(page).status_code == 403
    _switch(client, "d1-dispatcher")  # a unit that does not hold the request
    assert client.get(page).status_code in (403, 404)
    assert _views(session) == []
    assert 'id="resident-details"' not in client.get(f"/staff/requests/{number}").text


def test_a_request_without_an_account_has_nothing_to_share(client: TestClient, city: City) -> None:
    token = client.post("/api/v1/auth/token", json={"username": "operator", "password": PASSWORD}).json()
    number = created_number(
        client.post(
            SUBMIT,
            json=valid_submission(channel="phone", contact_phone=PHONE),
            headers={"Authorization": f"Bearer {token['access_token']}"},
        )
    )
    sign_in(client, "operator")
    assert 'id="no-account"' in client.get(f"/staff/requests/{number}/resident").text


def test_a_name_verified_by_a_provider_is_not_corrected_here(
    client: TestClient, city: City, session: Session
) -> None:
    _real_name_verified(session)
    sign_in(client, "resident")
    verify_phone(client, session, "/me")
    csrf = _csrf(client.get("/me").text)
    refused = client.post(
        "/me/correct", data={"csrf_token": csrf, "display_name": "别人"}, follow_redirects=False
    )
    assert refused.headers["location"] == "/me?done=name_verified"
    session.commit()
    user = session.scalars(select(User).where(User.username == "resident")).one()
    session.refresh(user)
    assert user.display_name == REAL_NAME
    assert "identity provider" in client.get("/me?done=name_verified&lang=en").text


def test_the_api_offers_shows_and_logs_like_the_page(
    client: TestClient, city: City, session: Session
) -> None:
    number = _resident_request(client)
    sign_in(client, "resident")
    verify_phone(client, session, "/me")
    client.post("/me/sharing", data={"csrf_token": _csrf(client.get("/me").text), "phone": "on"})
    client.cookies.clear()
    base = f"/api/v1/requests/{number}/resident"
    operator = auth(client, "operator")
    offered = client.get(base, headers=operator).json()
    assert offered == {"has_account": True, "offered": ["phone"], "details": {}, "identity_level": 1}
    assert _views(session) == []
    shown = client.post(f"{base}/view", headers=operator)
    assert shown.status_code == 200 and shown.json()["details"] == {"phone": PHONE}
    logged = client.get(f"{base}/views", headers=operator).json()
    assert [(v["viewer"], v["fields"]) for v in logged] == [("operator", ["phone"])]
    assert len(_views(session)) == 1
    assert client.post(f"{base}/view").status_code == 401
    leader = client.post(f"{base}/view", headers=auth(client, "leader"))
    assert leader.status_code == 403 and leader.json()["error"]["code"] == "forbidden_role"
    assert client.get(base, headers=auth(client, "resident2")).status_code == 404
    assert len(_views(session)) == 1
