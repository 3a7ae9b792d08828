"""The staff second factor: TOTP enrolment with recovery codes on the sign-in pages, a code at every later sign-in
(pages and API), codes accepted once, wrong codes locking the account like wrong passwords, demo accounts exempt
only outside production."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import httpx
import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from chengzhi.app import create_app
from chengzhi.cli import app as cli_app
from chengzhi.config import Settings
from chengzhi.db import utcnow
from chengzhi.org.models import RecoveryCode, SecondFactor, User, UserSession
from chengzhi.security.secretbox import SealError, unseal

from .conftest import Configure
from .factories import PASSWORD, City
from .test_api_errors import assert_error

TOKEN = "/api/v1/auth/token"


@pytest.fixture
def strict(settings: Settings) -> Iterator[TestClient]:
    """A client of an app that requires the second factor for staff (as everywhere but the test environment)."""
    required = settings.model_copy(update={"staff_second_factor": True, "login_rate": "1000/minute"})
    assert required.second_factor_required
    with TestClient(create_app(required), raise_server_exceptions=False) as client:
        yield client


def _csrf(text: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', text)
    assert found
    return found.group(1)


def password_step(client: TestClient, username: str, next_url: str = "") -> str:
    """Sign in with the password; returns where the page sends the browser."""
    csrf = _csrf(client.get("/login").text)
    response = client.post(
        "/login",
        data={"csrf_token": csrf, "username": username, "password": PASSWORD, "next": next_url},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text[:300]
    return str(response.headers["location"])


def send_code(client: TestClient, code: str, follow: bool = False) -> httpx.Response:
    page = client.get("/login/second-factor")
    response: httpx.Response = client.post(
        "/login/second-factor", data={"csrf_token": _csrf(page.text), "code": code}, follow_redirects=follow
    )
    return response


def enrol(client: TestClient, username: str) -> tuple[pyotp.TOTP, list[str]]:
    assert password_step(client, username) == "/login/second-factor"
    page = client.get("/login/second-factor")
    assert page.status_code == 200
    assert client.get("/staff", follow_redirects=False).status_code != 200, "not signed in yet"
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page.text)
    uri = re.search(r'id="totp-uri"[^>]*>|href="(otpauth://[^"]+)"', page.text)
    assert secret and uri
    totp = pyotp.TOTP(secret.group(1).replace(" ", ""))
    response = client.post("/login/second-factor", data={"csrf_token": _csrf(page.text), "code": totp.now()})
    assert response.status_code == 200, response.text[:500]
    codes = re.findall(r"<code>([0-9a-f]{6}-[0-9a-f]{6})</code>", response.text)
    assert len(codes) == 10
    return totp, codes


def test_staff_enrol_at_first_sign_in_then_give_a_code_each_time(
    strict: TestClient, city: City, session: Session
) -> None:
    totp, codes = enrol(strict, "dispatcher")
    assert strict.get("/staff", follow_redirects=False).status_code == 200
    row = session.scalars(select(UserSession)).one()
    assert row.second_factor == "totp"
    stored = session.scalars(select(RecoveryCode.code_hash)).all()
    assert len(stored) == 10 and not set(codes) & set(stored), "recovery codes are stored hashed"

    strict.post("/logout", data={"csrf_token": _csrf(strict.get("/logout").text)})
    assert password_step(strict, "dispatcher", "/staff/overdue") == "/login/second-factor"
    page = strict.get("/login/second-factor")
    assert 'id="totp-secret"' not in page.text, "the key is shown only at enrolment"
    wrong = send_code(strict, "000000")
    assert wrong.status_code == 422
    assert strict.get("/staff", follow_redirects=False).status_code != 200
    # The code used at enrolment is never accepted again; the next one is (one step of drift allowed).
    assert send_code(strict, totp.at(time.time() - 30)).status_code == 422
    ok = send_code(strict, totp.at(time.time() + 30))
    assert ok.status_code == 303 and ok.headers["location"] == "/staff/overdue"
    assert strict.get("/staff", follow_redirects=False).status_code == 200


def test_a_code_is_accepted_once(strict: TestClient, city: City) -> None:
    totp, _codes = enrol(strict, "supervisor")
    strict.post("/logout", data={"csrf_token": _csrf(strict.get("/logout").text)})
    password_step(strict, "supervisor")
    code = totp.at(time.time() + 30)
    assert send_code(strict, code).status_code == 303
    strict.post("/logout", data={"csrf_token": _csrf(strict.get("/logout").text)})
    password_step(strict, "supervisor")
    assert send_code(strict, code).status_code == 422, "replayed code"


def test_recovery_codes_work_once_each(strict: TestClient, city: City) -> None:
    _totp, codes = enrol(strict, "leader")
    for attempt in ("first", "second"):
        strict.post("/logout", data={"csrf_token": _csrf(strict.get("/logout").text)})
        password_step(strict, "leader")
        response = send_code(strict, codes[0])
        assert response.status_code == (303 if attempt == "first" else 422), attempt


def test_api_sign_in_asks_for_the_code(strict: TestClient, city: City) -> None:
    body = {"username": "admin", "password": PASSWORD}
    assert_error(strict.post(TOKEN, json=body), 403, "second_factor_enrolment_required")
    totp, _codes = enrol(strict, "admin")
    assert_error(strict.post(TOKEN, json=body), 401, "second_factor_required")
    assert_error(strict.post(TOKEN, json={**body, "one_time_code": "123"}), 401, "second_factor_invalid")
    ok = strict.post(TOKEN, json={**body, "one_time_code": totp.at(time.time() + 30)})
    assert ok.status_code == 200, ok.text


def test_wrong_codes_lock_the_account(settings: Settings, city: City, session: Session) -> None:
    tight = settings.model_copy(
        update={"staff_second_factor": True, "login_lockout_attempts": 3, "login_rate": "1000/minute"}
    )
    with TestClient(create_app(tight), raise_server_exceptions=False) as client:
        enrol(client, "operator")
        client.post("/logout", data={"csrf_token": _csrf(client.get("/logout").text)})
        password_step(client, "operator")
        for _ in range(3):
            assert send_code(client, "000000").status_code == 422
        user = session.scalars(select(User).where(User.username == "operator")).one()
        assert user.locked_until is not None
        body = {"username": "operator", "password": PASSWORD}
        assert_error(client.post(TOKEN, json=body), 401, "bad_credentials")


def test_residents_and_demo_accounts_need_no_second_factor(
    strict: TestClient, city: City, session: Session, settings: Settings
) -> None:
    assert password_step(strict, "resident") == "/track"
    session.execute(update(User).where(User.username == "dispatcher").values(demo_account=True))
    session.commit()
    strict.cookies.clear()
    assert password_step(strict, "dispatcher") == "/", "a demo account, outside production"
    production_like = settings.model_copy(update={"demo_second_factor_exempt": False})
    with TestClient(create_app(production_like), raise_server_exceptions=False) as client:
        assert password_step(client, "dispatcher") == "/", "the test environment requires none by default"
    required = settings.model_copy(update={"staff_second_factor": True, "demo_second_factor_exempt": False})
    with TestClient(create_app(required), raise_server_exceptions=False) as client:
        assert password_step(client, "dispatcher") == "/login/second-factor"


def test_an_administrator_resets_a_lost_second_factor(
    strict: TestClient, city: City, session: Session
) -> None:
    enrol(strict, "d1-dispatcher")
    user = session.scalars(select(User).where(User.username == "d1-dispatcher")).one()
    body = {"username": "admin", "password": PASSWORD}
    session.execute(update(User).where(User.username == "admin").values(demo_account=True))
    session.commit()
    admin = strict.post("/api/v1/auth/session", json=body)
    assert admin.status_code == 200, admin.text
    csrf = admin.json()["csrf_token"]
    reset = strict.delete(f"/api/v1/users/{user.id}/second-factor", headers={"X-CSRF-Token": csrf})
    assert reset.status_code == 204
    assert session.get(SecondFactor, user.id) is None


def test_required_by_default_everywhere_but_the_test_environment() -> None:
    assert Settings(_env_file=None, environment="development").second_factor_required
    assert not Settings(_env_file=None, environment="test").second_factor_required
    assert not Settings(_env_file=None, environment="test", staff_second_factor=False).second_factor_required


def test_totp_secrets_are_sealed_and_rotated_with_the_secret_key(
    settings: Settings, city: City, session: Session, configure: Configure
) -> None:
    """Stored sealed (a copy of the database alone produces no codes); a plain secret from before sealing still
    works and is sealed at its use; `chengzhi secrets rotate` re-seals them under a new key, and codes go on."""
    old_key, new_key = "old-secret-key-" + "a" * 30, "new-secret-key-" + "b" * 30
    first = settings.model_copy(
        update={"staff_second_factor": True, "login_rate": "1000/minute", "secret_key": old_key}
    )
    with TestClient(create_app(first), raise_server_exceptions=False) as client:
        totp, _codes = enrol(client, "dispatcher")
        assert password_step(client, "operator") == "/login/second-factor"
        client.get("/login/second-factor")  # enrolment started: a pending secret, sealed as well
    session.commit()
    stored = {row.user_id: row.secret for row in session.scalars(select(SecondFactor))}
    dispatcher, operator = city.users["dispatcher"].id, city.users["operator"].id
    assert set(stored) == {dispatcher, operator}
    assert all(s.startswith("v2:") for s in stored.values())
    assert totp.secret not in stored[dispatcher] and unseal(stored[dispatcher], old_key) == totp.secret

    # A secret stored plain by an earlier release (the admin's, set here by hand) opens and is sealed at its use.
    legacy = pyotp.random_base32()
    admin = city.users["admin"].id
    session.add(SecondFactor(user_id=admin, secret=legacy, last_step=0, confirmed_at=utcnow()))
    session.commit()
    with TestClient(create_app(first), raise_server_exceptions=False) as client:
        assert password_step(client, "admin") == "/login/second-factor"
        assert send_code(client, pyotp.TOTP(legacy).now()).status_code == 303
    session.commit()
    session.expire_all()  # the test's session keeps its objects after commit: read them again
    sealed = session.get(SecondFactor, admin)
    assert sealed is not None and sealed.secret.startswith("v2:") and unseal(sealed.secret, old_key) == legacy

    configure(secret_key=new_key, previous_secret_keys=json.dumps([old_key]))
    done = CliRunner().invoke(cli_app, ["secrets", "rotate"])
    assert done.exit_code == 0, done.output
    assert "TOTP secrets: re-sealed 3, already current 0, unreadable 0" in done.output
    session.commit()
    for row in session.scalars(select(SecondFactor)):
        session.refresh(row)
        with pytest.raises(SealError):
            unseal(row.secret, old_key)
    rotated = settings.model_copy(
        update={"staff_second_factor": True, "login_rate": "1000/minute", "secret_key": new_key}
    )
    with TestClient(create_app(rotated), raise_server_exceptions=False) as client:
        assert password_step(client, "dispatcher") == "/login/second-factor"
        assert send_code(client, totp.at(time.time() + 30)).status_code == 303, "codes go on after rotation"
    configure(secret_key="another-secret-key-" + "c" * 30, previous_secret_keys="[]")
    lost = CliRunner().invoke(cli_app, ["secrets", "rotate"])
    assert lost.exit_code == 1 and "TOTP secrets: re-sealed 0, already current 0, unreadable 3" in lost.output
