"""One publishing point: units' notices and replies published with consent (masked), moderation by setting,
the public list, the notices page and Atom feeds by unit, category, area and hot issue, read back with
`feedparser`."""

from __future__ import annotations

import datetime as dt

import feedparser
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.db import utcnow
from chengzhi.publish.service import mask
from chengzhi.requests import service as svc
from chengzhi.requests.models import Request

from .conftest import auth
from .factories import City
from .steps import actor, dispatch, handle
from .test_participate_pages import make_hot_issue


def test_mask_takes_out_names_numbers_and_addresses() -> None:
    text = "张三 13912345678 说：请联系 zhang@example.org，身份证 110101199001011234。张三"
    assert mask(text, ["张三"]) == "张* *********** 说：请联系 ***@***，身份证 ******************。张*"


def replied(session: Session, settings: Settings) -> str:
    now = utcnow() - dt.timedelta(hours=1)
    request = svc.submit_request(
        session,
        actor(session, "resident"),
        svc.Submission(
            text="张三反映：小区门口垃圾堆积，电话13912345678",
            category_code="litter",
            lat=0.2,
            lon=0.2,
            contact_name="张三",
            contact_phone="13912345678",
        ),
        settings,
        now,
    )
    session.commit()
    dispatch(session, settings, request, "D1S1C1", now)
    handle(session, settings, request, "d1s1c1-handler", now)
    request.reply_text = (
        "已清理。张三先生请放心。"  # what the handler wrote (the reply step's text is fixed in `handle`)
    )
    session.commit()
    return request.tracking_number


def test_units_publish_and_the_public_reads_feeds(
    client: TestClient, settings: Settings, city: City, session: Session
) -> None:
    number = replied(session, settings)
    handler = auth(client, "d1s1c1-handler")
    unit_id = city.units["D1S1C1"].id
    notice = client.post(
        "/api/v1/publications/notices",
        json={
            "unit_id": unit_id,
            "title": "周六停水",
            "body": "周六上午九点至十二点停水。",
            "category_code": "water",
        },
        headers=handler,
    )
    assert notice.status_code == 201, notice.text
    assert notice.json()["state"] == "published"
    elsewhere = client.post(
        "/api/v1/publications/notices",
        json={"unit_id": city.units["D2"].id, "title": "x", "body": "y"},
        headers=handler,
    )
    assert elsewhere.status_code == 403  # not their unit

    no_consent = client.post(
        "/api/v1/publications/replies", json={"tracking_number": number, "consent": False}, headers=handler
    )
    assert no_consent.status_code == 422
    reply = client.post(
        "/api/v1/publications/replies", json={"tracking_number": number, "consent": True}, headers=handler
    )
    assert reply.status_code == 201, reply.text
    published = reply.json()
    assert "13912345678" not in published["body"] and "张三" not in published["body"]
    assert published["reply"] == "已清理。张*先生请放心。"
    again = client.post(
        "/api/v1/publications/replies", json={"tracking_number": number, "consent": True}, headers=handler
    )
    assert again.status_code == 409

    listed = client.get("/api/v1/publications").json()
    assert [p["kind"] for p in listed] == ["reply", "notice"]
    assert [p["title"] for p in client.get("/api/v1/publications?category=water").json()] == ["周六停水"]

    feed = feedparser.parse(client.get("/feeds/publications.atom").content)
    assert not feed.bozo, feed.bozo_exception
    assert [e.title for e in feed.entries] == [published["title"], "周六停水"]
    assert feed.entries[1].author == "D1S1C1中文"
    assert "13912345678" not in feed.entries[0].content[0].value

    by_unit = feedparser.parse(client.get("/feeds/publications.atom?unit=D1S1C1").content)
    assert len(by_unit.entries) == 2
    by_area = feedparser.parse(client.get("/feeds/publications.atom?area=D1").content)
    assert len(by_area.entries) == 2
    other_area = feedparser.parse(client.get("/feeds/publications.atom?area=D2").content)
    assert not other_area.bozo and other_area.entries == []
    by_category = feedparser.parse(client.get("/feeds/publications.atom?category=litter&lang=en").content)
    assert [e.title for e in by_category.entries] == [published["title"]]
    assert by_category.feed.title == "City notices and replies (litter)"
    request_id = session.scalar(select(Request.id).where(Request.tracking_number == number))
    assert request_id is not None
    issue_id = make_hot_issue(session, city, [request_id])
    by_hot = feedparser.parse(client.get(f"/feeds/publications.atom?hot_issue={issue_id}").content)
    assert not by_hot.bozo and [e.title for e in by_hot.entries] == [published["title"]]
    assert client.get(f"/api/v1/publications?hot_issue={issue_id + 1}").json() == []

    page = client.get("/notices")
    assert page.status_code == 200 and "周六停水" in page.text and "13912345678" not in page.text
    assert client.get(f"/notices/{notice.json()['id']}").status_code == 200
    assert client.get("/notices/999999").status_code == 404


def test_moderation_by_setting(client: TestClient, settings: Settings, city: City) -> None:
    client.app.state.settings = settings.model_copy(update={"publish_moderation": True})  # type: ignore[attr-defined]
    handler = auth(client, "d1s1c1-handler")
    made = client.post(
        "/api/v1/publications/notices",
        json={"unit_id": city.units["D1S1C1"].id, "title": "通知", "body": "内容"},
        headers=handler,
    )
    assert made.status_code == 201 and made.json()["state"] == "pending"
    assert client.get("/api/v1/publications").json() == []
    assert client.get("/api/v1/publications/pending", headers=handler).status_code == 403
    supervisor = auth(client, "supervisor")
    waiting = client.get("/api/v1/publications/pending", headers=supervisor).json()
    assert [p["title"] for p in waiting] == ["通知"]
    approved = client.post(
        f"/api/v1/publications/{made.json()['id']}/moderation", json={"approve": True}, headers=supervisor
    )
    assert approved.status_code == 200 and approved.json()["state"] == "published"
    assert [p["title"] for p in client.get("/api/v1/publications").json()] == ["通知"]
    outside = auth(client, "d2-supervisor")
    assert (
        client.post(
            f"/api/v1/publications/{made.json()['id']}/moderation", json={"approve": False}, headers=outside
        ).status_code
        == 403
    )
