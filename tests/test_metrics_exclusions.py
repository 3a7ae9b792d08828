"""The exclusions page (/dashboard/exclusions): the requests the "excluded" figure counts with reason, note, who and
when, and a form (post/redirect/get, errors next to the field, Chinese and English) for those the API allows."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.org.models import Role
from chengzhi.requests.models import Request

from .conftest import auth
from .factories import City, make_user
from .steps import dispatch, handle, submit
from .test_pages_staff import sign_in


def _csrf(client: TestClient) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/dashboard/exclusions").text)
    assert found
    return found.group(1)


def _field_error(response: object, name: str) -> str:
    page = response.context["page"]  # type: ignore[attr-defined]
    text = response.text  # type: ignore[attr-defined]
    message = page.errors.get(name)
    assert message, f"no error for {name}: {page.errors.messages}"
    assert f'id="{name}-error"' in text
    assert re.search(rf'id="{name}"[^>]*aria-invalid="true"', text), name
    return str(message)


def _handled(session: Session, settings: Settings) -> Request:
    now = dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)
    request = submit(session, settings, now, where="D1S1C1")
    dispatch(session, settings, request, "D1S1C1", now + dt.timedelta(minutes=1))
    handle(session, settings, request, "d1s1c1-handler", now + dt.timedelta(minutes=2))
    session.commit()
    return request


def test_a_supervisor_excludes_a_request_and_sees_it_listed(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    request = _handled(session, settings)
    headers = auth(client, "leader")
    before = client.get("/api/v1/metrics/three-rates", params={"group_by": "none"}, headers=headers).json()
    assert (before["total"]["excluded"], before["total"]["response_denominator"]) == (0, 1)
    sign_in(client, "supervisor")
    empty = client.get("/dashboard/exclusions")
    assert empty.status_code == 200
    assert empty.context["page"].can_exclude and empty.context["page"].rows == []
    made = client.post(
        "/dashboard/exclusions",
        data={
            "csrf_token": _csrf(client),
            "request": f"  {request.tracking_number} ",
            "reason": "unreasonable",
            "note": "反复投诉同一已解决事项",
        },
        follow_redirects=False,
    )
    assert made.status_code == 303, made.text[:500]
    assert made.headers["location"].startswith("/dashboard/exclusions?")
    shown = client.get(made.headers["location"])
    page = shown.context["page"]
    assert page.notice == f"已记录诉求 {request.tracking_number} 的剔除。"
    assert [(r.tracking_number, r.reason, r.note, r.by) for r in page.rows] == [
        (request.tracking_number, "无理诉求", "反复投诉同一已解决事项", "supervisor")
    ]
    assert page.count == 1
    # The figures agree at once: out of all three denominators.
    after = client.get("/api/v1/metrics/three-rates", params={"group_by": "none"}, headers=headers).json()
    assert (after["total"]["excluded"], after["total"]["response_denominator"]) == (1, 0)
    english = client.get("/dashboard/exclusions", headers={"Accept-Language": "en"})
    assert english.context["page"].rows[0].reason == "Unreasonable request"
    assert "Exclude a request" in english.text and "Record the exclusion" in english.text
    # Reason "none" puts it back: the list empties.
    back = client.post(
        "/dashboard/exclusions",
        data={
            "csrf_token": _csrf(client),
            "request": request.tracking_number,
            "reason": "none",
            "note": "误判",
        },
        follow_redirects=False,
    )
    assert back.status_code == 303
    assert client.get("/dashboard/exclusions").context["page"].rows == []


@pytest.mark.parametrize(
    ("changes", "field", "expected"),
    [
        ({"request": ""}, "request", "请输入诉求编号。"),
        ({"request": "NO-SUCH-1"}, "request", "未找到诉求 NO-SUCH-1，请核对编号。"),
        ({"request": "x" * 25}, "request", "最多 20 个字。"),
        ({"reason": "bored"}, "reason", "请从选项中选择一项。"),
        ({"reason": ""}, "reason", "请从选项中选择一项。"),
        ({"note": "   "}, "note", "请说明原因（将随剔除记录保存）。"),
        ({"csrf_token": "stale"}, "form", "页面已过期（CSRF 校验失败），请刷新页面后重试。"),
    ],
)
def test_errors_are_next_to_the_field(
    client: TestClient,
    city: City,
    session: Session,
    settings: Settings,
    changes: dict[str, str],
    field: str,
    expected: str,
) -> None:
    request = _handled(session, settings)
    sign_in(client, "supervisor")
    form = {
        "csrf_token": _csrf(client),
        "request": request.tracking_number,
        "reason": "refused_to_rate",
        "note": "回访时拒绝评价",
        **changes,
    }
    response = client.post("/dashboard/exclusions", data=form)
    assert response.status_code == 422
    if field == "form":
        assert response.context["page"].errors.get("form") == expected
        assert 'id="form-error"' in response.text
    else:
        assert _field_error(response, field) == expected
    kept = response.context["page"]
    assert (kept.form_request, kept.form_note) == (form["request"][:40].strip(), form["note"])
    assert client.get("/dashboard/exclusions").context["page"].rows == []


def test_english_errors(client: TestClient, city: City, session: Session, settings: Settings) -> None:
    sign_in(client, "supervisor")
    response = client.post(
        "/dashboard/exclusions",
        data={"csrf_token": _csrf(client), "request": "", "reason": "", "note": ""},
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 422
    assert _field_error(response, "request") == "Enter the request's tracking number."
    assert _field_error(response, "reason") == "Choose one of the options."
    assert _field_error(response, "note") == "Say why (kept with the exclusion)."


def test_who_may_exclude(client: TestClient, city: City, session: Session, settings: Settings) -> None:
    """As the API: supervisors and administrators of a unit holding the request. Leaders and analysts read the
    list without the form; a supervisor of another district is told next to the number."""
    request = _handled(session, settings)
    make_user(session, city, "analyst", Role.analyst, "city")
    session.commit()
    for username in ("leader", "analyst"):
        client.cookies.clear()
        sign_in(client, username)
        page = client.get("/dashboard/exclusions")
        assert page.status_code == 200 and not page.context["page"].can_exclude
        assert 'name="note"' not in page.text
        refused = client.post(
            "/dashboard/exclusions",
            data={
                "csrf_token": _csrf(client),
                "request": request.tracking_number,
                "reason": "none",
                "note": "x",
            },
        )
        assert refused.status_code == 403
    client.cookies.clear()
    sign_in(client, "d2-supervisor")
    other = client.post(
        "/dashboard/exclusions",
        data={
            "csrf_token": _csrf(client),
            "request": request.tracking_number,
            "reason": "unreasonable",
            "note": "x",
        },
    )
    assert other.status_code == 422
    assert _field_error(other, "request") == f"未找到诉求 {request.tracking_number}，请核对编号。"
    client.cookies.clear()
    sign_in(client, "d1s1c1-handler")
    assert client.get("/dashboard/exclusions").status_code == 403
