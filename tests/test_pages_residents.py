"""Residents' pages on both databases: contexts, both languages, form errors that keep values, no stack traces."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.requests.models import Photo
from chengzhi.requests.models import Request as RequestRow

from .factories import City
from .steps import dispatch, handle, submit

PAGES = ["/", "/issues", "/submit", "/track", "/login", "/logout"]


def csrf(client: TestClient, path: str = "/submit") -> str:
    page = client.get(path)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, "PNG")
    return buffer.getvalue()


def good_form(token: str, **changes: str) -> dict[str, str]:
    form = {
        "csrf_token": token,
        "idempotency_key": "k-" + token[:10],
        "text": "小区门口路灯不亮",
        "category": "litter",
        "lat": "0.2",
        "lon": "0.2",
        "address": "白河路 1 号",
        "contact_name": "李四",
        "contact_phone": "13800001234",
        "consent": "on",
    }
    form.update(changes)
    return form


@pytest.mark.parametrize("path", PAGES)
def test_pages_render_in_both_languages(client: TestClient, city: City, path: str) -> None:
    zh = client.get(path)
    assert zh.status_code == 200
    assert zh.context["chrome"].lang == "zh"
    assert '<html lang="zh-Hans">' in zh.text
    en = client.get(path, params={"lang": "en"})
    assert en.status_code == 200
    assert en.context["chrome"].lang == "en"
    assert '<html lang="en">' in en.text
    assert en.cookies.get("lang") == "en"
    # The cookie keeps the choice for the next page.
    assert client.get(path).context["chrome"].lang == "en"
    for response in (zh, en):
        assert not re.search(r"https?://", response.text), "a page refers to an outside address"


def test_home_shows_categories_recent_requests_and_map(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    submit(session, settings, dt.datetime.now(dt.UTC), phone="13912345678")
    session.commit()
    page = client.get("/").context["page"]
    codes = {c.code for g in page.groups for c in g.categories}
    assert {"litter", "road"} <= codes
    assert len(page.recent) == 1
    assert page.recent[0].category == "乱扔垃圾"
    assert page.map.areas_url == "/map/areas.geojson" and page.map.tile_url is None
    text = client.get("/").text
    assert "张三" not in text and "13912345678" not in text and "zhang@example.org" not in text
    areas = client.get("/map/areas.geojson").json()
    assert {f["properties"]["name_en"] for f in areas["features"]} == {"D1", "D2"}


def test_issues_are_anonymised_and_paginated(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    now = dt.datetime.now(dt.UTC)
    for _ in range(23):
        submit(session, settings, now)
    row = submit(session, settings, now)
    row.title = "电话 13912345678 张三家门口"
    session.commit()
    first = client.get("/issues", params={"lang": "en"})
    page = first.context["page"]
    assert len(page.items) == 20 and page.next_before is not None and page.first_page
    assert page.items[0].title == "电话 *********** 张*家门口"  # the contact's name too (chengzhi.security)
    assert "13912345678" not in first.text and "zhang@example.org" not in first.text
    second = client.get("/issues", params={"before": page.next_before}).context["page"]
    assert len(second.items) == 4 and second.next_before is None
    assert client.get("/issues", params={"before": "x'--"}).status_code == 200


def test_submit_creates_a_request_with_photos_and_confirms(
    client: TestClient, city: City, session: Session
) -> None:
    token = csrf(client)
    response = client.post(
        "/submit",
        data=good_form(token),
        files=[("photos", ("a.png", png(), "image/png")), ("photos", ("b.png", png(), "image/png"))],
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    number = response.headers["location"].rsplit("/", 1)[1]
    done = client.get(response.headers["location"])
    assert done.status_code == 200
    assert done.context["page"].tracking_number == number
    assert number in done.text
    row = session.scalar(select(RequestRow).where(RequestRow.tracking_number == number))
    assert row is not None and row.channel == "web" and row.category is not None
    assert row.category.code == "litter" and row.phone_last4 == "1234" and row.address == "白河路 1 号"
    assert len(session.scalars(select(Photo).where(Photo.request_id == row.id)).all()) == 2
    # The same form posted again (a double click, a retry) does not make a second request.
    again = client.post("/submit", data=good_form(token), follow_redirects=False)
    assert again.headers["location"] == response.headers["location"]
    assert session.scalar(select(RequestRow.id).where(RequestRow.tracking_number != number)) is None
    # Another browser cannot see the confirmation.
    other = TestClient(client.app)
    assert other.get(response.headers["location"]).status_code == 404


def test_submit_errors_stay_next_to_fields_and_keep_values(client: TestClient, city: City) -> None:
    token = csrf(client)
    form = good_form(token, text="", contact_phone="abc", lat="", address="", consent="")
    response = client.post("/submit", data=form)
    assert response.status_code == 422
    page = response.context["page"]
    assert set(page.errors.messages) == {"text", "location", "contact_phone", "consent"}
    assert page.errors.get("text") == "请描述问题。"
    assert page.form.contact_phone == "abc" and page.form.contact_name == "李四"
    assert 'value="李四"' in response.text and 'id="contact_phone-error"' in response.text
    en = client.post("/submit?lang=en", data=form).context["page"]
    assert en.errors.get("text") == "Describe the problem."


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"lat": "5", "lon": "5"}, "location", "不在本市范围内"),
        ({"lat": "nan", "lon": "1"}, "location", "地图位置无效"),
        ({"category": "nope"}, "category", "未找到类别"),
        ({"category": "road"}, "category", "size"),
        ({"csrf_token": "forged"}, "form", "CSRF"),
        ({"text": "x" * 5000}, "text", "4000"),
    ],
)
def test_submit_refusals(
    client: TestClient, city: City, changes: dict[str, str], field: str, fragment: str
) -> None:
    token = csrf(client)
    response = client.post("/submit", data=good_form(token, **changes), follow_redirects=False)
    assert response.status_code == 422
    message = response.context["page"].errors.get(field)
    assert message and fragment in message, response.context["page"].errors.messages


def test_submit_refuses_bad_photos_with_a_message(client: TestClient, city: City, settings: Settings) -> None:
    token = csrf(client)
    not_image = client.post(
        "/submit", data=good_form(token), files=[("photos", ("a.txt", b"hello", "text/plain"))]
    )
    assert not_image.status_code == 422
    assert "JPEG" in not_image.context["page"].errors.get("photos")
    assert not_image.context["page"].form.text == "小区门口路灯不亮"
    big = b"\xff\xd8" + b"0" * (settings.max_photo_bytes + 10)
    too_big = client.post(
        "/submit",
        data=good_form(token, idempotency_key="other"),
        files=[("photos", ("a.jpg", big, "image/jpeg"))],
    )
    # Either the page says so next to the field, or the body limit answers 413 before the page runs.
    assert too_big.status_code in (413, 422)
    assert "Traceback" not in too_big.text


def test_submit_fuzz_never_shows_a_stack_trace(client: TestClient, city: City) -> None:
    token = csrf(client)
    bad_forms: list[dict[str, str]] = [
        {},
        {"csrf_token": token},
        {
            "csrf_token": token,
            "text": "\x00\x00",
            "address": "\x00",
            "contact_phone": "1" * 50,
            "consent": "on",
        },
        {"csrf_token": token, "text": "a", "lat": "1e999", "lon": "-1e999", "consent": "on"},
        {"csrf_token": token, "text": "a", "lat": "0.2", "consent": "maybe", "contact_email": "@@"},
        {"csrf_token": token, "text": "🚧" * 10, "address": "𠀀" * 400, "category": "../../etc"},
    ]
    for form in bad_forms:
        response = client.post("/submit", data=form)
        assert response.status_code == 422, (form, response.text[:300])
        assert "Traceback" not in response.text
    assert (
        client.post(
            "/submit", content=b"\x00garbage", headers={"content-type": "multipart/form-data"}
        ).status_code
        < 500
    )


def test_suggestion_fragment(client: TestClient, city: City, session: Session) -> None:
    category = city.categories["litter"]
    session.get(type(category), category.id).keywords = "垃圾,废纸"  # type: ignore[union-attr]
    session.commit()
    fragment = client.get("/submit/suggest", params={"text": "楼下有很多垃圾"})
    assert fragment.context["page"].category.code == "litter"
    assert 'data-choose="litter"' in fragment.text
    assert client.get("/submit/suggest", params={"text": "你好"}).context["page"].category is None


def test_login_logout_and_errors(client: TestClient, city: City) -> None:
    token = csrf(client, "/login")
    wrong = client.post("/login", data={"csrf_token": token, "username": "resident", "password": "nope"})
    assert wrong.status_code == 422
    assert wrong.context["page"].errors.get("password") == (
        "用户名或密码错误。多次失败后账号将暂停登录一段时间：请稍后再试，或重置密码。"
    )
    assert wrong.context["page"].username == "resident"
    empty = client.post("/login?lang=en", data={"csrf_token": token})
    assert set(empty.context["page"].errors.messages) == {"username", "password"}
    assert empty.context["page"].errors.get("username") == "Enter your username."
    forged = client.post(
        "/login", data={"csrf_token": "x", "username": "resident", "password": "demo-password-1"}
    )
    assert forged.status_code == 422 and "CSRF" in forged.context["page"].errors.get("form")
    ok = client.post(
        "/login",
        data={
            "csrf_token": token,
            "username": "resident",
            "password": "demo-password-1",
            "next": "//evil.example",
        },
        follow_redirects=False,
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/track"
    assert client.get("/").context["chrome"].user_name
    new_token = csrf(client, "/logout")
    assert new_token != token
    assert client.post("/logout", data={"csrf_token": "x"}, follow_redirects=False).status_code == 303
    assert client.get("/").context["chrome"].user_name, "a forged sign-out must not sign out"
    client.post("/logout", data={"csrf_token": new_token})
    assert client.get("/").context["chrome"].user_name is None


def _replied(session: Session, settings: Settings) -> RequestRow:
    now = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    row = submit(session, settings, now, by=None, phone="13912345678")
    dispatch(session, settings, row, "D1S1C1", now + dt.timedelta(minutes=5))
    handle(session, settings, row, "d1s1c1-handler", now + dt.timedelta(minutes=10))
    session.commit()
    return row


def test_track_timeline_rate_and_reopen(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    row = _replied(session, settings)
    token = csrf(client, "/track")
    wrong = client.post(
        "/track", data={"csrf_token": token, "tracking_number": row.tracking_number, "phone_last4": "0000"}
    )
    assert wrong.status_code == 422
    assert "后四位不匹配" in wrong.context["page"].errors.get("phone_last4")
    assert wrong.context["page"].form.tracking_number == row.tracking_number
    found = client.post(
        "/track", data={"csrf_token": token, "tracking_number": row.tracking_number, "phone_last4": "5678"}
    )
    assert found.status_code == 200
    tracked = found.context["page"].request
    assert [e.action for e in tracked.timeline] == ["receive", "dispatch", "sign", "contact", "reply"]
    assert tracked.contact_phone == "139****5678" and tracked.can_review and not tracked.can_reopen
    assert "13912345678" not in found.text and "张三" not in found.text
    locator = {"csrf_token": token, "tracking_number": row.tracking_number, "phone_last4": "5678"}
    bad = client.post(
        "/track/review?lang=en", data=locator | {"resolved": "perhaps", "satisfaction": "9", "comment": "hm"}
    )
    assert bad.status_code == 422
    assert set(bad.context["page"].errors.messages) == {"resolved", "satisfaction"}
    assert bad.context["page"].review.comment == "hm"
    rated = client.post(
        "/track/review", data=locator | {"resolved": "no", "satisfaction": "2", "comment": "没修好"}
    )
    assert rated.status_code == 200, rated.context["page"].errors.messages
    assert rated.context["page"].request.satisfaction == 2
    assert rated.context["page"].request.can_reopen
    empty = client.post("/track/reopen?lang=zh", data=locator | {"reason": ""})
    assert empty.context["page"].errors.get("reason") == "请填写原因。"
    reopened = client.post("/track/reopen", data=locator | {"reason": "灯还是不亮"})
    assert reopened.status_code == 200, reopened.context["page"].errors.messages
    assert reopened.context["page"].request.status_code == "reopened"
    assert reopened.context["page"].notice


def test_track_fuzz_never_shows_a_stack_trace(client: TestClient, city: City) -> None:
    token = csrf(client, "/track")
    for path in ("/track", "/track/review", "/track/reopen"):
        for form in (
            {},
            {"csrf_token": token, "tracking_number": "\x00" * 30, "phone_last4": "12345"},
            {"csrf_token": token, "tracking_number": "1" * 20, "phone_last4": "1234", "satisfaction": "-1"},
            {"csrf_token": token, "tracking_number": "1" * 20, "by_account": "1"},
        ):
            response = client.post(path, data=form)
            assert response.status_code == 422, (path, form)
            assert "Traceback" not in response.text


def test_signed_in_resident_sees_and_rates_own_requests(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    now = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    row = submit(session, settings, now, by="resident")
    dispatch(session, settings, row, "D1S1C1", now + dt.timedelta(minutes=5))
    handle(session, settings, row, "d1s1c1-handler", now + dt.timedelta(minutes=10))
    session.commit()
    assert client.get(f"/track/{row.tracking_number}", follow_redirects=False).status_code == 303
    token = csrf(client, "/login")
    client.post("/login", data={"csrf_token": token, "username": "resident", "password": "demo-password-1"})
    mine = client.get("/track").context["page"].mine
    assert [m.tracking_number for m in mine] == [row.tracking_number]
    own = client.get(f"/track/{row.tracking_number}")
    assert own.status_code == 200 and own.context["page"].by_account
    token = csrf(client, "/track")
    rated = client.post(
        "/track/review",
        data={
            "csrf_token": token,
            "tracking_number": row.tracking_number,
            "by_account": "1",
            "resolved": "yes",
            "satisfaction": "5",
        },
    )
    assert rated.status_code == 200, rated.context["page"].errors.messages
    assert rated.context["page"].request.resolved is True
    assert client.get("/track/999999999").status_code == 404


def test_unknown_page_gets_an_html_page_in_the_browsers_language(client: TestClient) -> None:
    browser = {"Accept": "text/html,application/xhtml+xml"}
    page = client.get("/no-such-page", headers=browser)
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "未找到所请求的资源" in page.text and "Traceback" not in page.text
    english = client.get("/no-such-page?lang=en", headers=browser)
    assert english.status_code == 404 and "The requested resource was not found." in english.text
    # API clients and non-browser callers keep the JSON envelope.
    assert client.get("/api/v1/no-such-route", headers=browser).json()["error"]["code"] == "not_found"
    assert client.get("/no-such-page").json()["error"]["code"] == "not_found"
