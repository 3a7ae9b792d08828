"""The API's contract for errors a client can cause, on both databases.

Every such error is `{"error": {"code", "message"}}` (validation errors add `fields`) with the fitting status and a
message in the client's language; no input yields a 500. The fuzz at the end throws random JSON at the intake and
at every workflow step.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import event, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import select

from chengzhi.app import create_app
from chengzhi.config import Settings
from chengzhi.db import get_sessionmaker
from chengzhi.i18n import MESSAGES
from chengzhi.org.models import User
from chengzhi.org.service import issue_token

from .factories import City

CJK = re.compile(r"[\u3400-\u9fff]")
SUBMIT = "/api/v1/requests"


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is an error in the envelope, with the status (and code) expected; returns the error."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    extra = {"fields"} if error.get("code") == "validation_failed" else set()
    assert {"code", "message"} <= set(error) <= {"code", "message"} | extra, error
    assert isinstance(error["code"], str) and error["code"] in MESSAGES, error
    assert isinstance(error["message"], str) and error["message"].strip(), error
    if code is not None:
        assert error["code"] == code, error
    return error


def token_headers(client: TestClient, username: str) -> dict[str, str]:
    """Bearer headers for a user, with a token issued directly: signing in costs an argon2 verification, which
    tests that are not about signing in need not pay (test_auth.py signs in for real)."""
    settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
    with get_sessionmaker(settings.database_url)() as session:
        user = session.scalar(select(User).where(User.username == username))
        assert user is not None, username
        token, _record = issue_token(session, user, days=1)
        session.commit()
    return {"Authorization": f"Bearer {token}"}


def valid_submission(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "text": "路灯不亮已经一周",
        "lat": 0.2,
        "lon": 0.2,
        "contact_phone": "13912345678",
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def submit(client: TestClient, headers: dict[str, str] | None = None, **changes: Any) -> httpx.Response:
    # Encoded here (ASCII-escaped) rather than by httpx, which cannot encode a lone surrogate.
    body = json.dumps(valid_submission(**changes)).encode()
    response: httpx.Response = client.post(
        SUBMIT, content=body, headers={"content-type": "application/json"} | (headers or {})
    )
    return response


def created_number(response: httpx.Response) -> str:
    assert response.status_code == 201, response.text
    number: str = response.json()["request"]["tracking_number"]
    return number


def post_raw(
    client: TestClient, path: str, raw: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    response: httpx.Response = client.post(
        path, content=raw.encode(), headers={"content-type": "application/json"} | (headers or {})
    )
    return response


# ---------------------------------------------------------------- 400


def test_malformed_json_is_400(client: TestClient, city: City) -> None:
    error = assert_error(post_raw(client, SUBMIT, '{"text": "漏水", '), 400, "json_invalid")
    assert CJK.search(error["message"])
    error = assert_error(post_raw(client, SUBMIT + "?lang=en", "{text: 1}"), 400, "json_invalid")
    assert "JSON" in error["message"] and not CJK.search(error["message"])


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"text=%E6%BC%8F%E6%B0%B4&lat=0.2&lon=0.2", "application/x-www-form-urlencoded"),
        (json.dumps(valid_submission()).encode(), "text/plain"),
        (json.dumps(valid_submission()).encode(), None),
    ],
    ids=["form", "text-plain", "no-content-type"],
)
def test_body_that_is_not_json_is_400(
    client: TestClient, city: City, content: bytes, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    assert_error(client.post(SUBMIT, content=content, headers=headers), 400, "json_expected")


def test_json_that_is_not_an_object_is_422(client: TestClient, city: City) -> None:
    for raw in ("[]", '"漏水"', "42", "null"):
        assert_error(post_raw(client, SUBMIT, raw), 422, "validation_failed")


# ---------------------------------------------------------------- 401 and 403


def test_staff_action_without_token_is_401(client: TestClient, city: City) -> None:
    number = created_number(submit(client, token_headers(client, "operator")))
    response = client.post(f"{SUBMIT}/{number}/dispatch", json={"lead_unit_id": city.unit("D1S1").id})
    assert_error(response, 401, "not_authenticated")
    assert response.headers["www-authenticate"] == "Bearer"
    assert_error(client.get(SUBMIT), 401, "not_authenticated")
    assert_error(client.get("/api/v1/me"), 401, "not_authenticated")


def test_wrong_role_is_403_and_names_the_role(client: TestClient, city: City) -> None:
    resident = token_headers(client, "resident")
    number = created_number(submit(client, resident, category="litter"))
    response = client.post(
        f"{SUBMIT}/{number}/dispatch", json={"lead_unit_id": city.unit("D1S1C1").id}, headers=resident
    )
    assert "dispatcher" in assert_error(response, 403, "forbidden_role")["message"]
    response = client.post(
        "/api/v1/categories",
        json={"code": "noise", "name_zh": "噪音", "name_en": "Noise", "handler_kind": "street"},
        headers=token_headers(client, "dispatcher"),
    )
    assert_error(response, 403, "forbidden_role")


def test_handler_of_a_co_unit_is_out_of_scope_for_the_lead_units_steps(
    client: TestClient, city: City
) -> None:
    number = created_number(submit(client, token_headers(client, "operator"), category="litter"))
    dispatched = client.post(
        f"{SUBMIT}/{number}/dispatch",
        json={"lead_unit_id": city.unit("D1S1C1").id, "co_unit_ids": [city.unit("D1-water").id]},
        headers=token_headers(client, "dispatcher"),
    )
    assert dispatched.status_code == 200, dispatched.text
    co_handler = token_headers(client, "d1-water-handler")
    assert client.get(f"{SUBMIT}/{number}", headers=co_handler).status_code == 200
    assert_error(client.post(f"{SUBMIT}/{number}/sign", headers=co_handler), 403, "out_of_scope")


# ---------------------------------------------------------------- 404 and 405


def test_unknown_request_is_404_and_an_invisible_one_looks_the_same(client: TestClient, city: City) -> None:
    resident = token_headers(client, "resident")
    number = created_number(submit(client, resident))
    other = token_headers(client, "resident2")
    unknown = assert_error(client.get(f"{SUBMIT}/99999999999999", headers=other), 404, "request_not_found")
    assert "99999999999999" in unknown["message"]
    hidden = assert_error(client.get(f"{SUBMIT}/{number}", headers=other), 404, "request_not_found")
    assert hidden["message"] == unknown["message"].replace("99999999999999", number)
    # Digits that are not ASCII are not an id either (int("²") fails): still a plain 404.
    assert_error(client.get(f"{SUBMIT}/²", headers=other), 404, "request_not_found")


def test_unknown_route_and_method(client: TestClient, city: City) -> None:
    assert_error(client.get("/api/v1/no-such-thing"), 404, "not_found")
    assert_error(client.delete(SUBMIT), 405, "method_not_allowed")


def test_unknown_category_on_submit_is_404(client: TestClient, city: City) -> None:
    error = assert_error(submit(client, category="no-such-category"), 404, "category_not_found")
    assert "no-such-category" in error["message"]


# ---------------------------------------------------------------- 409


def test_illegal_step_is_409_and_says_why_in_both_languages(client: TestClient, city: City) -> None:
    number = created_number(submit(client, token_headers(client, "operator"), category="litter"))
    handler = token_headers(client, "d1s1c1-handler")
    # Only staff who can see the request learn its state: dispatch it first, then sign twice.
    client.post(
        f"{SUBMIT}/{number}/dispatch",
        json={"lead_unit_id": city.unit("D1S1C1").id},
        headers=token_headers(client, "dispatcher"),
    )
    assert client.post(f"{SUBMIT}/{number}/sign", headers=handler).status_code == 200
    zh = assert_error(client.post(f"{SUBMIT}/{number}/sign", headers=handler), 409, "illegal_transition")
    assert zh["message"] == "诉求当前状态为“已签收”，不能执行“签收”。只能签收已派单、尚未签收的诉求。"
    en = assert_error(
        client.post(f"{SUBMIT}/{number}/sign?lang=en", headers=handler), 409, "illegal_transition"
    )
    assert en["message"] == (
        "The request is signed; it cannot be signed. Only a dispatched request that is not yet signed can be signed."
    )
    assert not CJK.search(en["message"])


def test_taken_username_is_409(client: TestClient, city: City) -> None:
    response = client.post(
        "/api/v1/users",
        json={"username": "resident", "display_name": "又一个", "password": "long-enough-password"},
        headers=token_headers(client, "admin"),
    )
    assert "resident" in assert_error(response, 409, "username_taken")["message"]


# ---------------------------------------------------------------- 413


def test_oversized_body_is_413_whether_announced_or_streamed(client: TestClient, settings: Settings) -> None:
    limit = settings.max_photo_bytes + 256 * 1024
    announced = client.post(SUBMIT, content=b" " * (limit + 1), headers={"content-type": "application/json"})
    assert_error(announced, 413, "body_too_large")

    def chunks() -> Iterator[bytes]:
        # No Content-Length: the limit must hold on the bytes actually read.
        for _ in range(limit // 65536 + 2):
            yield b" " * 65536

    streamed = client.post(SUBMIT, content=chunks(), headers={"content-type": "application/json"})
    assert "transfer-encoding" in streamed.request.headers
    assert_error(streamed, 413, "body_too_large")


# ---------------------------------------------------------------- 422

INVALID_SUBMISSIONS: list[tuple[str, dict[str, Any], str, str | None]] = [
    ("text-too-long", {"text": "长" * 4001}, "validation_failed", "text"),
    ("text-empty", {"text": ""}, "validation_failed", "text"),
    ("lat-out-of-range", {"lat": 91.0}, "validation_failed", "lat"),
    ("lon-out-of-range", {"lon": -180.5}, "validation_failed", "lon"),
    ("bad-phone", {"contact_phone": "call me maybe"}, "validation_failed", "contact_phone"),
    ("bad-email", {"contact_email": "not-an-address"}, "validation_failed", "contact_email"),
    ("unknown-field", {"colour": "red"}, "validation_failed", "colour"),
    ("unknown-channel", {"channel": "pigeon"}, "validation_failed", "channel"),
    ("nul-in-text", {"text": "漏\x00水"}, "validation_failed", None),
    ("lone-surrogate", {"address": "\ud800"}, "validation_failed", None),
    ("missing-required-attribute", {"category": "road"}, "attribute_required", None),
    (
        "invalid-attribute-value",
        {"category": "road", "attributes": {"size": "huge"}},
        "attribute_invalid",
        None,
    ),
    (
        "attribute-the-category-does-not-ask",
        {"category": "road", "attributes": {"size": "small", "colour": "red"}},
        "attribute_invalid",
        None,
    ),
    ("outside-the-city", {"lat": 30.0, "lon": 120.0}, "location_outside_city", None),
    ("half-a-location", {"lon": None}, "location_required", None),
    ("no-location", {"lat": None, "lon": None}, "location_required", None),
    ("anonymous-without-contact", {"contact_phone": None}, "contact_required", None),
    ("anonymous-without-consent", {"consent": False}, "contact_required", None),
]


def test_invalid_submissions_are_422(client: TestClient, city: City) -> None:
    for case, changes, code, field in INVALID_SUBMISSIONS:
        error = assert_error(submit(client, **changes), 422, code)
        if field is not None:
            assert field in {f["field"] for f in error["fields"]}, (case, error)
            assert field in error["message"], (case, error)


def test_non_finite_numbers_are_422(client: TestClient, city: City) -> None:
    # Python's JSON parser reads NaN and Infinity; the schemas must not let them through.
    for raw in (
        '{"text": "漏水", "lat": NaN, "lon": 0.2, "contact_phone": "13912345678"}',
        '{"text": "漏水", "lat": 0.2, "lon": Infinity, "contact_phone": "13912345678"}',
        '{"text": "漏水", "lat": 0.2, "lon": 0.2, "contact_phone": "13912345678", "attributes": {"n": NaN}}',
    ):
        assert_error(post_raw(client, SUBMIT, raw), 422, "validation_failed")


def test_invalid_step_bodies_are_422(client: TestClient, city: City) -> None:
    number = created_number(submit(client, token_headers(client, "operator"), category="litter"))
    dispatcher = token_headers(client, "dispatcher")
    for step, body in (
        ("dispatch", {}),
        ("dispatch", {"lead_unit_id": 2**40}),
        ("dispatch", {"lead_unit_id": "D1S1"}),
        ("dispatch", {"lead_unit_id": city.unit("D1S1").id, "co_unit_ids": [0]}),
        ("dispatch", {"lead_unit_id": city.unit("D1S1").id, "urgent": True}),
        ("merge", {"into": ""}),
        ("review", {"resolved": True, "satisfaction": 6}),
        ("extension", {"days": 0, "reason": "施工"}),
    ):
        response = client.post(f"{SUBMIT}/{number}/{step}", json=body, headers=dispatcher)
        assert_error(response, 422, "validation_failed")
    assert_error(
        client.get(f"{SUBMIT}?before=99999999999999999999", headers=dispatcher), 422, "validation_failed"
    )
    assert_error(client.get(f"{SUBMIT}?status=lost", headers=dispatcher), 422, "validation_failed")


@pytest.mark.parametrize(
    "area",
    [
        {"type": "Point", "coordinates": [0.5, 0.5]},
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [0, 0]]]},
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]},
        {"type": "Polygon", "coordinates": [[[0, 0], [200, 0], [200, 1], [0, 0]]]},
        {"type": "Polygon", "coordinates": "square"},
        {"type": "Feature", "geometry": None},
        "NaN-ring",
    ],
    ids=[
        "point",
        "too-few-points",
        "self-intersecting",
        "not-wgs84",
        "not-coordinates",
        "empty-feature",
        "nan",
    ],
)
def test_invalid_area_is_422(client: TestClient, city: City, area: dict[str, Any] | str) -> None:
    path = f"/api/v1/units/{city.unit('D1').id}/area"
    admin = token_headers(client, "admin")
    if area == "NaN-ring":
        # NaN never equals itself, so the ring cannot close: shapely raised its own error class for this.
        raw = '{"area": {"type": "Polygon", "coordinates": [[[NaN, 0], [1, 0], [1, 1], [NaN, 0]]]}}'
        response = client.put(
            path, content=raw.encode(), headers=admin | {"content-type": "application/json"}
        )
    else:
        response = client.put(path, json={"area": area}, headers=admin)
    assert_error(response, 422, "invalid_area")


def test_invalid_time_limit_on_a_category_is_422(client: TestClient, city: City) -> None:
    admin = token_headers(client, "admin")
    base = {"code": "noise", "name_zh": "噪音", "name_en": "Noise", "handler_kind": "street"}
    for limit in ("2 weeks", "0h", "1.5d", "-3d", "99999d"):
        response = client.post(
            "/api/v1/categories", json=base | {"time_limits": {"reply": limit}}, headers=admin
        )
        assert limit in assert_error(response, 422, "invalid_time_limit")["message"]
    response = client.patch(
        "/api/v1/categories/litter", json={"time_limits": {"sign": "soon"}}, headers=admin
    )
    assert_error(response, 422, "invalid_time_limit")
    response = client.post("/api/v1/categories", json=base | {"time_limits": {"later": "2h"}}, headers=admin)
    assert_error(response, 422, "validation_failed")


def test_odd_question_definitions_are_refused_not_crashed(client: TestClient, city: City) -> None:
    admin = token_headers(client, "admin")
    question = {"code": "size", "datatype": "string"}
    fine = client.patch(
        "/api/v1/categories/litter", json={"attributes": [question | {"order": None}]}, headers=admin
    )
    assert fine.status_code == 200, fine.text
    assert fine.json()["attributes"][0]["order"] == 1
    for odd in (
        {"order": "first"},
        {"order": -2},
        {"values": "big"},
        {"values": [{"name": "x"}]},
    ):
        response = client.patch(
            "/api/v1/categories/litter", json={"attributes": [question | odd]}, headers=admin
        )
        assert response.status_code == 422, (odd, response.text)
        assert response.json()["error"]["code"] in {"attribute_invalid", "validation_failed"}


def test_out_of_range_ids_are_refused_not_crashed(client: TestClient, city: City) -> None:
    admin = token_headers(client, "admin")
    huge = 10**20
    assert_error(client.get(f"/api/v1/units/{huge}"), 422, "validation_failed")
    assert_error(client.get(f"/api/v1/units?under={huge}"), 422, "validation_failed")
    assert_error(client.get(f"/api/v1/users?offset={huge}", headers=admin), 422, "validation_failed")
    response = client.post("/api/v1/users/1/roles", json={"role": "admin", "unit_id": huge}, headers=admin)
    assert_error(response, 422, "validation_failed")
    assert_error(client.get("/api/v1/units/2147483647"), 404, "unit_not_found")


# ---------------------------------------------------------------- 429


def test_eleventh_anonymous_submission_in_a_minute_is_429(client: TestClient, city: City) -> None:
    for _ in range(10):
        created_number(submit(client))
    response = submit(client)
    error = assert_error(response, 429, "rate_limited")
    seconds = int(response.headers["retry-after"])
    assert 1 <= seconds <= 61
    assert str(seconds) in error["message"]
    # The limit is per address, and for anonymous callers only.
    other = TestClient(client.app, client=("198.51.100.7", 40000), raise_server_exceptions=False)
    created_number(submit(other))
    created_number(submit(client, token_headers(client, "resident")))


# ---------------------------------------------------------------- no input yields a 500

json_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(["", "\x00", "\ud800", "litter", "road", "small", "13912345678", "received"])
    | st.integers(min_value=3990, max_value=8010).map(lambda n: "长" * n)
)
json_values = st.recursive(
    json_leaves,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
short_text = st.text(max_size=40)
# Per field: plausible values (which get past the schemas to the service layer) or any JSON at all.
SUBMISSION_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "text": short_text,
    "title": short_text,
    "category": st.sampled_from(["litter", "road", "water", "bus", "no-such-category"]),
    "channel": st.sampled_from(["web", "phone", "app", "email", "open311", "import"]),
    "priority": st.sampled_from(["emergency", "high", "normal", "low"]),
    "lat": st.floats(min_value=-1, max_value=2) | st.floats(),
    "lon": st.floats(min_value=-1, max_value=3) | st.floats(),
    "address": short_text,
    "contact_name": short_text,
    "contact_phone": st.from_regex(r"\+?[0-9][0-9 \-]{3,18}", fullmatch=True),
    "contact_email": st.emails(),
    "attributes": st.dictionaries(
        st.sampled_from(["size", "n", "when"]),
        st.sampled_from(["small", "large", "2024-13-01", "1e400"]) | json_leaves,
        max_size=3,
    ),
    "consent": st.booleans(),
}
SUBMISSION_BASES = [
    valid_submission(),
    valid_submission(category="road", attributes={"size": "small"}),
    {"text": "咨询公积金提取", "channel": "phone"},
]


def _one_in(draw: st.DrawFn, n: int) -> bool:
    # Not st.integers: it favours its bounds, which would make "rarely" mean "often".
    return draw(st.sampled_from(range(n))) == 0


@st.composite
def submission_bodies(draw: st.DrawFn) -> Any:
    """Mostly a valid body with a few fields changed (plausibly, or wildly), to reach the service layer;
    sometimes any JSON at all, to exercise parsing and validation."""
    if _one_in(draw, 8):
        return draw(json_values)
    body = dict(draw(st.sampled_from(SUBMISSION_BASES)))
    for field in draw(st.lists(st.sampled_from(list(SUBMISSION_VALUES)), max_size=3, unique=True)):
        if _one_in(draw, 6):
            body.pop(field, None)
        else:
            body[field] = draw(json_values if _one_in(draw, 4) else SUBMISSION_VALUES[field])
    if _one_in(draw, 20):
        body[draw(st.text(max_size=8))] = draw(json_values)
    return body


# "UNIT:<code>" and "REQUEST:<n>" stand for a real unit's id and a real request's number, filled in by the test.
unit_refs = st.sampled_from(["UNIT:D1S1C1", "UNIT:D1-water", "UNIT:D1S1", "UNIT:city"]) | st.integers()
STEP_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "lead_unit_id": unit_refs,
    "co_unit_ids": st.lists(unit_refs, max_size=3),
    "unit_ids": st.lists(unit_refs, max_size=3),
    "category": st.sampled_from(["litter", "road", "bus", "no-such-category"]),
    "note": short_text,
    "reason": short_text,
    "text": short_text,
    "comment": short_text,
    "resolved": st.booleans(),
    "satisfaction": st.integers(min_value=0, max_value=6),
    "days": st.integers(min_value=-1, max_value=61),
    "into": st.sampled_from(["REQUEST:0", "REQUEST:1", "REQUEST:2", "REQUEST:3"]) | short_text,
}
STEP_FIELDS = {
    "answer": ["text"],
    "dispatch": ["lead_unit_id", "co_unit_ids", "category", "note"],
    "sign": ["note"],
    "return": ["reason"],
    "contact": ["note"],
    "reply": ["text"],
    "review": ["resolved", "satisfaction", "comment"],
    "close": ["note"],
    "reopen": ["reason"],
    "extension": ["days", "reason"],
    "extension/approve": ["note"],
    "extension/refuse": ["note"],
    "supervise": ["note"],
    "co-handle": ["unit_ids", "note"],
    "merge": ["into", "note"],
}


@st.composite
def step_bodies(draw: st.DrawFn, step: str) -> Any:
    """Mostly the step's own fields with plausible values, so that steps succeed and move requests along."""
    if _one_in(draw, 10):
        return draw(json_values)
    body = {}
    for field in STEP_FIELDS[step]:
        if not _one_in(draw, 8):
            body[field] = draw(json_values if _one_in(draw, 8) else STEP_VALUES[field])
    if _one_in(draw, 20):
        body[draw(st.sampled_from(list(STEP_VALUES)))] = draw(json_values)
    return body


def _encode(body: Any) -> bytes:
    # allow_nan: NaN and Infinity tokens too; lone surrogates become \udXXX escapes, which JSON allows.
    return json.dumps(body, allow_nan=True).encode()


@dataclass
class Fuzz:
    client: TestClient
    city: City
    headers: dict[str | None, dict[str, str]]
    targets: list[str]

    def real(self, value: Any) -> Any:
        if isinstance(value, str) and value.startswith("UNIT:"):
            return self.city.unit(value[5:]).id
        if isinstance(value, str) and value.startswith("REQUEST:"):
            return self.targets[int(value[8:])]
        if isinstance(value, list):
            return [self.real(v) for v in value]
        if isinstance(value, dict):
            return {k: self.real(v) for k, v in value.items()}
        return value


@pytest.fixture
def fuzz(settings: Settings, city: City) -> Iterator[Fuzz]:
    """A client whose anonymous rate limit does not get in the way, tokens, and requests in several states."""
    roomy = settings.model_copy(update={"anonymous_submit_rate": "100000/minute"})
    with TestClient(create_app(roomy), raise_server_exceptions=False) as client:
        usernames = ["operator", "dispatcher", "d1s1c1-handler", "d1-water-handler", "supervisor", "resident"]
        headers: dict[str | None, dict[str, str]] = {u: token_headers(client, u) for u in usernames}
        headers[None] = {}
        fresh = created_number(submit(client, headers["operator"], category="litter"))
        dispatched = created_number(submit(client, headers["operator"], category="litter"))
        response = client.post(
            f"{SUBMIT}/{dispatched}/dispatch",
            json={"lead_unit_id": city.unit("D1S1C1").id},
            headers=headers["dispatcher"],
        )
        assert response.status_code == 200, response.text
        signed = created_number(submit(client, headers["operator"], category="litter"))
        for step, body, username in (
            ("dispatch", {"lead_unit_id": city.unit("D1S1C1").id}, "dispatcher"),
            ("sign", None, "d1s1c1-handler"),
        ):
            response = client.post(f"{SUBMIT}/{signed}/{step}", json=body, headers=headers[username])
            assert response.status_code == 200, response.text
        yield Fuzz(client, city, headers, [fresh, dispatched, signed, "99999999999999"])


def assert_no_server_error(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert_error(response, response.status_code)


# The fuzz's world (app, city, requests in three states) is built once per test by the `fuzz` fixture, and the
# examples are drawn inside the test: Hypothesis then has no function-scoped fixture to warn about.
FUZZ = hypothesis_settings(max_examples=120, deadline=None)


def test_no_submission_body_yields_a_500(fuzz: Fuzz) -> None:
    @FUZZ
    @given(
        body=submission_bodies(),
        username=st.sampled_from([None, "operator", "resident"]),
        idempotency_key=st.none() | st.text(alphabet="abc-123", max_size=6),
    )
    def submit_one(body: Any, username: str | None, idempotency_key: str | None) -> None:
        headers = {"content-type": "application/json"} | fuzz.headers[username]
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        response = fuzz.client.post(SUBMIT, content=_encode(body), headers=headers)
        event(f"{response.status_code} {response.json().get('error', {}).get('code', '')}")
        assert_no_server_error(response)

    submit_one()


def test_no_step_body_yields_a_500(fuzz: Fuzz) -> None:
    @FUZZ
    @given(
        data=st.data(),
        step=st.sampled_from(list(STEP_FIELDS)),
        target=st.sampled_from([0, 1, 1, 1, 2, 2, 3]),
        username=st.sampled_from(
            [None, "dispatcher", "d1s1c1-handler", "d1-water-handler", "supervisor", "resident"]
        ),
    )
    def take_one_step(data: st.DataObject, step: str, target: int, username: str | None) -> None:
        body = data.draw(step_bodies(step), label="body")
        headers = {"content-type": "application/json"} | fuzz.headers[username]
        path = f"{SUBMIT}/{fuzz.targets[target]}/{step}"
        response = fuzz.client.post(path, content=_encode(fuzz.real(body)), headers=headers)
        event(f"{response.status_code} {response.json().get('error', {}).get('code', '')}")
        assert_no_server_error(response)

    take_one_step()


def test_the_fuzz_assertion_does_catch_a_server_error(
    client: TestClient, city: City, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not vacuous: a crash in the service layer shows up as a 500, which the fuzz's assertion refuses."""
    from chengzhi.requests import service

    def crash(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(service, "receive", crash)
    response = submit(client)
    assert_error(response, 500, "internal_error")
    with pytest.raises(AssertionError):
        assert_no_server_error(response)
