""" "Me too" on the public list, on both databases: once per visitor (account or browser session), counted on the
request, refused on closed requests, in place with htmx and by a plain form without JavaScript.

These tests run in a city that counts anonymous visitors' support (`"support": 0`, a city's choice); the default,
level 1 with the visitor led through a phone code, is tested in test_identity_space.py."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chengzhi.app import create_app
from chengzhi.config import Settings
from chengzhi.requests.models import Request as RequestRow
from chengzhi.requests.models import RequestSupport

from .factories import City
from .steps import submit
from .test_pages_staff import sign_in


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"identity_levels": {**settings.identity_levels, "support": 0}})


def csrf(client: TestClient) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/submit").text)
    assert found
    return found.group(1)


def me_too(client: TestClient, request: RequestRow, **kwargs: object) -> Any:
    data = {"csrf_token": csrf(client), "next": "/issues"}
    return client.post(f"/issues/{request.id}/support", data=data, follow_redirects=False, **kwargs)


def count(session: Session, request: RequestRow) -> tuple[int, int]:
    session.rollback()
    session.expire_all()
    row = session.get(RequestRow, request.id)
    assert row is not None
    rows = session.scalar(select(func.count()).where(RequestSupport.request_id == request.id))
    return row.support_count, rows or 0


def test_each_visitor_counts_once(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    request = submit(session, settings, dt.datetime.now(dt.UTC))
    session.commit()
    listed = client.get("/issues")
    card = listed.context["page"].items[0]
    assert (card.id, card.supports, card.supported, card.can_support) == (request.id, 0, False, True)
    assert f'action="/issues/{request.id}/support"' in listed.text
    assert "0 位居民遇到同样的问题" in listed.text

    first = me_too(client, request)
    assert first.status_code == 303 and first.headers["location"] == f"/issues#issue-{request.id}"
    assert count(session, request) == (1, 1)
    again = me_too(client, request)
    assert again.status_code == 303
    assert count(session, request) == (1, 1), "the same browser session counts once"
    shown = client.get("/issues").context["page"].items[0]
    assert (shown.supports, shown.supported) == (1, True)

    with TestClient(create_app(settings)) as other:
        assert me_too(other, request).status_code == 303
        assert other.get("/issues").context["page"].items[0].supported is True
    assert count(session, request) == (2, 2)
    # The stored key says nothing about who: a hash, not a session or user id.
    keys = session.scalars(select(RequestSupport.supporter)).all()
    assert all(re.fullmatch(r"[0-9a-f]{64}", k) for k in keys)


def test_an_account_counts_once_across_browsers(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    request = submit(session, settings, dt.datetime.now(dt.UTC))
    session.commit()
    sign_in(client, "resident2")
    assert me_too(client, request).status_code == 303
    with TestClient(create_app(settings)) as phone:
        sign_in(phone, "resident2")
        assert phone.get("/issues").context["page"].items[0].supported is True
        assert me_too(phone, request).status_code == 303
    assert count(session, request) == (1, 1)


def test_htmx_swaps_the_line_in_place(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    request = submit(session, settings, dt.datetime.now(dt.UTC))
    session.commit()
    response = me_too(client, request, headers={"HX-Request": "true"}, params={"lang": "en"})
    assert response.status_code == 200
    assert response.text.lstrip().startswith(f'<div class="support" id="support-{request.id}">')
    assert "1 residents have the same problem" in response.text
    assert "You said: me too" in response.text
    assert "<html" not in response.text


def test_refusals(client: TestClient, city: City, session: Session, settings: Settings) -> None:
    request = submit(session, settings, dt.datetime.now(dt.UTC))
    session.commit()
    forged = client.post(f"/issues/{request.id}/support", data={"csrf_token": "forged"})
    assert forged.status_code == 422
    assert forged.context["page"].error == "页面已过期（CSRF 校验失败），请刷新页面后重试。"
    assert client.post("/issues/999999/support", data={"csrf_token": csrf(client)}).status_code == 404
    assert client.post("/issues/abc/support", data={"csrf_token": csrf(client)}).status_code == 404
    row = session.get(RequestRow, request.id)
    assert row is not None
    row.status = "closed"
    session.commit()
    closed = me_too(client, request)
    assert closed.status_code == 422
    assert "已办结" in closed.context["page"].error
    assert count(session, request) == (0, 0)
    assert client.get("/issues").context["page"].items[0].can_support is False
