"""The intake lane (requests/intake_lane.py) answers `POST /api/v1/requests` as FastAPI's route does: the same
status, headers and body for valid, invalid, unauthorised, rate-limited and replayed submissions (both databases);
and it is the lane, not the route, that answers when it is on."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chengzhi import ratelimit
from chengzhi.app import create_app
from chengzhi.config import Settings
from chengzhi.requests.models import Request

from .conftest import auth, make_settings
from .factories import City
from .steps import POINTS

URL = "/api/v1/requests"
LON, LAT = POINTS["D1S1C1"]
GOOD = {"text": "路灯不亮，晚上很黑", "channel": "phone", "lat": LAT, "lon": LON, "category": "litter"}
RESIDENT = {"text": "楼下垃圾没人清运", "lat": LAT, "lon": LON, "contact_phone": "13912345678"}
# Values that differ between two submissions (new rows, new times, a new photo token), not between the two ways.
_VARYING = {"id", "tracking_number", "received_at", "updated_at", "due_at", "deadlines", "photo_token"}
_HEADERS_VARYING = {"content-length", "date"}


@pytest.fixture
def clients(settings: Settings, tmp_path: Path) -> Iterator[tuple[TestClient, TestClient]]:
    """The lane (the default) and FastAPI's route, over the same database and settings."""
    assert settings.intake_lane
    route_settings = make_settings(settings.database_url, tmp_path, intake_lane=False)
    with (
        TestClient(create_app(settings), raise_server_exceptions=False) as lane,
        TestClient(create_app(route_settings), raise_server_exceptions=False) as route,
    ):
        yield lane, route


def _shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ("<varies>" if k in _VARYING and v is not None else _shape(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return value


def _seen(response: Response) -> tuple[int, dict[str, str], Any]:
    headers = {k: v for k, v in response.headers.items() if k not in _HEADERS_VARYING}
    try:
        body = _shape(response.json())
    except json.JSONDecodeError:
        body = response.text
    return response.status_code, headers, body


def _both(
    clients: tuple[TestClient, TestClient], **kw: Any
) -> tuple[tuple[int, dict[str, str], Any], tuple[int, dict[str, str], Any]]:
    lane, route = clients
    return _seen(lane.post(URL, **kw)), _seen(route.post(URL, **kw))


def test_a_valid_submission_gets_the_same_201(
    clients: tuple[TestClient, TestClient], city: City, session: Session
) -> None:
    headers = auth(clients[0], "operator")
    for lang in ("zh", "en"):
        on_lane, on_route = _both(clients, json=GOOD, headers=headers | {"Accept-Language": lang})
        assert on_lane[0] == 201, on_lane
        assert on_lane == on_route
    assert on_lane[2]["request"]["category"]["name"] != ""
    # An anonymous resident: the photo token (different each time) is there both ways.
    on_lane, on_route = _both(clients, json=RESIDENT)
    assert on_lane[0] == 201 and on_lane == on_route
    assert on_lane[2]["photo_token"] == "<varies>"
    assert session.scalar(select(func.count()).select_from(Request)) == 6


@pytest.mark.parametrize(
    ("what", "kw", "status"),
    [
        ("no text", {"json": {"lat": LAT, "lon": LON}}, 422),
        ("a wrong type", {"json": GOOD | {"lat": "north"}}, 422),
        ("an unknown channel", {"json": GOOD | {"channel": "fax"}}, 422),
        ("a list", {"json": [GOOD]}, 422),
        ("malformed JSON", {"content": b'{"text": ', "headers": {"Content-Type": "application/json"}}, 400),
        ("not UTF-8", {"content": b'{"text": "\xff"}', "headers": {"Content-Type": "application/json"}}, 400),
        ("an empty body", {"content": b"", "headers": {"Content-Type": "application/json"}}, 422),
        ("a form", {"data": {"text": "x"}}, 400),
        ("no content type", {"content": json.dumps(GOOD).encode()}, 400),
        (
            "JSON with a charset",
            {"content": b"{}", "headers": {"Content-Type": "application/json; charset=utf-8"}},
            422,
        ),
    ],
)
def test_an_invalid_body_gets_the_routes_error(
    clients: tuple[TestClient, TestClient],
    city: City,
    session: Session,
    what: str,
    kw: dict[str, Any],
    status: int,
) -> None:
    on_lane, on_route = _both(clients, **kw)
    assert on_lane[0] == status, (what, on_lane)
    assert on_lane == on_route, what
    assert session.scalar(select(func.count()).select_from(Request)) == 0


def test_checks_of_the_caller_answer_alike(
    clients: tuple[TestClient, TestClient], city: City, session: Session
) -> None:
    # A staff channel without signing in; a token nobody issued; a resident on a staff channel; no contact.
    on_lane, on_route = _both(clients, json=GOOD)
    assert on_lane[0] == 401 and on_lane[1]["www-authenticate"] == "Bearer" and on_lane == on_route
    on_lane, on_route = _both(clients, json=GOOD, headers={"Authorization": "Bearer not-a-token"})
    assert on_lane[0] == 401 and on_lane == on_route
    resident = auth(clients[0], "resident")
    on_lane, on_route = _both(clients, json=GOOD, headers=resident)
    assert on_lane[0] == 403 and on_lane == on_route
    on_lane, on_route = _both(clients, json={"text": "无联系方式", "lat": LAT, "lon": LON})
    assert on_lane[0] == 422 and on_lane[2]["error"]["code"] == "contact_required" and on_lane == on_route
    on_lane, on_route = _both(clients, json=RESIDENT | {"lat": 10.0, "lon": 10.0})
    assert (
        on_lane[0] == 422 and on_lane[2]["error"]["code"] == "location_outside_city" and on_lane == on_route
    )
    operator = auth(clients[0], "operator")
    on_lane, on_route = _both(clients, json=GOOD | {"category": "no-such"}, headers=operator)
    assert on_lane[0] == 404 and on_lane == on_route
    assert session.scalar(select(func.count()).select_from(Request)) == 0


def test_an_idempotent_retry_is_replayed_across_the_two_ways(
    clients: tuple[TestClient, TestClient], city: City, session: Session
) -> None:
    lane, route = clients
    headers = auth(lane, "operator") | {"Idempotency-Key": "lane-1"}
    first = lane.post(URL, json=GOOD, headers=headers)
    assert first.status_code == 201
    by_route = route.post(URL, json=GOOD, headers=headers)
    by_lane = lane.post(URL, json=GOOD, headers=headers)
    assert by_route.status_code == by_lane.status_code == 201
    assert by_route.json() == by_lane.json() == first.json()  # the very same request, ids and all
    assert by_route.headers["Idempotent-Replayed"] == by_lane.headers["Idempotent-Replayed"] == "true"
    assert _seen(by_route) == _seen(by_lane)
    # The same key with another body: refused alike.
    on_lane, on_route = _both(clients, json=GOOD | {"text": "另一件事"}, headers=headers)
    assert on_lane[0] == 409 and on_lane[2]["error"]["code"] == "idempotency_conflict" and on_lane == on_route
    # An anonymous retry, which the rate limit does not count.
    anonymous = {"Idempotency-Key": "lane-2"}
    first = route.post(URL, json=RESIDENT, headers=anonymous)
    again = lane.post(URL, json=RESIDENT, headers=anonymous)
    assert first.status_code == again.status_code == 201 and again.json() == first.json()
    assert session.scalar(select(func.count()).select_from(Request)) == 2


def test_the_rate_limit_answers_alike(settings: Settings, tmp_path: Path, city: City) -> None:
    answers = []
    for lane_on in (True, False):
        ratelimit.reset()
        limited = make_settings(
            settings.database_url, tmp_path, intake_lane=lane_on, anonymous_submit_rate="2/minute"
        )
        with TestClient(create_app(limited), raise_server_exceptions=False) as client:
            statuses = [client.post(URL, json=RESIDENT).status_code for _ in range(3)]
            status, headers, body = _seen(client.post(URL, json=RESIDENT))
            # The seconds to wait depend on when the window's first call came.
            seconds = headers.pop("retry-after")
            assert seconds.isdigit() and seconds in body["error"]["message"]
            body["error"]["message"] = body["error"]["message"].replace(seconds, "N")
            answers.append((statuses, (status, headers, body)))
    assert answers[0][0] == [201, 201, 429]
    assert answers[0] == answers[1]


def test_the_lane_answers_before_fastapis_routing(settings: Settings, tmp_path: Path, city: City) -> None:
    """Routing names the endpoint in the call's scope; with the lane on, no endpoint was chosen for a submission,
    while every other call is routed as before."""
    for lane_on in (True, False):
        app = create_app(make_settings(settings.database_url, tmp_path, intake_lane=lane_on))
        endpoints: dict[str, Any] = {}

        async def watching(
            scope: Any, receive: Any, send: Any, app: Any = app, endpoints: dict[str, Any] = endpoints
        ) -> None:
            await app(scope, receive, send)
            if scope["type"] == "http":
                endpoints[f"{scope['method']} {scope['path']}"] = scope.get("endpoint")

        with TestClient(watching, raise_server_exceptions=False) as client:
            answer = client.post(URL, json=GOOD, headers=auth(client, "operator"))
            assert answer.status_code == 201, answer.text
            assert client.get(URL).status_code == 401
        assert (endpoints[f"POST {URL}"] is None) is lane_on
        assert endpoints[f"GET {URL}"] is not None


def test_a_client_gone_while_sending_gets_the_same_answer(settings: Settings, tmp_path: Path) -> None:
    """A body cut short by the client's going away: both ways answer 400, as FastAPI does, and nothing breaks."""

    async def call(app: Any) -> tuple[int, bytes]:
        cut: list[dict[str, Any]] = [
            {"type": "http.request", "body": b'{"text": "abc', "more_body": True},
            {"type": "http.disconnect"},
        ]
        messages = iter(cut)
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return next(messages)

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": URL,
            "raw_path": URL.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"testserver"), (b"content-type", b"application/json")],
            "client": ("127.0.0.1", 5000),
            "server": ("testserver", 80),
        }
        await app(scope, receive, send)
        start = next(m for m in sent if m["type"] == "http.response.start")
        return start["status"], b"".join(
            m.get("body", b"") for m in sent if m["type"] == "http.response.body"
        )

    answers = [
        asyncio.run(call(create_app(make_settings(settings.database_url, tmp_path, intake_lane=lane_on))))
        for lane_on in (True, False)
    ]
    assert answers[0][0] == 400, answers
    assert answers[0] == answers[1]
