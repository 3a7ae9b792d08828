"""Admin pages on both databases: who may use them, the unit tree and areas (GeoJSON uploads and their effect on
routing), categories (time limits, Open311 questions), users and roles. Each form error is checked next to its field,
with what was typed kept."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.categories.models import Category
from chengzhi.config import Settings
from chengzhi.org.models import Role, Unit, User
from chengzhi.org.service import create_user, grant_role, hash_password

from .conftest import auth
from .factories import PASSWORD, City, rectangle
from .steps import actor

ADMIN_GETS = [
    "/staff/admin",
    "/staff/admin/units",
    "/staff/admin/units/new",
    "/staff/admin/units/1",
    "/staff/admin/categories",
    "/staff/admin/categories/new",
    "/staff/admin/categories/litter",
    "/staff/admin/users",
    "/staff/admin/users/new",
    "/staff/admin/users/1",
]


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> None:
    token = csrf(client, "/login")
    response = client.post(
        "/login",
        data={"csrf_token": token, "username": username, "password": password},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text[:300]


def csrf(client: TestClient, path: str = "/staff/admin") -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert found
    return found.group(1)


def unit(session: Session, code: str) -> Unit:
    session.rollback()  # a fresh snapshot of what the pages wrote
    found = session.scalar(select(Unit).where(Unit.code == code))
    assert found is not None, code
    return found


def field_error(response: Response, name: str) -> str:
    """The message shown next to a field: the field is marked invalid and points at it."""
    page = response.context["page"]  # type: ignore[attr-defined]
    message = page.errors.get(name)
    assert message, f"no error for {name}: {page.errors.messages}"
    assert f'id="{name}-error"' in response.text
    assert re.search(rf'id="{name}"[^>]*aria-invalid="true"', response.text), name
    return str(message)


def upload(client: TestClient, unit_id: int, content: bytes, token: str, name: str = "area.geojson") -> Any:
    """The test client's response, which also holds the page's template context."""
    return client.post(
        f"/staff/admin/units/{unit_id}/area",
        data={"csrf_token": token},
        files={"area": (name, content, "application/geo+json")},
        follow_redirects=False,
    )


# ---------------------------------------------------------------- who may use them


def test_anonymous_is_sent_to_sign_in_and_others_are_refused(client: TestClient, city: City) -> None:
    for path in ADMIN_GETS:
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"] == f"/login?next={path}"
    posted = client.post("/staff/admin/units", data={"code": "x"}, follow_redirects=False)
    assert posted.status_code == 303 and posted.headers["location"].startswith("/login?next=")
    for username in ("resident", "dispatcher"):
        sign_in(client, username)
        assert 'href="/staff/admin"' not in client.get("/").text
        for path in ADMIN_GETS:
            refused = client.get(path)
            assert refused.status_code == 403, (username, path)
            assert refused.context["page"].message == "这些页面仅供管理员使用。"
        token = csrf(client, "/")
        refused = client.post("/staff/admin/units", data={"csrf_token": token, "code": "new"})
        assert refused.status_code == 403
        english = client.get("/staff/admin/units", params={"lang": "en"})
        assert english.context["page"].message == "These pages are for administrators."
        client.get("/", params={"lang": "zh"})
    sign_in(client, "admin")
    home = client.get("/")
    assert home.context["chrome"].is_admin and 'href="/staff/admin"' in home.text
    for path in ADMIN_GETS:
        assert client.get(path).status_code == 200, path
    english = client.get("/staff/admin", params={"lang": "en"})
    assert '<html lang="en">' in english.text and "Units and areas" in english.text
    assert client.get("/staff/admin/units/999999").status_code == 404
    assert client.get("/staff/admin/units/abc").status_code == 404
    assert client.get("/staff/admin/categories/nope").status_code == 404
    assert client.get("/staff/admin/users/999999").status_code == 404


def test_a_district_administrator_manages_only_the_district(
    client: TestClient, city: City, session: Session
) -> None:
    create_user(
        session,
        username="d1-admin",
        display_name="D1 admin",
        password=PASSWORD,
        roles=[(Role.admin, unit(session, "D1"))],
    )
    session.commit()
    sign_in(client, "d1-admin")
    codes = {row.code for row in client.get("/staff/admin/units").context["page"].rows}
    assert "D1" in codes and "D1S1" in codes
    assert not codes & {"city", "D2", "D2S1", "city-transport"}
    assert client.get(f"/staff/admin/units/{unit(session, 'D2').id}").status_code == 404
    token = csrf(client)
    square = json.dumps(rectangle(1.1, 0.1, 0.1, 0.1)).encode()
    assert upload(client, unit(session, "D2S1").id, square, token).status_code == 403
    assert upload(client, unit(session, "D1S1").id, square, token).status_code == 303
    refused = client.post(
        "/staff/admin/units",
        data={
            "csrf_token": token,
            "code": "D2S9",
            "name_zh": "街道",
            "name_en": "S",
            "kind": "street",
            "parent": str(unit(session, "D2").id),
        },
    )
    assert field_error(refused, "parent") == "您不是该单位的管理员。"
    users = {row.username for row in client.get("/staff/admin/users").context["page"].rows}
    assert "d1s1-handler" in users and "d1-admin" in users
    assert not users & {"admin", "d2-supervisor", "dispatcher"}
    d2 = session.scalar(select(User).where(User.username == "d2-supervisor"))
    assert d2 is not None
    assert client.get(f"/staff/admin/users/{d2.id}").status_code == 404
    kinds = [c.value for c in client.get("/staff/admin/units/new").context["page"].kinds]
    assert "city" not in kinds


# ---------------------------------------------------------------- units and areas


def test_unit_tree_and_search(client: TestClient, city: City) -> None:
    sign_in(client, "admin")
    page = client.get("/staff/admin/units").context["page"]
    codes = [row.code for row in page.rows]
    assert codes[0] == "city" and "D1S1" in codes and "D1-water" in codes
    assert not [c for c in codes if c.endswith(("C1", "C2"))], "communities are folded into their street"
    street = next(row for row in page.rows if row.code == "D1S1")
    assert street.folded == 2 and street.has_area and street.depth == 2
    assert next(row for row in page.rows if row.code == "D1-water").has_area is False
    found = client.get("/staff/admin/units", params={"q": "d1s1c"}).context["page"]
    assert [row.code for row in found.rows] == ["D1S1C1", "D1S1C2"]
    assert found.rows[0].trail == "city中文 › D1中文 › D1S1中文"
    english = client.get("/staff/admin/units", params={"q": "D1S1C1", "lang": "en"})
    assert english.context["page"].rows[0].trail == "city › D1 › D1S1"
    assert "Community" in english.text
    assert client.get("/staff/admin/units", params={"q": "无此单位"}).context["page"].rows == []
    street_page = client.get(f"/staff/admin/units/{street.id}", params={"lang": "zh"}).context["page"]
    assert [c.code for c in street_page.children] == ["D1S1C1", "D1S1C2"]
    assert [c.name for c in street_page.trail] == ["city中文", "D1中文"]


def test_create_a_unit(client: TestClient, city: City, session: Session) -> None:
    sign_in(client, "admin")
    token = csrf(client, "/staff/admin/units/new")
    parent = unit(session, "D1S1")
    response = client.post(
        "/staff/admin/units",
        data={
            "csrf_token": token,
            "code": "D1S1C3",
            "name_zh": "新社区",
            "name_en": "New community",
            "kind": "community",
            "parent": str(parent.id),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    created = unit(session, "D1S1C3")
    assert response.headers["location"] == f"/staff/admin/units/{created.id}?done=created"
    assert created.parent_id == parent.id and created.path == f"{parent.path}{created.id}/"
    assert created.name_zh == "新社区" and created.area is None
    shown = client.get(response.headers["location"])
    assert shown.context["page"].notice == "单位已创建。"
    assert "尚无辖区范围" in shown.text
    department = client.post(
        "/staff/admin/units",
        data={
            "csrf_token": token,
            "code": "D1-parks",
            "name_zh": "区园林局",
            "name_en": "Parks",
            "kind": "department",
            "parent": str(unit(session, "D1").id),
            "function": "parks",
        },
        follow_redirects=False,
    )
    assert department.status_code == 303
    assert unit(session, "D1-parks").function == "parks"


@pytest.mark.parametrize(
    ("changes", "field", "expected"),
    [
        ({"name_zh": ""}, "name_zh", "此项必填。"),
        ({"code": "has space"}, "code", "只能使用字母、数字和 . _ -（不能有空格）。"),
        ({"code": "D1S1C1"}, "code", "编码 D1S1C1 已存在。"),
        ({"kind": ""}, "kind", "请从选项中选择一项。"),
        ({"kind": "street"}, "parent", "“街道（乡镇）”只能设在以下单位之下：区。"),
        ({"parent": ""}, "parent", "请选择该单位的上级单位。"),
        ({"parent": "99999"}, "parent", "请从列表中选择上级单位。"),
        (
            {"kind": "department", "parent": "city"},
            "function",
            "职能部门必须填写职能代码（类别按此代码派单）。",
        ),
        ({"name_en": "x" * 201}, "name_en", "最多 200 个字。"),
    ],
)
def test_create_unit_errors_are_next_to_the_field(
    client: TestClient, city: City, session: Session, changes: dict[str, str], field: str, expected: str
) -> None:
    sign_in(client, "admin")
    token = csrf(client, "/staff/admin/units/new")
    form = {
        "csrf_token": token,
        "code": "NEWC",
        "name_zh": "新社区",
        "name_en": "New community",
        "kind": "community",
        "parent": str(unit(session, "D1S1").id),
    }
    form.update(changes)
    if form["parent"] == "city":
        form["parent"] = str(unit(session, "city").id)
    response = client.post("/staff/admin/units", data=form)
    assert response.status_code == 422
    assert field_error(response, field) == expected
    kept = response.context["page"].form
    assert kept.name_en == form["name_en"][:300] and kept.code == form["code"]
    assert f'value="{form["code"]}"' in response.text
    assert session.scalar(select(Unit.id).where(Unit.code == "NEWC")) is None


def test_a_stale_form_is_refused(client: TestClient, city: City, session: Session) -> None:
    sign_in(client, "admin")
    response = client.post(
        "/staff/admin/units",
        data={
            "csrf_token": "forged",
            "code": "NEWC",
            "name_zh": "新",
            "name_en": "N",
            "kind": "community",
            "parent": str(unit(session, "D1S1").id),
        },
    )
    assert response.status_code == 422
    assert "CSRF" in response.context["page"].errors.get("form")
    assert session.scalar(select(Unit.id).where(Unit.code == "NEWC")) is None
    english = upload(client, unit(session, "D1S1").id, b"{}", "forged")
    assert english.status_code == 422 and english.context["page"].errors.get("form")


SQUARE = rectangle(0.1, 0.1, 0.2, 0.2)


@pytest.mark.parametrize(
    "document",
    [
        SQUARE,
        {"type": "Feature", "properties": {"name": "x"}, "geometry": SQUARE},
        {
            "type": "FeatureCollection",
            "features": [{"type": "Feature", "properties": {}, "geometry": SQUARE}],
        },
        {
            "type": "MultiPolygon",
            "coordinates": [SQUARE["coordinates"], rectangle(0.5, 0.5, 0.1, 0.1)["coordinates"]],
        },
    ],
    ids=["polygon", "feature", "feature-collection", "multipolygon"],
)
def test_upload_an_area(client: TestClient, city: City, session: Session, document: dict[str, Any]) -> None:
    sign_in(client, "admin")
    target = unit(session, "D1S1C1")
    token = csrf(client, f"/staff/admin/units/{target.id}")
    response = upload(client, target.id, ("\ufeff" + json.dumps(document, indent=2)).encode(), token)
    assert response.status_code == 303, response.text[:500]
    assert response.headers["location"] == f"/staff/admin/units/{target.id}?done=area"
    stored = json.loads(unit(session, "D1S1C1").area or "null")
    assert stored["type"] == ("MultiPolygon" if document["type"] == "MultiPolygon" else "Polygon")
    if stored["type"] == "Polygon":
        assert stored["coordinates"] == SQUARE["coordinates"]
    page = client.get(response.headers["location"])
    assert page.context["page"].notice == "辖区范围已保存，此后的诉求将按此范围派单。"
    assert f'data-geojson="/api/v1/units/{target.id}/area"' in page.text
    assert "/static/vendor/leaflet-1.9.4/leaflet.js" in page.text
    served = client.get(f"/api/v1/units/{target.id}/area").json()
    assert served["geometry"] == stored


BOWTIE = {"type": "Polygon", "coordinates": [[[0, 0], [0.4, 0.4], [0.4, 0], [0, 0.4], [0, 0]]]}


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"type": "Polygon", "coordinates": [[[0, 0], [1, 0]', "文件不是有效的 JSON：第 1 行第 "),
        (b"\xff\xfe\x00garbage", "文件不是 UTF-8 文本"),
        (b"", "请选择要上传的 GeoJSON 文件。"),
        (b"[1, 2, 3]", "文件中没有 GeoJSON 对象"),
        (
            json.dumps({"type": "Point", "coordinates": [0.2, 0.2]}).encode(),
            "几何类型为 Point；辖区范围必须是 Polygon 或 MultiPolygon。",
        ),
        (
            json.dumps(
                {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}}
            ).encode(),
            "几何类型为 LineString",
        ),
        (
            json.dumps(
                {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": SQUARE}] * 2}
            ).encode(),
            "FeatureCollection 必须只包含一个要素，此文件包含 2 个。",
        ),
        (json.dumps({"type": "Feature", "geometry": None}).encode(), "该要素没有几何图形"),
        (json.dumps(BOWTIE).encode(), "多边形在 0.2, 0.2（经度, 纬度）附近自相交。"),
        (
            json.dumps(rectangle(500000, 4400000, 1000, 1000)).encode(),
            "坐标必须是 WGS 84 经度（−180 至 180）和纬度（−90 至 90）；此文件中出现 501000, 4.401e+06",
        ),
        (json.dumps({"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}).encode(), "坐标格式有误"),
        (json.dumps({"type": "Polygon", "coordinates": "nonsense"}).encode(), "坐标格式有误"),
        (b"[" * 100000 + b"]" * 100000, "嵌套层级过深"),
        (
            b'{"type": "Polygon", "coordinates": [[' + b"[0.1, 0.1], " * 200000 + b"[0.1, 0.1]]]}",
            "文件过大：不能超过 2 MB。",
        ),
    ],
    ids=[
        "json",
        "encoding",
        "empty",
        "not-an-object",
        "point",
        "line-feature",
        "two-features",
        "no-geometry",
        "self-intersecting",
        "projected",
        "short-ring",
        "bad-coordinates",
        "deep",
        "too-large",
    ],
)
def test_a_bad_area_file_is_explained_next_to_the_field(
    client: TestClient, city: City, session: Session, content: bytes, expected: str
) -> None:
    sign_in(client, "admin")
    target = unit(session, "D1S1C1")
    before = target.area
    token = csrf(client, f"/staff/admin/units/{target.id}")
    response = upload(client, target.id, content, token)
    assert response.status_code == 422
    assert expected in field_error(response, "area")
    assert 'aria-describedby="area-hint area-error"' in response.text
    assert unit(session, "D1S1C1").area == before


def test_area_errors_in_english_and_departments_have_none(
    client: TestClient, city: City, session: Session
) -> None:
    sign_in(client, "admin")
    target = unit(session, "D1S1C1")
    token = csrf(client, f"/staff/admin/units/{target.id}")
    client.get("/staff/admin", params={"lang": "en"})
    response = upload(client, target.id, json.dumps(BOWTIE).encode(), token)
    assert response.context["page"].errors.get("area") == (
        "The polygon crosses itself near 0.2, 0.2 (longitude, latitude)."
    )
    water = unit(session, "D1-water")
    assert 'type="file"' not in client.get(f"/staff/admin/units/{water.id}").text
    refused = upload(client, water.id, json.dumps(SQUARE).encode(), token)
    assert refused.status_code == 422
    assert refused.context["page"].errors.get("area").startswith("Departments have no area")


def test_an_uploaded_area_routes_requests_at_once(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    """A district added with its area: a request inside it is accepted (the city grew) and routed to it, without
    waiting for the routing index's periodic refresh."""
    from chengzhi.errors import Invalid
    from chengzhi.requests import service as svc

    # The routing index is built now, without the new area: the point is outside the city.
    outside = svc.Submission(
        text="新区路灯不亮", category_code="litter", lat=0.5, lon=2.5, contact_phone="13800001111"
    )
    with pytest.raises(Invalid):
        svc.submit_request(session, actor(session, "resident"), outside, settings)
    session.rollback()
    sign_in(client, "admin")
    token = csrf(client)
    city_unit = unit(session, "city")
    assert upload(client, city_unit.id, json.dumps(rectangle(0, 0, 3, 1)).encode(), token).status_code == 303
    created = client.post(
        "/staff/admin/units",
        data={
            "csrf_token": token,
            "code": "D3",
            "name_zh": "新区",
            "name_en": "New district",
            "kind": "district",
            "parent": str(city_unit.id),
        },
        follow_redirects=False,
    )
    assert created.status_code == 303
    d3 = unit(session, "D3")
    assert upload(client, d3.id, json.dumps(rectangle(2, 0, 1, 1)).encode(), token).status_code == 303
    headers = auth(client, "resident")
    response = client.post(
        "/api/v1/requests",
        json={
            "text": "新区路灯不亮",
            "category": "litter",
            "lat": 0.5,
            "lon": 2.5,
            "contact_phone": "13800001111",
        },
        headers=headers,
    )
    assert response.status_code == 201, response.text
    session.rollback()  # a fresh snapshot of what the pages wrote
    from chengzhi.requests.models import Request as RequestRow

    row = session.scalar(
        select(RequestRow).where(RequestRow.tracking_number == response.json()["request"]["tracking_number"])
    )
    assert row is not None
    suggestion = svc.routing_suggestion(session, row)
    assert suggestion.unit_id == d3.id
    assert "新区" in suggestion.reason("zh")


# ---------------------------------------------------------------- categories


def category_form(token: str, **changes: str) -> dict[str, str]:
    form = {
        "csrf_token": token,
        "code": "noise",
        "name_zh": "噪声扰民",
        "name_en": "Noise",
        "group_zh": "环境",
        "group_en": "Environment",
        "handler_kind": "street",
        "handler_function": "",
        "default_priority": "high",
        "limit_sign": "30m",
        "limit_contact": "2h",
        "limit_reply": "3d",
        "limit_review": "7wd",
        "description": "夜间施工等噪声",
        "keywords": "噪音,施工",
        "q0_code": "when",
        "q0_description": "什么时候？",
        "q0_datatype": "singlevaluelist",
        "q0_required": "on",
        "q0_values": "day = 白天\nnight = 夜间",
        "q1_code": "",
        "q1_description": "",
        "q1_datatype": "string",
        "q1_values": "",
    }
    form.update(changes)
    return form


def test_categories_list_create_and_edit(client: TestClient, city: City, session: Session) -> None:
    sign_in(client, "admin")
    listed = client.get("/staff/admin/categories").context["page"].rows
    assert {r.code for r in listed} == {"litter", "road", "water", "bus"}
    litter = next(r for r in listed if r.code == "litter")
    assert litter.limits == "签收 2h · 联系诉求人 1d · 答复 7wd · 回访 1wd"
    assert next(r for r in listed if r.code == "road").questions == 1
    token = csrf(client, "/staff/admin/categories/new")
    response = client.post("/staff/admin/categories", data=category_form(token), follow_redirects=False)
    assert response.status_code == 303, response.text[:800]
    assert response.headers["location"] == "/staff/admin/categories/noise?done=created"
    session.rollback()  # a fresh snapshot of what the pages wrote
    noise = session.scalar(select(Category).where(Category.code == "noise"))
    assert noise is not None
    assert noise.time_limits == {"sign": "30m", "contact": "2h", "reply": "3d", "review": "7wd"}
    assert noise.default_priority.value == "high" and noise.group_en == "Environment"
    assert noise.attributes[0]["code"] == "when" and noise.attributes[0]["required"] is True
    assert noise.attributes[0]["values"] == [{"key": "day", "name": "白天"}, {"key": "night", "name": "夜间"}]
    assert len(noise.attributes) == 1
    edit = client.get(response.headers["location"])
    assert edit.context["page"].notice == "类别已创建。"
    assert edit.context["page"].form.questions[0].values == "day = 白天\nnight = 夜间"
    changed = category_form(
        token, name_en="Noise nuisance", limit_sign="", limit_reply="5wd", q0_values="day\nnight = 夜间"
    )
    changed.pop("code")
    saved = client.post("/staff/admin/categories/noise", data=changed, follow_redirects=False)
    assert saved.status_code == 303
    session.rollback()  # a fresh snapshot of what the pages wrote
    noise = session.scalar(select(Category).where(Category.code == "noise"))
    assert noise is not None and noise.name_en == "Noise nuisance" and noise.active is False
    assert noise.time_limits == {"contact": "2h", "reply": "5wd", "review": "7wd"}
    assert noise.attributes[0]["values"][0] == {"key": "day", "name": "day"}
    reactivated = client.post(
        "/staff/admin/categories/noise", data={**changed, "active": "on"}, follow_redirects=False
    )
    assert reactivated.status_code == 303
    session.rollback()  # a fresh snapshot of what the pages wrote
    assert session.scalar(select(Category.active).where(Category.code == "noise")) is True
    english = client.get("/staff/admin/categories", params={"lang": "en"}).context["page"].rows
    assert next(r for r in english if r.code == "noise").name == "Noise nuisance"
    api = client.get("/api/v1/categories/noise").json()
    assert api["time_limits"]["reply"] == "5wd"


def test_add_a_question_row_without_saving(client: TestClient, city: City, session: Session) -> None:
    sign_in(client, "admin")
    token = csrf(client, "/staff/admin/categories/new")
    response = client.post("/staff/admin/categories", data=category_form(token, more="1"))
    assert response.status_code == 200
    questions = response.context["page"].form.questions
    assert [q.code for q in questions] == ["when", "", ""]
    assert 'id="q2_code"' in response.text
    assert session.scalar(select(Category.id).where(Category.code == "noise")) is None


@pytest.mark.parametrize(
    ("changes", "field", "expected"),
    [
        ({"limit_sign": "5x"}, "limit_sign", "时限“5x”无效：请使用如 2h、30m、3d 或 7wd（工作日）的格式。"),
        ({"limit_reply": "1.5d"}, "limit_reply", "时限“1.5d”无效"),
        ({"limit_contact": "0h"}, "limit_contact", "时限“0h”无效"),
        ({"code": "litter"}, "code", "编码 litter 已存在。"),
        ({"code": "bad code!"}, "code", "只能使用字母、数字和 . _ -（不能有空格）。"),
        ({"code": "new"}, "code", "此编码已被“新建类别”页面占用，请换一个。"),
        ({"name_en": ""}, "name_en", "此项必填。"),
        ({"handler_kind": "planet"}, "handler_kind", "请从选项中选择一项。"),
        ({"handler_kind": "department"}, "handler_function", "由职能部门办理的类别必须填写部门职能代码。"),
        ({"q0_values": ""}, "q0_values", "列表类问题需要填写可选值，每行一个。"),
        ({"q0_values": "a = 甲\na = 乙"}, "q0_values", "可选值 a 重复。"),
        ({"q0_code": "", "q0_description": "没有编码的问题"}, "q0_code", "请为问题填写编码。"),
        ({"q1_code": "when", "q1_description": "again"}, "q1_code", "已有问题使用此编码。"),
        ({"q0_datatype": "colour"}, "q0_datatype", "请从选项中选择一项。"),
    ],
)
def test_category_errors_are_next_to_the_field(
    client: TestClient, city: City, session: Session, changes: dict[str, str], field: str, expected: str
) -> None:
    sign_in(client, "admin")
    token = csrf(client, "/staff/admin/categories/new")
    form = category_form(token, **changes)
    response = client.post("/staff/admin/categories", data=form)
    assert response.status_code == 422
    assert expected in field_error(response, field)
    kept = response.context["page"].form
    assert kept.name_zh == "噪声扰民" and kept.limits["sign"] == form["limit_sign"]
    assert f'value="{form["limit_sign"]}"' in response.text
    assert kept.questions[0].description == form["q0_description"]
    codes = {c for c in session.scalars(select(Category.code))}
    assert codes == {"litter", "road", "water", "bus"}


def test_editing_a_category_keeps_its_errors_too(client: TestClient, city: City, session: Session) -> None:
    sign_in(client, "admin")
    token = csrf(client, "/staff/admin/categories/water")
    page = client.get("/staff/admin/categories/water").context["page"]
    assert page.editing and page.form.handler_function == "water" and page.form.limits == {"reply": "24h"}
    response = client.post(
        "/staff/admin/categories/water",
        data={
            "csrf_token": token,
            "name_zh": "停水停电",
            "name_en": "Outage",
            "handler_kind": "department",
            "handler_function": "water",
            "default_priority": "high",
            "limit_reply": "soon",
            "active": "on",
        },
    )
    assert response.status_code == 422
    assert "soon" in field_error(response, "limit_reply")
    assert response.context["page"].form.name_zh == "停水停电"
    session.rollback()  # a fresh snapshot of what the pages wrote
    assert session.scalar(select(Category.name_zh).where(Category.code == "water")) == "停水"


# ---------------------------------------------------------------- users and roles


def test_users_list_search_pages_and_masking(client: TestClient, city: City, session: Session) -> None:
    password_hash = hash_password(PASSWORD)
    d1s1 = unit(session, "D1S1")
    for n in range(60):
        create_user(
            session,
            username=f"worker{n:02d}",
            display_name=f"工作人员{n:02d}",
            password=None,
            password_hash=password_hash,
            roles=[(Role.handler, d1s1)],
            phone=f"1390000{n:04d}",
        )
    session.commit()
    sign_in(client, "admin")
    first = client.get("/staff/admin/users")
    page = first.context["page"]
    assert len(page.rows) == 50 and page.first_url is None and page.next_url
    assert "$argon2" not in first.text and "password" not in first.text.lower().replace("password_", "")
    worker = next(r for r in page.rows if r.username == "worker00")
    assert worker.phone == "139****0000"
    assert "13900000000" not in first.text
    assert worker.roles == ["承办人 · D1S1中文"]
    second = client.get(page.next_url).context["page"]
    assert second.first_url == "/staff/admin/users" and second.next_url is None
    seen = [r.username for r in page.rows + second.rows]
    assert len(seen) == len(set(seen)) == 13 + 60
    found = client.get("/staff/admin/users", params={"q": "工作人员0"}).context["page"]
    assert [r.username for r in found.rows] == [f"worker0{n}" for n in range(10)]
    admins = client.get("/staff/admin/users", params={"role": "admin"}).context["page"]
    assert [r.username for r in admins.rows] == ["admin"]
    by_role = client.get("/staff/admin/users", params={"role": "handler", "q": "worker"}).context["page"]
    assert by_role.next_url and "role=handler" in by_role.next_url and "q=worker" in by_role.next_url
    odd = client.get("/staff/admin/users", params={"q": "100%_", "after": "x", "role": "king"})
    assert odd.status_code == 200 and odd.context["page"].rows == []


def user_form(token: str, unit_id: int, **changes: str) -> dict[str, str]:
    form = {
        "csrf_token": token,
        "username": "new.handler",
        "display_name": "新承办人",
        "password": "a-long-password",
        "password2": "a-long-password",
        "phone": "13812345678",
        "email": "new@example.org",
        "language": "zh",
        "role": "handler",
        "unit": str(unit_id),
    }
    form.update(changes)
    return form


def test_create_a_user_who_can_then_sign_in(client: TestClient, city: City, session: Session) -> None:
    sign_in(client, "admin")
    token = csrf(client, "/staff/admin/users/new")
    response = client.post(
        "/staff/admin/users", data=user_form(token, unit(session, "D1S1").id), follow_redirects=False
    )
    assert response.status_code == 303, response.text[:500]
    session.rollback()  # a fresh snapshot of what the pages wrote
    user = session.scalar(select(User).where(User.username == "new.handler"))
    assert user is not None and user.password_hash and user.password_hash.startswith("$argon2")
    assert [(r.role, r.unit.code) for r in user.roles] == [(Role.handler, "D1S1")]
    page = client.get(response.headers["location"])
    assert page.context["page"].notice == "用户已创建。"
    assert "$argon2" not in page.text and "a-long-password" not in page.text
    other = TestClient(client.app)
    sign_in(other, "new.handler", "a-long-password")
    assert other.get("/staff").status_code == 200


@pytest.mark.parametrize(
    ("changes", "field", "expected"),
    [
        ({"password": "short", "password2": "short"}, "password", "请至少输入 10 个字符。"),
        ({"password2": "another-long-password"}, "password2", "两次输入的密码不一致：请输入相同的密码。"),
        ({"username": "admin"}, "username", "用户名 admin 已被使用。"),
        ({"username": "有 空格"}, "username", "只能使用字母、数字和 . _ - @（不能有空格）。"),
        ({"username": "ab"}, "username", "请至少输入 3 个字符。"),
        ({"display_name": ""}, "display_name", "此项必填。"),
        ({"phone": "call me"}, "phone", "请输入电话号码：只能包含数字、空格、+ 和 -。"),
        ({"email": "not-an-address"}, "email", "请输入电子邮箱地址，例如 name@example.org。"),
        ({"role": "emperor"}, "role", "请选择角色。"),
        ({"unit": ""}, "unit", "请选择担任该角色的单位。"),
    ],
)
def test_create_user_errors_are_next_to_the_field(
    client: TestClient, city: City, session: Session, changes: dict[str, str], field: str, expected: str
) -> None:
    sign_in(client, "admin")
    token = csrf(client, "/staff/admin/users/new")
    form = user_form(token, unit(session, "D1S1").id, **changes)
    response = client.post("/staff/admin/users", data=form)
    assert response.status_code == 422
    assert field_error(response, field) == expected
    kept = response.context["page"].form
    assert kept.display_name == form["display_name"] and kept.phone == form["phone"]
    assert form["password"] not in response.text, "a password is never sent back"
    users = set(session.scalars(select(User.username)))
    assert "new.handler" not in users and "有 空格" not in users


def test_grant_remove_roles_and_deactivate(client: TestClient, city: City, session: Session) -> None:
    sign_in(client, "admin")
    target = session.scalar(select(User).where(User.username == "d1s1-handler"))
    assert target is not None
    token = csrf(client, f"/staff/admin/users/{target.id}")
    page = client.get(f"/staff/admin/users/{target.id}").context["page"]
    assert page.phone == "13800000000" and page.can_deactivate
    bad = client.post(
        f"/staff/admin/users/{target.id}/roles", data={"csrf_token": token, "role": "supervisor", "unit": ""}
    )
    assert bad.status_code == 422
    assert field_error(bad, "unit") == "请选择担任该角色的单位。"
    assert bad.context["page"].grant_role == "supervisor"
    granted = client.post(
        f"/staff/admin/users/{target.id}/roles",
        data={"csrf_token": token, "role": "supervisor", "unit": str(unit(session, "D1").id)},
        follow_redirects=False,
    )
    assert granted.status_code == 303
    session.rollback()  # a fresh snapshot of what the pages wrote
    assert {(r.role, r.unit.code) for r in target.roles} == {(Role.handler, "D1S1"), (Role.supervisor, "D1")}
    held = next(
        h for h in client.get(f"/staff/admin/users/{target.id}").context["page"].held if h.role == "督办员"
    )
    removed = client.post(
        f"/staff/admin/users/{target.id}/roles/{held.id}/remove",
        data={"csrf_token": token},
        follow_redirects=False,
    )
    assert removed.status_code == 303
    session.rollback()  # a fresh snapshot of what the pages wrote
    assert {(r.role, r.unit.code) for r in target.roles} == {(Role.handler, "D1S1")}
    missing = client.post(f"/staff/admin/users/{target.id}/roles/999999/remove", data={"csrf_token": token})
    assert missing.status_code == 422 and missing.context["page"].errors.get("roles") == "您不能移除此角色。"
    off = client.post(
        f"/staff/admin/users/{target.id}/active",
        data={"csrf_token": token, "active": "0"},
        follow_redirects=False,
    )
    assert off.status_code == 303
    session.rollback()  # a fresh snapshot of what the pages wrote
    assert target.active is False
    assert (
        client.post("/api/v1/auth/token", json={"username": "d1s1-handler", "password": PASSWORD}).status_code
        == 401
    )
    listed = client.get("/staff/admin/users", params={"q": "d1s1-handler"}).context["page"].rows
    assert listed[0].active is False
    on = client.post(
        f"/staff/admin/users/{target.id}/active",
        data={"csrf_token": token, "active": "1"},
        follow_redirects=False,
    )
    assert on.status_code == 303
    assert (
        client.post("/api/v1/auth/token", json={"username": "d1s1-handler", "password": PASSWORD}).status_code
        == 200
    )


def test_an_administrator_cannot_lock_themselves_out(
    client: TestClient, city: City, session: Session
) -> None:
    sign_in(client, "admin")
    me = session.scalar(select(User).where(User.username == "admin"))
    assert me is not None
    grant_role(session, me, Role.supervisor, unit(session, "city"))
    session.commit()
    token = csrf(client)
    page = client.get(f"/staff/admin/users/{me.id}").context["page"]
    assert page.is_self and not page.can_deactivate
    assert [h.can_remove for h in page.held if h.role == "管理员"] == [False]
    assert [h.can_remove for h in page.held if h.role == "督办员"] == [True]
    refused = client.post(f"/staff/admin/users/{me.id}/active", data={"csrf_token": token, "active": "0"})
    assert refused.status_code == 422 and refused.context["page"].errors.get("active")
    admin_role = next(h for h in page.held if h.role == "管理员")
    kept = client.post(f"/staff/admin/users/{me.id}/roles/{admin_role.id}/remove", data={"csrf_token": token})
    assert kept.status_code == 422
    session.rollback()  # a fresh snapshot of what the pages wrote
    assert me.active and Role.admin in {r.role for r in me.roles}


def test_odd_posts_get_a_page_never_an_error(client: TestClient, city: City, session: Session) -> None:
    """Missing fields, NUL characters, huge values, unknown ids: a page with the problem, never a 500."""
    sign_in(client, "admin")
    token = csrf(client)
    user_id = session.scalar(select(User.id).where(User.username == "d1s1-handler"))
    d1s1 = unit(session, "D1S1").id
    odd = {
        "csrf_token": token,
        "code": "a\x00b",
        "name_zh": "\x00" * 3,
        "name_en": "x" * 100_000,
        "kind": "\x00",
        "parent": "-1",
        "username": "u\x00ser",
        "password": "p" * 5000,
        "role": "\x00",
        "unit": "99999999999999999999",
        "handler_kind": "department",
        "q0_code": "\x00",
        "limit_sign": "\x00",
    }
    posts = [
        "/staff/admin/units",
        f"/staff/admin/units/{d1s1}/area",
        "/staff/admin/units/abc/area",
        "/staff/admin/units/99999/area",
        "/staff/admin/categories",
        "/staff/admin/categories/litter",
        "/staff/admin/categories/none-such",
        "/staff/admin/users",
        f"/staff/admin/users/{user_id}/roles",
        f"/staff/admin/users/{user_id}/roles/x/remove",
        f"/staff/admin/users/{user_id}/active",
        "/staff/admin/users/0/active",
    ]
    for path in posts:
        for data in (odd, {}, {"csrf_token": token}):
            response = client.post(path, data=data, follow_redirects=False)
            assert response.status_code in (303, 404, 422), (path, response.status_code, response.text[:300])
            if response.status_code != 303:
                assert response.headers["content-type"].startswith("text/html"), path
    session.rollback()  # a fresh snapshot of what the pages wrote
    assert not [c for c in session.scalars(select(Unit.code)) if "\x00" in c or c == "ab"]
    target = session.get(User, user_id)
    assert target is not None and target.active is True, "only active=0 deactivates"


def test_the_unit_page_warns_when_an_area_does_not_fit(
    client: TestClient, city: City, session: Session
) -> None:
    """Saved anyway (an admin may be redrawing several units), but the page says where routing becomes ambiguous."""
    sign_in(client, "admin")
    target = unit(session, "D1S1C1")
    token = csrf(client, f"/staff/admin/units/{target.id}")
    fits = client.get(f"/staff/admin/units/{target.id}").context["page"]
    assert fits.warnings == []
    assert fits.context_url == f"/api/v1/units/{unit(session, 'D1S1').id}/area"
    # D1S1C1 widened to (0..0.75, 0..0.75): half of D1S1C2's width overlaps, and the top third leaves D1S1.
    assert (
        upload(client, target.id, json.dumps(rectangle(0, 0, 0.75, 0.75)).encode(), token).status_code == 303
    )
    page = client.get(f"/staff/admin/units/{target.id}").context["page"]
    assert page.warnings == [
        "请检查辖区范围：其中 33% 位于上级单位 D1S1中文 之外。",
        "请检查辖区范围：其中 22% 与 D1S1C2中文 重叠，该处的诉求可能派给其中任一单位。",
    ]
    english = client.get(f"/staff/admin/units/{target.id}", params={"lang": "en"}).context["page"]
    assert english.warnings[0] == "Check the area: 33% of it lies outside D1S1, the unit above it."
    city_page = client.get(f"/staff/admin/units/{unit(session, 'city').id}").context["page"]
    assert city_page.warnings == [] and city_page.context_url is None
