"""The units' publishing page (`/staff/publications`): a handler publishes a notice for their unit and a replied
request's reply with the resident's consent (masked); with moderation set, a supervisor approves or rejects on the
same page; what is published shows on `/notices` and in the feed. Both databases, no JavaScript needed."""

from __future__ import annotations

import re

import feedparser
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from chengzhi.config import Settings

from .factories import City
from .test_pages_staff import sign_in
from .test_participate_pages import post
from .test_publish import replied

PAGE = "/staff/publications"


def test_a_unit_publishes_a_notice_and_a_reply_on_the_page(
    client: TestClient, settings: Settings, city: City, session: Session
) -> None:
    number = replied(session, settings)
    sign_in(client, "resident")
    assert client.get(PAGE).status_code == 403
    sign_in(client, "d1s1c1-handler")
    page = client.get(PAGE).text
    assert 'href="/staff/publications"' in page  # in the staff's menu
    assert re.search(r'<option value="(\d+)">', page)  # the units they may publish for
    assert 'id="waiting"' not in page  # a handler moderates nothing

    unit = str(city.units["D1S1C1"].id)
    notice = {"unit": unit, "title": "周六停水", "body": "周六上午九点至十二点停水。", "category": "water"}
    status, target, _ = post(client, f"{PAGE}/notices", notice, PAGE)
    assert (status, target) == (303, f"{PAGE}?done=published#result")
    assert "已发布" in client.get(target).text
    elsewhere = {**notice, "unit": str(city.units["D2"].id)}
    assert post(client, f"{PAGE}/notices", elsewhere, PAGE)[0] == 403  # not their unit
    status, _, text = post(client, f"{PAGE}/notices", {**notice, "title": ""}, PAGE)
    assert status == 422 and "周六上午九点至十二点停水。" in text  # the form again, as typed

    status, _, text = post(client, f"{PAGE}/replies", {"number": number}, PAGE)
    assert status == 422 and "consent" in text  # without the resident's consent
    status, target, _ = post(client, f"{PAGE}/replies", {"number": number, "consent": "1"}, PAGE)
    assert target == f"{PAGE}?done=published#result"
    assert post(client, f"{PAGE}/replies", {"number": number, "consent": "1"}, PAGE)[0] == 409  # once

    public = client.get("/notices").text
    assert "周六停水" in public and "张*" in public and "13912345678" not in public
    feed = feedparser.parse(client.get("/feeds/publications.atom").content)
    assert {e.title for e in feed.entries} >= {"周六停水"} and len(feed.entries) == 2
    english = client.get(f"{PAGE}?lang=en").text
    assert "Publish a notice" in english and "Publish a reply to a public request" in english


def test_supervisors_moderate_on_the_page_when_the_city_asks(
    client: TestClient, settings: Settings, city: City, session: Session
) -> None:
    client.app.state.settings = settings.model_copy(update={"publish_moderation": True})  # type: ignore[attr-defined]
    sign_in(client, "d1s1c1-handler")
    unit = str(city.units["D1S1C1"].id)
    for title in ("周六停水", "道路施工"):
        _, target, _ = post(client, f"{PAGE}/notices", {"unit": unit, "title": title, "body": "详见"}, PAGE)
        assert target == f"{PAGE}?done=pending#result"
    assert "周六停水" not in client.get("/notices").text  # nothing before moderation

    sign_in(client, "supervisor")
    waiting = client.get(PAGE).text
    assert "等待审核" in waiting and "周六停水" in waiting and "道路施工" in waiting
    ids = re.findall(r'action="/staff/publications/(\d+)/moderation"', waiting)
    assert len(ids) == 2
    _, target, _ = post(client, f"{PAGE}/{ids[0]}/moderation", {"approve": "1"}, PAGE)
    assert target == f"{PAGE}?done=approved#result"
    post(client, f"{PAGE}/{ids[1]}/moderation", {"approve": "0"}, PAGE)
    assert post(client, f"{PAGE}/424242/moderation", {"approve": "1"}, PAGE)[0] == 404
    public = client.get("/notices").text
    assert "周六停水" in public and "道路施工" not in public
    sign_in(client, "d1s1c1-handler")
    assert post(client, f"{PAGE}/{ids[1]}/moderation", {"approve": "1"}, PAGE)[0] == 403  # handlers do not
