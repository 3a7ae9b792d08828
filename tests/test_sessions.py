"""Sessions on the server (issue 20, item 3): a signed-out, replaced, password-changed or deactivated session no
longer opens anything, even when its old cookie is sent again; sessions are listed and ended by their user and by
administrators; sign-in always starts a new session id; password guessing locks the account for a while."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from chengzhi.app import create_app
from chengzhi.config import Settings
from chengzhi.db import get_sessionmaker, utcnow
from chengzhi.org.models import Role, SecondFactor, User, UserSession
from chengzhi.org.service import set_user_active
from chengzhi.org.sessions import COOKIE_KEY, ip_prefix, sessions_of, token_hash

from .factories import PASSWORD, City, make_user
from .test_api_errors import assert_error

SESSION = "/api/v1/auth/session"
COOKIE = "chengzhi_session"


def page_sign_in(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Sign in through the page; returns the cookie's value (the signed session)."""
    page = client.get("/login")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found
    response = client.post(
        "/login",
        data={"csrf_token": found.group(1), "username": username, "password": password},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text[:300]
    cookie = client.cookies.get(COOKIE)
    assert cookie
    return str(cookie)


def api_sign_in(client: TestClient, username: str = "operator") -> str:
    response = client.post(SESSION, json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    csrf: str = response.json()["csrf_token"]
    return csrf


def csrf_of(client: TestClient, path: str = "/logout") -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert found
    return found.group(1)


def opens_staff(settings: Settings, cookie: str) -> bool:
    """Whether a browser that sends only this cookie gets the staff inbox (a fresh client: no other state)."""
    with TestClient(create_app(settings), raise_server_exceptions=False) as other:
        other.cookies.set(COOKIE, cookie)
        response = other.get("/staff", follow_redirects=False)
        return bool(response.status_code == 200)


def test_old_cookie_after_page_sign_out_no_longer_opens_the_staff_pages(
    client: TestClient, city: City, settings: Settings
) -> None:
    cookie = page_sign_in(client, "dispatcher")
    assert opens_staff(settings, cookie)
    response = client.post("/logout", data={"csrf_token": csrf_of(client)}, follow_redirects=False)
    assert response.status_code == 303
    # Before: the cookie carried the user id for 12 hours and still opened /staff after sign-out.
    assert not opens_staff(settings, cookie)


def test_old_cookie_after_api_sign_out_is_anonymous(
    client: TestClient, city: City, settings: Settings
) -> None:
    csrf = api_sign_in(client, "dispatcher")
    cookie = client.cookies.get(COOKIE)
    assert cookie and client.get("/api/v1/me").status_code == 200
    assert client.delete(SESSION, headers={"X-CSRF-Token": csrf}).status_code == 204
    client.cookies.set(COOKIE, cookie)
    assert_error(client.get("/api/v1/me"), 401, "not_authenticated")
    assert not opens_staff(settings, cookie)


def test_the_cookie_holds_a_session_id_and_the_table_only_its_hash(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    api_sign_in(client)
    rows = session.scalars(select(UserSession)).all()
    assert len(rows) == 1
    row = rows[0]
    assert len(row.token_hash) == 64 and row.user_agent.startswith("testclient")
    assert row.method == "password" and row.revoked_at is None
    assert row.expires_at - row.created_at == dt.timedelta(hours=settings.session_max_hours)
    # The cookie's payload (base64 JSON before the signature) carries the id, never the user id.
    cookie = client.cookies.get(COOKIE)
    assert cookie
    payload = json.loads(base64.b64decode(cookie.split(".")[0] + "=="))
    assert set(payload) == {COOKIE_KEY, "csrf"}
    assert token_hash(payload[COOKIE_KEY]) == row.token_hash


def test_sign_in_always_starts_a_new_session_id(client: TestClient, city: City, session: Session) -> None:
    """Session fixation: an id known before sign-in (planted, or the browser's earlier one) never becomes the
    signed-in session; signing in again ends the earlier session."""
    first = page_sign_in(client, "operator")
    second = page_sign_in(client, "operator")
    assert first != second
    rows = session.scalars(select(UserSession).order_by(UserSession.id)).all()
    assert [r.revoked_reason for r in rows] == ["replaced", None]


def test_sessions_are_listed_and_ended_by_their_user(
    client: TestClient, city: City, settings: Settings
) -> None:
    with TestClient(create_app(settings), raise_server_exceptions=False) as phone:
        api_sign_in(phone, "d1s1-handler")
        phone_cookie = phone.cookies.get(COOKIE)
        csrf = api_sign_in(client, "d1s1-handler")
        listed = client.get("/api/v1/me/sessions").json()
        assert len(listed) == 2
        assert [s["current"] for s in listed].count(True) == 1
        assert all(s["ip_prefix"] in ("", "testclient") or "/" in s["ip_prefix"] for s in listed)
        other = next(s for s in listed if not s["current"])
        ended = client.delete(f"/api/v1/me/sessions/{other['id']}", headers={"X-CSRF-Token": csrf})
        assert ended.status_code == 204
        assert_error(phone.get("/api/v1/me"), 401, "not_authenticated")
        assert phone_cookie and not opens_staff(settings, phone_cookie)
        assert len(client.get("/api/v1/me/sessions").json()) == 1


def test_another_users_session_cannot_be_ended(client: TestClient, city: City, settings: Settings) -> None:
    with TestClient(create_app(settings), raise_server_exceptions=False) as other:
        api_sign_in(other, "dispatcher")
        theirs = other.get("/api/v1/me/sessions").json()[0]["id"]
    csrf = api_sign_in(client, "operator")
    response = client.delete(f"/api/v1/me/sessions/{theirs}", headers={"X-CSRF-Token": csrf})
    assert_error(response, 404, "not_found")


def test_sign_out_everywhere(client: TestClient, city: City, settings: Settings) -> None:
    with TestClient(create_app(settings), raise_server_exceptions=False) as other:
        api_sign_in(other, "supervisor")
        csrf = api_sign_in(client, "supervisor")
        response = client.post("/api/v1/me/sessions/end-all", headers={"X-CSRF-Token": csrf})
        assert response.status_code == 200 and response.json() == {"ended": 2}
        assert_error(other.get("/api/v1/me"), 401, "not_authenticated")
        assert_error(client.get("/api/v1/me"), 401, "not_authenticated")


def test_password_change_ends_every_other_session(client: TestClient, city: City, settings: Settings) -> None:
    with TestClient(create_app(settings), raise_server_exceptions=False) as other:
        api_sign_in(other, "leader")
        csrf = api_sign_in(client, "leader")
        wrong = client.put(
            "/api/v1/me/password",
            json={"current_password": "not it", "new_password": "a-new-password-2"},
            headers={"X-CSRF-Token": csrf},
        )
        assert_error(wrong, 401, "bad_credentials")
        changed = client.put(
            "/api/v1/me/password",
            json={"current_password": PASSWORD, "new_password": "a-new-password-2"},
            headers={"X-CSRF-Token": csrf},
        )
        assert changed.status_code == 200 and changed.json() == {"ended": 1}
        assert_error(other.get("/api/v1/me"), 401, "not_authenticated")
        assert client.get("/api/v1/me").status_code == 200, "the session that changed it stays"
        relogin = other.post(SESSION, json={"username": "leader", "password": "a-new-password-2"})
        assert relogin.status_code == 200


def test_deactivation_ends_sessions_for_good(
    client: TestClient, city: City, settings: Settings, session: Session
) -> None:
    cookie = page_sign_in(client, "dispatcher")
    user = session.scalars(select(User).where(User.username == "dispatcher")).one()
    set_user_active(session, user, False)
    session.commit()
    assert not opens_staff(settings, cookie)
    set_user_active(session, user, True)
    session.commit()
    assert not opens_staff(settings, cookie), "reactivation does not bring the old session back"


def test_administrators_list_and_end_sessions_of_users_in_their_scope(
    client: TestClient, city: City, settings: Settings, session: Session
) -> None:
    dispatcher = session.scalars(select(User).where(User.username == "dispatcher")).one()
    with TestClient(create_app(settings), raise_server_exceptions=False) as victim:
        api_sign_in(victim, "dispatcher")
        csrf = api_sign_in(client, "admin")
        listed = client.get(f"/api/v1/users/{dispatcher.id}/sessions")
        assert listed.status_code == 200 and len(listed.json()) == 1
        ended = client.delete(f"/api/v1/users/{dispatcher.id}/sessions", headers={"X-CSRF-Token": csrf})
        assert ended.status_code == 200 and ended.json() == {"ended": 1}
        assert_error(victim.get("/api/v1/me"), 401, "not_authenticated")
    with TestClient(create_app(settings), raise_server_exceptions=False) as operator:
        api_sign_in(operator, "operator")
        assert_error(operator.get(f"/api/v1/users/{dispatcher.id}/sessions"), 403, "forbidden_role")


def test_idle_and_expired_sessions_end(
    client: TestClient, city: City, settings: Settings, session: Session
) -> None:
    api_sign_in(client)
    assert client.get("/api/v1/me").status_code == 200
    idle = utcnow() - dt.timedelta(minutes=settings.session_idle_minutes + 1)
    session.execute(update(UserSession).values(last_seen_at=idle))
    session.commit()
    assert_error(client.get("/api/v1/me"), 401, "not_authenticated")
    api_sign_in(client)
    session.execute(update(UserSession).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    session.commit()
    assert_error(client.get("/api/v1/me"), 401, "not_authenticated")


def test_use_is_recorded_at_most_once_a_minute(client: TestClient, city: City, settings: Settings) -> None:
    api_sign_in(client)
    factory = get_sessionmaker(settings.database_url)
    earlier = utcnow() - dt.timedelta(minutes=5)
    with factory() as db, db.begin():
        db.execute(update(UserSession).values(last_seen_at=earlier))
    assert client.get("/api/v1/me").status_code == 200
    with factory() as db:
        seen = db.scalars(select(UserSession.last_seen_at)).one()
    assert seen > earlier + dt.timedelta(minutes=4)


def test_password_guessing_locks_the_account_for_a_while(
    client: TestClient, city: City, settings: Settings, session: Session
) -> None:
    strict = settings.model_copy(update={"login_lockout_attempts": 3, "login_rate": "1000/minute"})
    with TestClient(create_app(strict), raise_server_exceptions=False) as guesser:
        for _ in range(3):
            wrong = guesser.post(SESSION, json={"username": "operator", "password": "guess"})
            assert_error(wrong, 401, "bad_credentials")
        # Locked: even the right password is refused, and the answer is the one an unknown name gets (the same
        # status and body), so that a guesser who locked the account does not learn that it exists.
        right = guesser.post(SESSION, json={"username": "operator", "password": PASSWORD})
        unknown = guesser.post(SESSION, json={"username": "nobody-here", "password": PASSWORD})
        assert_error(right, 401, "bad_credentials")
        assert (right.status_code, right.json()) == (unknown.status_code, unknown.json())
        token = guesser.post("/api/v1/auth/token", json={"username": "operator", "password": PASSWORD})
        unknown = guesser.post("/api/v1/auth/token", json={"username": "nobody-here", "password": PASSWORD})
        assert_error(token, 401, "bad_credentials")
        assert token.json() == unknown.json()
        # Wrong passwords while locked do not extend the lock or count towards the next one.
        user = session.scalars(select(User).where(User.username == "operator")).one()
        locked_until = user.locked_until
        assert locked_until is not None
        assert_error(
            guesser.post(SESSION, json={"username": "operator", "password": "guess"}), 401, "bad_credentials"
        )
        session.refresh(user)
        assert user.locked_until == locked_until and user.failed_logins == 0
        session.execute(update(User).values(locked_until=utcnow() - dt.timedelta(seconds=1)))
        session.commit()
        assert guesser.post(SESSION, json={"username": "operator", "password": PASSWORD}).status_code == 200
        user = session.scalars(select(User).where(User.username == "operator")).one()
        session.refresh(user)
        assert user.failed_logins == 0 and user.locked_until is None


@pytest.mark.parametrize(
    ("address", "prefix"),
    [("203.0.113.77", "203.0.113.0/24"), ("2001:db8:1:2::5", "2001:db8:1::/48"), ("testclient", "")],
)
def test_only_the_network_of_the_client_is_kept(address: str, prefix: str) -> None:
    assert ip_prefix(address) == prefix


def test_administrators_pages_list_and_end_a_users_sessions_and_reset_the_second_factor(
    client: TestClient, city: City, settings: Settings, session: Session
) -> None:
    dispatcher = city.users["dispatcher"]
    make_user(session, city, "d1-admin", Role.admin, "D1")
    session.add(SecondFactor(user_id=dispatcher.id, secret="plain", last_step=0, confirmed_at=utcnow()))
    session.commit()
    browsers = []
    for agent in ("Firefox on the office PC", "Safari on a phone"):
        browser = TestClient(
            create_app(settings), raise_server_exceptions=False, headers={"User-Agent": agent}
        )
        browser.__enter__()
        page_sign_in(browser, "dispatcher")
        browsers.append(browser)
    try:
        page_sign_in(client, "admin")
        user_page = f"/staff/admin/users/{dispatcher.id}"
        shown = client.get(user_page)
        assert shown.status_code == 200 and 'id="user-sessions"' in shown.text
        assert "Firefox on the office PC" in shown.text and "Safari on a phone" in shown.text
        listed = sessions_of(session, dispatcher.id, settings)
        phone = next(s for s in listed if s.user_agent == "Safari on a phone")
        ended = client.post(
            f"{user_page}/sessions/end",
            data={"csrf_token": csrf_of(client, user_page), "session_id": str(phone.id)},
            follow_redirects=False,
        )
        assert ended.headers["location"] == f"{user_page}?done=session_ended#sessions"
        assert browsers[1].get("/staff", follow_redirects=False).status_code != 200, "that browser is out"
        assert browsers[0].get("/staff", follow_redirects=False).status_code == 200, "the other one is not"
        session.commit()  # a fresh snapshot, and the objects read again (the sessions keep them after commit)
        session.expire_all()
        assert session.get(UserSession, phone.id).revoked_reason == "ended_by_admin"  # type: ignore[union-attr]
        # A forged form ends nothing; another user's session id is not found through this user.
        client.post(f"{user_page}/sessions/end", data={"csrf_token": "x", "all": "1"})
        admins_own = sessions_of(session, city.users["admin"].id, settings)[0]
        client.post(
            f"{user_page}/sessions/end",
            data={"csrf_token": csrf_of(client, user_page), "session_id": str(admins_own.id)},
        )
        assert browsers[0].get("/staff", follow_redirects=False).status_code == 200
        assert client.get(user_page).status_code == 200, "the administrator's own session is untouched"

        reset = client.post(
            f"{user_page}/second-factor/reset",
            data={"csrf_token": csrf_of(client, user_page), "confirm": "yes"},
            follow_redirects=False,
        )
        assert reset.headers["location"] == f"{user_page}?done=factor_reset#sessions"
        session.commit()  # a fresh snapshot, and the objects read again (the sessions keep them after commit)
        session.expire_all()
        assert session.get(SecondFactor, dispatcher.id) is None
        assert browsers[0].get("/staff", follow_redirects=False).status_code != 200, "its sessions ended too"
        assert 'id="user-sessions"' not in client.get(user_page).text

        # An administrator of a district manages only the users holding a role there.
        page_sign_in(client, "d1-admin")
        assert client.get(user_page).status_code == 404
        refused = client.post(
            f"{user_page}/sessions/end",
            data={"csrf_token": csrf_of(client, "/staff/admin/users"), "all": "1"},
        )
        assert refused.status_code == 404
    finally:
        for browser in browsers:
            browser.__exit__(None, None, None)


def test_a_page_that_writes_on_a_get_works_when_the_session_is_due_a_touch(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    """The touch is written in its own transaction after the request's first read: on SQLite the request's
    later write (here the export's data-rights record) must not fail on the older snapshot (it was a 503)."""
    user = make_user(session, city, "exporter", Role.resident, "city")
    user.phone_verified_at = utcnow()
    session.commit()
    page_sign_in(client, "exporter")
    factory = get_sessionmaker(settings.database_url)
    with factory() as db, db.begin():
        db.execute(update(UserSession).values(last_seen_at=utcnow() - dt.timedelta(minutes=5)))
    response = client.get("/me/export.json")
    assert response.status_code == 200, response.text[:300]
    assert response.json()["profile"]["username"] == "exporter"
    with factory() as db:
        seen = db.scalars(select(UserSession.last_seen_at)).one()
    assert seen > utcnow() - dt.timedelta(minutes=1)
