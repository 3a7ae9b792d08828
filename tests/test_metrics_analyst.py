"""The analyst role: granted by an administrator, reads the dashboards and drill-down lists of its unit's subtree,
sees residents' personal data masked, and can act on nothing."""

from __future__ import annotations

import datetime as dt
import re

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.org.models import Role, User

from .conftest import auth
from .factories import City, make_user
from .steps import dispatch, submit, unit_id
from .test_metrics import SPAN
from .test_pages_staff import sign_in

PHONE = "13912345678"


def _csrf(client: TestClient, path: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert found
    return found.group(1)


def test_an_administrator_grants_the_analyst_role(client: TestClient, city: City, session: Session) -> None:
    sign_in(client, "admin")
    target = session.scalar(select(User).where(User.username == "d1s1-handler"))
    assert target is not None
    page = client.get(f"/staff/admin/users/{target.id}")
    assert page.status_code == 200
    assert ("analyst", "分析员") in {(c.value, c.label) for c in page.context["page"].roles}
    granted = client.post(
        f"/staff/admin/users/{target.id}/roles",
        data={
            "csrf_token": _csrf(client, f"/staff/admin/users/{target.id}"),
            "role": "analyst",
            "unit": str(unit_id(session, "D1")),
        },
        follow_redirects=False,
    )
    assert granted.status_code == 303, granted.text[:300]
    session.rollback()  # a fresh snapshot of what the pages wrote
    assert (Role.analyst, "D1") in {(r.role, r.unit.code) for r in target.roles}
    english = client.get(f"/staff/admin/users/{target.id}", headers={"Accept-Language": "en"})
    assert "Analyst" in {h.role for h in english.context["page"].held} or "Analyst" in english.text


def test_an_analyst_reads_the_dashboards_of_its_subtree_only(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    make_user(session, city, "d1-analyst", Role.analyst, "D1")
    now = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    request = submit(session, settings, now, where="D1S1C1", phone=PHONE)
    dispatch(session, settings, request, "D1S1C1", now + dt.timedelta(minutes=5))
    session.commit()
    headers = auth(client, "d1-analyst")
    d1, d2 = str(unit_id(session, "D1")), str(unit_id(session, "D2"))
    mine = client.get("/api/v1/metrics/three-rates", params={**SPAN, "group_by": "none"}, headers=headers)
    assert mine.status_code == 200, mine.text
    assert mine.json()["scope"]["unit"]["id"] == int(d1)  # the default scope is the analyst's unit
    assert mine.json()["total"]["received"] == 1
    for other in (d2, str(unit_id(session, "city"))):
        refused = client.get("/api/v1/metrics/three-rates", params={**SPAN, "unit": other}, headers=headers)
        assert refused.status_code == 403
    listed = client.get("/api/v1/metrics/requests", params={**SPAN, "measure": "received"}, headers=headers)
    assert [i["tracking_number"] for i in listed.json()["items"]] == [request.tracking_number]

    sign_in(client, "d1-analyst")
    home = client.get("/staff")
    assert 'href="/dashboard"' in home.text  # the header links the dashboards
    for view in ("/dashboard", "/dashboard/operations", "/dashboard/rankings", "/dashboard/requests"):
        page = client.get(view, params=SPAN)
        assert page.status_code == 200, view
        assert PHONE not in page.text and "张三" not in page.text, view
    # Another district's figures are refused: the page says so and shows the analyst's own unit instead.
    other = client.get("/dashboard", params={**SPAN, "unit": d2}).context["page"]
    assert other.error and other.scope_name == city.units["D1"].name("zh")


def test_an_analyst_sees_personal_data_masked_and_cannot_act(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    make_user(session, city, "city-analyst", Role.analyst, "city")
    now = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    request = submit(session, settings, now, where="D1S1C1", phone=PHONE)
    dispatch(session, settings, request, "D1S1C1", now + dt.timedelta(minutes=5))
    session.commit()
    headers = auth(client, "city-analyst")
    body = client.get(f"/api/v1/requests/{request.tracking_number}", headers=headers)
    assert body.status_code == 200, body.text
    contact = body.json()["contact"]
    assert contact["masked"] is True
    assert PHONE not in body.text and "张三" not in body.text and "zhang@example.org" not in body.text
    assert contact["phone"] == "139****5678"
    # Steps the request's state allows, each refused for want of a role.
    for step, payload in (
        ("sign", None),
        ("return", {"reason": "不属于本单位"}),
        ("supervise", {"note": "请尽快办理"}),
    ):
        refused = client.post(
            f"/api/v1/requests/{request.tracking_number}/{step}", json=payload, headers=headers
        )
        assert refused.status_code == 403, (step, refused.status_code, refused.text)
    excluded = client.post(
        "/api/v1/metrics/exclusions",
        json={"request": request.tracking_number, "reason": "unreasonable", "note": "x"},
        headers=headers,
    )
    assert excluded.status_code == 403
    session.expire_all()
    assert session.get(type(request), request.id).status == "dispatched"  # type: ignore[union-attr]

    sign_in(client, "city-analyst")
    inbox = client.get("/staff")
    assert inbox.status_code == 200 and request.tracking_number in inbox.text
    assert PHONE not in inbox.text and "张三" not in inbox.text
    page = client.get(f"/staff/requests/{request.tracking_number}")
    assert page.status_code == 200
    assert PHONE not in page.text and "张三" not in page.text and "zhang@example.org" not in page.text
    assert "/act/" not in page.text  # no buttons
    acted = client.post(
        f"/staff/requests/{request.tracking_number}/act/sign",
        data={"csrf_token": _csrf(client, f"/staff/requests/{request.tracking_number}")},
        follow_redirects=False,
    )
    session.expire_all()
    assert session.get(type(request), request.id).status == "dispatched", acted.status_code  # type: ignore[union-attr]
