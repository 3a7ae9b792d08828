"""Staff pages on both databases: the inbox of one's scope (filters, pages), the read-only request page, refusals."""

from __future__ import annotations

import datetime as dt
import re

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.requests.models import Request as RequestRow

from .factories import City
from .steps import dispatch, submit


def sign_in(client: TestClient, username: str) -> None:
    page = client.get("/login")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found
    response = client.post(
        "/login",
        data={"csrf_token": found.group(1), "username": username, "password": "demo-password-1"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text[:300]


def two_districts(session: Session, settings: Settings) -> tuple[RequestRow, RequestRow]:
    """One request dispatched to D1S1C1, one to D2S1C1."""
    now = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    west = submit(session, settings, now, where="D1S1C1", phone="13911112222")
    east = submit(session, settings, now + dt.timedelta(minutes=1), where="D2S1C1", phone="13933334444")
    dispatch(session, settings, west, "D1S1C1", now + dt.timedelta(minutes=5))
    dispatch(session, settings, east, "D2S1C1", now + dt.timedelta(minutes=6))
    session.commit()
    return west, east


def test_anonymous_is_sent_to_sign_in_and_residents_are_refused(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    west, _east = two_districts(session, settings)
    for path in ("/staff", f"/staff/requests/{west.tracking_number}"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == f"/login?next={path}"
    assert client.get("/").context["chrome"].is_staff is False
    sign_in(client, "resident")
    refused = client.get("/staff")
    assert refused.status_code == 403
    assert refused.context["page"].message == "这些页面仅供城市工作人员使用。"
    assert 'href="/staff"' not in refused.text
    english = client.get(f"/staff/requests/{west.tracking_number}", params={"lang": "en"})
    assert english.status_code == 403
    assert english.context["page"].message == "These pages are for the city's staff."


def test_handler_sees_only_own_scope(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    west, east = two_districts(session, settings)
    sign_in(client, "d1s1c1-handler")
    inbox = client.get("/staff")
    assert inbox.status_code == 200
    assert inbox.context["chrome"].is_staff
    assert 'href="/staff"' in inbox.text
    page = inbox.context["page"]
    assert [i.tracking_number for i in page.items] == [west.tracking_number]
    assert page.items[0].status == "已派单"
    assert page.items[0].lead_unit
    assert f'href="/staff/requests/{west.tracking_number}"' in inbox.text
    assert client.get(f"/staff/requests/{east.tracking_number}").status_code == 404
    assert client.get("/staff/requests/nonsense").status_code == 404


def test_request_page_in_both_languages(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    west, _east = two_districts(session, settings)
    sign_in(client, "d1s1c1-handler")
    zh = client.get(f"/staff/requests/{west.tracking_number}")
    assert zh.status_code == 200
    page = zh.context["page"]
    assert page.tracking_number == west.tracking_number
    assert page.text == west.text
    assert page.category == city.categories["litter"].name_zh
    assert page.status == "已派单"
    assert page.sees_contact is True
    assert page.contact_phone == "13911112222"
    assert page.lead_unit
    assert page.deadlines and page.due_at is not None
    assert page.overdue is False
    assert page.channel_name == "网站"
    assert {d.stage: d.name for d in page.deadlines}["sign"] == "签收"
    assert [e.action for e in page.timeline] == ["receive", "dispatch"]
    assert page.suggestion_reason
    assert "sign" in [a.code for a in page.actions]
    local = zh.context["when"](page.due_at)
    assert local in zh.text
    due = page.due_at.astimezone(dt.timezone(dt.timedelta(hours=8)))
    assert local == due.strftime("%Y-%m-%d %H:%M"), "deadlines are shown in the city's time zone"
    en = client.get(f"/staff/requests/{west.tracking_number}", params={"lang": "en"})
    page = en.context["page"]
    assert page.status == "dispatched"
    assert page.category == city.categories["litter"].name_en
    assert "Sign for it" in [a.name for a in page.actions]
    assert page.channel_name == "Web"
    assert {d.stage: d.name for d in page.deadlines}["return"] == "Return a wrong dispatch"
    assert "Routing suggestion" in en.text


def test_contact_is_masked_for_staff_who_need_not_call(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    west, _east = two_districts(session, settings)
    sign_in(client, "d1s1-handler")
    page = client.get(f"/staff/requests/{west.tracking_number}").context["page"]
    assert page.sees_contact is False
    assert page.contact_phone == "139****2222"
    assert page.contact_name == "张*"
    assert "13911112222" not in client.get(f"/staff/requests/{west.tracking_number}").text
    assert page.actions == []


def test_filters_and_pages(client: TestClient, city: City, session: Session, settings: Settings) -> None:
    west, east = two_districts(session, settings)
    now = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    for n in range(21):
        submit(session, settings, now + dt.timedelta(seconds=n), category="road", phone=f"1390000{n:04d}")
    east.overdue_stage = "sign"
    session.commit()
    sign_in(client, "dispatcher")
    first = client.get("/staff").context["page"]
    assert len(first.items) == 20 and first.first_url is None
    assert first.next_url and "before=" in first.next_url
    second = client.get(first.next_url).context["page"]
    assert len(second.items) == 3
    assert second.next_url is None and second.first_url == "/staff"
    numbers = [i.tracking_number for i in first.items + second.items]
    assert len(set(numbers)) == 23
    dispatched = client.get("/staff", params={"status": "dispatched"}).context["page"]
    assert {i.tracking_number for i in dispatched.items} == {west.tracking_number, east.tracking_number}
    assert dispatched.filters.status == "dispatched"
    overdue = client.get("/staff", params={"overdue": "yes"}).context["page"]
    assert [i.tracking_number for i in overdue.items] == [east.tracking_number]
    assert overdue.items[0].overdue
    assert len(client.get("/staff", params={"overdue": "no"}).context["page"].items) == 20
    litter = client.get("/staff", params={"category": "litter"}).context["page"]
    assert {i.tracking_number for i in litter.items} == {west.tracking_number, east.tracking_number}
    roads = client.get("/staff", params={"category": "road", "status": "received"}).context["page"]
    assert len(roads.items) == 20 and roads.next_url and "category=road" in roads.next_url
    assert client.get("/staff", params={"channel": "phone"}).context["page"].items == []
    assert len(client.get("/staff", params={"channel": "web"}).context["page"].items) == 20
    odd = client.get("/staff", params={"status": "nonsense", "overdue": "maybe", "before": "x"})
    assert odd.status_code == 200 and odd.context["page"].filters.status == ""
