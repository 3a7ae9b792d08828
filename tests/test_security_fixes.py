"""Defects found when the demo was probed as an attacker would, each with the test that failed before its fix:
reactivated users' old API tokens, anonymous emergencies, and personal data and API keys in the logs (a live
server's whole output grepped for the values a flow planted)."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.db import utcnow
from chengzhi.notify.models import Notification
from chengzhi.org import service as org
from chengzhi.org.models import User
from chengzhi.requests import service as requests_service
from chengzhi.security import logs

from . import log_watch, steps
from .factories import City, give_level
from .open311_helpers import make_key, start_server
from .test_api_errors import SUBMIT, assert_error, token_headers, valid_submission

PHONE, ID_CARD, EMAIL = "13987654321", "11010519491231002X", "wang.wu@example.net"


def test_reactivation_does_not_revive_old_api_tokens(
    client: TestClient, city: City, session: Session
) -> None:
    headers = token_headers(client, "dispatcher")
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    user = session.scalar(select(User).where(User.username == "dispatcher"))
    assert user is not None
    org.set_user_active(session, user, False)
    session.commit()
    assert_error(client.get("/api/v1/me", headers=headers), 401)
    org.set_user_active(session, user, True)
    session.commit()
    assert_error(client.get("/api/v1/me", headers=headers), 401)
    assert client.get("/api/v1/me", headers=token_headers(client, "dispatcher")).status_code == 200


def test_only_staff_set_the_emergency_priority(client: TestClient, city: City) -> None:
    for headers in ({}, token_headers(client, "resident")):
        refused = client.post(
            SUBMIT, json=valid_submission(priority="emergency", consent=True), headers=headers
        )
        assert_error(refused, 422, "priority_staff_only")
    operator = token_headers(client, "operator")
    created = client.post(SUBMIT, json=valid_submission(priority="emergency"), headers=operator)
    assert created.status_code == 201 and created.json()["request"]["priority"] == "emergency"
    normal = client.post(SUBMIT, json=valid_submission(priority="high", consent=True))
    assert normal.status_code == 201


def test_log_records_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    logs.install()
    log = logging.getLogger("chengzhi.test")
    with caplog.at_level(logging.INFO):
        log.info("resident %s wrote from %s: %s", "Zhang", PHONE, f"id {ID_CARD}, mail {EMAIL}")
        log.warning(f"inline {PHONE} and GET /open311/v2/requests.json?api_key=SECRETKEY123&x=1")
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "POST", "/x?api_key=SECRETKEY123", "1.1", 200
        )
    for value in (PHONE, ID_CARD, EMAIL, "SECRETKEY123"):
        assert value not in caplog.text, value
    assert "api_key=[filtered]" in caplog.text and "139****4321" in caplog.text


def _accepted(send: Callable[[], httpx.Response]) -> httpx.Response:
    """The server's answer, sent again after a 503 (SQLite's writer lock was busy: the answer says to retry, as a
    client does; this test is about the logs, not about contention)."""
    response = send()
    for _ in range(3):
        if response.status_code != 503:
            break
        time.sleep(min(2.0, float(response.headers.get("retry-after", "1"))))
        response = send()
    return response


def test_a_live_servers_logs_hold_no_planted_values(settings: Settings, city: City, tmp_path: Path) -> None:
    """A real uvicorn with its access log on: a flow submits planted phone, ID-card and e-mail values, posts to
    Open311 with the key in the query string, and provokes errors; its whole output holds none of them."""
    key = make_key(settings, "logged-app")
    server = start_server(settings.database_url, tmp_path, log_level="info")
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            text = f"我的电话{PHONE}，身份证{ID_CARD}，邮箱{EMAIL}"
            body = {**valid_submission(text=text, title=text, contact_email=EMAIL), "consent": True}
            body["contact_phone"] = PHONE
            assert http.post(SUBMIT, json=body).status_code == 201
            form = {
                "service_code": "litter",
                "lat": "0.2",
                "long": "0.2",
                "description": text,
                "phone": PHONE,
            }
            posted = _accepted(
                lambda: http.post(f"/open311/v2/requests.json?api_key={key}", data={**form, "email": EMAIL})
            )
            assert posted.status_code in (200, 201), posted.text
            http.get(f"/open311/v2/servicerequestupdates.json?api_key={key}&start_date=bad")
            http.get(f"/api/v1/requests/{PHONE}", params={"email": EMAIL})
            http.post("/api/v1/auth/token", json={"username": EMAIL, "password": ID_CARD})
            http.get(f"/track?number=1&phone={PHONE}")
    finally:
        server.stop()
    output = server.log.read_text(errors="replace")
    assert "POST /open311/v2/requests.json" in output, "the access log was on"
    for value in (PHONE, ID_CARD, EMAIL, key):
        assert value not in output, value
    assert "api_key=[filtered]" in output


def test_followers_read_the_reply_masked_as_the_public_does(
    client: TestClient, settings: Settings, city: City, session: Session
) -> None:
    """Anyone signed in may follow any public issue; the reply they hear of is masked (it went out as written)."""
    now = utcnow() - dt.timedelta(minutes=10)
    request = steps.submit(session, settings, now)
    follower = session.get(User, city.users["resident2"].id)
    assert follower is not None
    give_level(session, follower, 1)  # following needs a verified phone or e-mail (docs/identity.md)
    session.commit()
    followed_now = client.put(
        f"/api/v1/issues/{request.id}/follow", headers=token_headers(client, "resident2")
    )
    assert followed_now.status_code == 200 and followed_now.json() == {"following": True}, followed_now.text
    steps.dispatch(session, settings, request, "D1S1C1", now)
    handler = steps.actor(session, "d1s1c1-handler")
    requests_service.sign_request(session, handler, request, now + dt.timedelta(minutes=1))
    requests_service.contact_resident(session, handler, request, "电话联系", now + dt.timedelta(minutes=2))
    reply = "张三您好，已清理。如有问题请联系王小明，电话13912345678，邮箱wang.xm@example.org"
    requests_service.reply_request(session, handler, request, reply, settings, now + dt.timedelta(minutes=3))
    session.commit()
    sent = session.scalars(select(Notification).where(Notification.kind == "replied")).all()
    by_user = {n.user_id: n.params["reply"] for n in sent}
    assert by_user[city.users["resident"].id] == reply  # the resident's own request: as written
    followed = by_user[city.users["resident2"].id]
    for planted in ("13912345678", "wang.xm@example.org", "王小明", "张三"):
        assert planted not in followed, followed
    assert "已清理" in followed


def test_the_whole_runs_log_watch_sees_what_redaction_misses() -> None:
    """The watch over every test's log records (tests/log_watch.py) finds personal data the redaction leaves,
    such as an exception's text, and nothing in a redacted message."""
    watch = log_watch.LeakWatch()
    log = logging.getLogger("chengzhi.test.watch")
    log.propagate = False  # these planted values are not the run's
    log.addHandler(watch)
    try:
        log.warning("resident %s, %s, %s", PHONE, ID_CARD, EMAIL)
        assert watch.records == 1 and watch.leaks == []
        try:
            raise ValueError(f"bad contact {PHONE}")
        except ValueError:
            log.exception("failed")
        assert [leak.rsplit(": ", 1)[1] for leak in watch.leaks] == [PHONE]
    finally:
        log.removeHandler(watch)
        log.propagate = True
