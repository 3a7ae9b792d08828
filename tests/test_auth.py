"""Sign-in for API clients (tokens) and for pages (a session cookie with CSRF protection), how credentials are
stored, and the settings production refuses."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from chengzhi.config import DEV_SECRET, Settings
from chengzhi.db import utcnow
from chengzhi.org.models import ApiToken, User

from .factories import PASSWORD, City
from .test_api_errors import SUBMIT, assert_error, created_number, token_headers, valid_submission

TOKEN = "/api/v1/auth/token"
SESSION = "/api/v1/auth/session"


def _token(client: TestClient, username: str = "operator") -> str:
    response = client.post(TOKEN, json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert dt.datetime.fromisoformat(body["expires_at"]) > utcnow() + dt.timedelta(days=29)
    token: str = body["access_token"]
    return token


# ---------------------------------------------------------------- tokens


def test_token_signs_in_and_revoking_it_signs_out(client: TestClient, city: City) -> None:
    token = _token(client)
    headers = {"Authorization": f"Bearer {token}"}
    me = client.get("/api/v1/me", headers=headers)
    assert me.status_code == 200 and me.json()["username"] == "operator"
    assert [r["role"] for r in me.json()["roles"]] == ["operator"]
    assert client.delete(TOKEN, headers=headers).status_code == 204
    assert_error(client.get("/api/v1/me", headers=headers), 401, "token_invalid")
    # Another token of the same user is unaffected.
    assert client.get("/api/v1/me", headers=token_headers(client, "operator")).status_code == 200


@pytest.mark.parametrize(
    "header",
    ["Bearer czt_not-a-real-token", "Bearer " + "x" * 5000, "bearer czt_lowercase-scheme-too"],
)
def test_unknown_token_is_401_even_where_anonymous_callers_are_welcome(
    client: TestClient, city: City, header: str
) -> None:
    response = client.get("/api/v1/me", headers={"Authorization": header})
    assert_error(response, 401, "token_invalid")
    assert response.headers["www-authenticate"] == "Bearer"
    # A wrong token is a client error to fix, not a silent fall-back to anonymous.
    assert_error(
        client.post(SUBMIT, json=valid_submission(), headers={"Authorization": header}), 401, "token_invalid"
    )


@pytest.mark.parametrize("header", ["Bearer", "Bearer   ", "Basic b3BlcmF0b3I6eA==", "czt_no-scheme"])
def test_no_usable_token_means_anonymous(client: TestClient, city: City, header: str) -> None:
    assert_error(client.get("/api/v1/me", headers={"Authorization": header}), 401, "not_authenticated")


def test_expired_token_is_401(client: TestClient, city: City, session: Session) -> None:
    token = _token(client)
    digest = hashlib.sha256(token.encode()).hexdigest()
    session.execute(
        update(ApiToken)
        .where(ApiToken.token_hash == digest)
        .values(expires_at=utcnow() - dt.timedelta(seconds=1))
    )
    session.commit()
    assert_error(client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}), 401, "token_invalid")


def test_token_of_a_deactivated_user_is_401(client: TestClient, city: City, session: Session) -> None:
    token = _token(client, "dispatcher")
    session.execute(update(User).where(User.username == "dispatcher").values(active=False))
    session.commit()
    assert_error(client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}), 401, "token_invalid")
    response = client.post(TOKEN, json={"username": "dispatcher", "password": PASSWORD})
    assert_error(response, 401, "bad_credentials")


def test_wrong_password_and_unknown_user_get_the_same_answer(client: TestClient, city: City) -> None:
    wrong_password = client.post(TOKEN, json={"username": "operator", "password": "not-the-password"})
    unknown_user = client.post(TOKEN, json={"username": "nobody-at-all", "password": "not-the-password"})
    assert_error(wrong_password, 401, "bad_credentials")
    assert wrong_password.json() == unknown_user.json()
    assert wrong_password.status_code == unknown_user.status_code
    for path, lang in ((TOKEN, "en"), (SESSION, "zh")):
        a = client.post(f"{path}?lang={lang}", json={"username": "operator", "password": "nope"})
        b = client.post(f"{path}?lang={lang}", json={"username": "nobody", "password": "nope"})
        assert a.json() == b.json() and a.status_code == b.status_code == 401


def test_sign_in_attempts_are_rate_limited(
    client: TestClient, city: City, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chengzhi.errors import NotAuthenticated
    from chengzhi.org import service

    def refuse(*_args: object) -> None:
        # Refuse at once: the limit is under test here, not argon2, whose cost would make 20 guesses slow.
        raise NotAuthenticated("bad_credentials")

    monkeypatch.setattr(service, "authenticate", refuse)
    for _ in range(20):
        assert_error(
            client.post(TOKEN, json={"username": "operator", "password": "guess"}), 401, "bad_credentials"
        )
    monkeypatch.undo()
    for path in (TOKEN, SESSION):
        response = client.post(path, json={"username": "operator", "password": PASSWORD})
        assert_error(response, 429, "rate_limited")
        assert int(response.headers["retry-after"]) >= 1


# ---------------------------------------------------------------- credentials at rest


def test_passwords_are_stored_as_argon2id_hashes(client: TestClient, city: City, session: Session) -> None:
    password = "a-new-long-password-42"
    response = client.post(
        "/api/v1/users",
        json={"username": "new-handler", "display_name": "新承办人", "password": password},
        headers=token_headers(client, "admin"),
    )
    assert response.status_code == 201, response.text
    stored = session.scalar(select(User.password_hash).where(User.username == "new-handler"))
    assert stored is not None and stored.startswith("$argon2id$")
    assert password not in stored
    for (value,) in session.execute(select(User.password_hash)):
        assert value is None or value.startswith("$argon2id$")
    assert client.post(TOKEN, json={"username": "new-handler", "password": password}).status_code == 200


def test_tokens_are_stored_only_as_hashes(client: TestClient, city: City, session: Session) -> None:
    token = _token(client)
    rows = session.execute(text("SELECT * FROM api_tokens")).all()
    assert rows
    dumped = repr(rows)
    assert token not in dumped and token.removeprefix("czt_") not in dumped
    assert hashlib.sha256(token.encode()).hexdigest() in dumped


# ---------------------------------------------------------------- session cookie and CSRF


def _sign_in(client: TestClient, username: str = "operator") -> str:
    response = client.post(SESSION, json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("chengzhi_session=")
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    csrf: str = response.json()["csrf_token"]
    assert len(csrf) >= 20
    return csrf


def test_session_cookie_reads_without_csrf_and_writes_with_it(client: TestClient, city: City) -> None:
    csrf = _sign_in(client)
    me = client.get("/api/v1/me")
    assert me.status_code == 200 and me.json()["username"] == "operator"
    created = client.post(SUBMIT, json=valid_submission(), headers={"X-CSRF-Token": csrf})
    number = created_number(created)
    assert client.get(f"{SUBMIT}/{number}").status_code == 200


@pytest.mark.parametrize("given", [None, "", "forged-token-value-0000000"])
def test_cookie_write_without_the_right_csrf_token_is_403(
    client: TestClient, city: City, session: Session, given: str | None
) -> None:
    _sign_in(client)
    headers = {} if given is None else {"X-CSRF-Token": given}
    before = session.scalar(text("SELECT count(*) FROM requests"))
    assert_error(client.post(SUBMIT, json=valid_submission(), headers=headers), 403, "csrf_failed")
    assert session.scalar(text("SELECT count(*) FROM requests")) == before


def test_csrf_token_of_another_session_does_not_work(
    client: TestClient, city: City, settings: Settings
) -> None:
    from chengzhi.app import create_app

    with TestClient(create_app(settings), raise_server_exceptions=False) as other:
        other_csrf = _sign_in(other, "dispatcher")
    _sign_in(client)
    assert_error(
        client.post(SUBMIT, json=valid_submission(), headers={"X-CSRF-Token": other_csrf}), 403, "csrf_failed"
    )


def test_sign_out_needs_csrf_and_ends_the_session(client: TestClient, city: City) -> None:
    csrf = _sign_in(client)
    assert_error(client.delete(SESSION), 403, "csrf_failed")
    assert client.get("/api/v1/me").status_code == 200
    response = client.delete(SESSION, headers={"X-CSRF-Token": csrf})
    assert response.status_code == 204
    assert_error(client.get("/api/v1/me"), 401, "not_authenticated")
    # The old token is worthless once signed out: the write is simply anonymous (and anonymous needs contact).
    created = client.post(SUBMIT, json=valid_submission(), headers={"X-CSRF-Token": csrf})
    assert created.status_code == 201, created.text
    assert created.json()["photo_token"], "an anonymous submission"


def test_a_tampered_session_cookie_is_ignored(client: TestClient, city: City) -> None:
    _sign_in(client)
    value = client.cookies["chengzhi_session"]
    client.cookies.set("chengzhi_session", value[:-4] + ("AAAA" if not value.endswith("AAAA") else "BBBB"))
    assert_error(client.get("/api/v1/me"), 401, "not_authenticated")


def test_session_cookie_is_secure_when_configured(settings: Settings, city: City) -> None:
    from chengzhi.app import create_app

    secure = settings.model_copy(update={"session_cookie_secure": True})
    with TestClient(
        create_app(secure), base_url="https://testserver", raise_server_exceptions=False
    ) as client:
        response = client.post(SESSION, json={"username": "operator", "password": PASSWORD})
        assert response.status_code == 200
        assert "secure" in response.headers["set-cookie"].lower()


# ---------------------------------------------------------------- production settings

SAFE: dict[str, Any] = {
    "environment": "production",
    "secret_key": "k" * 48,
    "database_url": "postgresql+psycopg://chengzhi@db/chengzhi",
    "session_cookie_secure": True,
}


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


def test_production_accepts_safe_settings() -> None:
    assert _settings(**SAFE).environment == "production"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"secret_key": DEV_SECRET}, "CHENGZHI_SECRET_KEY"),
        ({"secret_key": "short-but-not-the-dev-one"}, "CHENGZHI_SECRET_KEY"),
        ({"database_url": "sqlite:///./var/chengzhi.db"}, "CHENGZHI_DATABASE_URL"),
        ({"session_cookie_secure": False}, "CHENGZHI_SESSION_COOKIE_SECURE"),
    ],
    ids=["dev-secret", "short-secret", "sqlite", "insecure-cookie"],
)
def test_production_refuses_unsafe_defaults(change: dict[str, Any], named: str) -> None:
    with pytest.raises(ValidationError, match=named):
        _settings(**(SAFE | change))
    # The same values are fine outside production.
    assert _settings(**(SAFE | change | {"environment": "development"})).environment == "development"


def test_production_refuses_the_defaults_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHENGZHI_ENVIRONMENT", "production")
    with pytest.raises(ValidationError):
        _settings()
    for name, value in SAFE.items():
        monkeypatch.setenv(
            f"CHENGZHI_{name.upper()}", str(value).lower() if isinstance(value, bool) else value
        )
    assert _settings().environment == "production"


# ---------------------------------------------------------------- personal data: masked views, clean logs

PHONE = "13912345678"


def _contact(client: TestClient, number: str, username: str) -> dict[str, object]:
    response = client.get(f"{SUBMIT}/{number}", headers=token_headers(client, username))
    assert response.status_code == 200, (username, response.text)
    contact: dict[str, object] = response.json()["contact"]
    return contact


def test_contact_details_are_masked_for_those_who_do_not_need_them(client: TestClient, city: City) -> None:
    body = valid_submission(
        category="litter", contact_phone=PHONE, contact_name="王小明", contact_email="wang@example.cn"
    )
    created = client.post(SUBMIT, json=body, headers=token_headers(client, "resident"))
    number = created_number(created)
    assert created.json()["request"]["contact"]["phone"] == PHONE, "the submitter sees what they gave"
    dispatched = client.post(
        f"{SUBMIT}/{number}/dispatch",
        json={"lead_unit_id": city.unit("D1S1C1").id, "co_unit_ids": [city.unit("D1-water").id]},
        headers=token_headers(client, "dispatcher"),
    )
    assert dispatched.status_code == 200, dispatched.text
    assert dispatched.json()["contact"]["phone"] != PHONE

    masked = {"phone": "139****5678", "name": "王**", "email": "w***@example.cn", "masked": True}
    for username in ("dispatcher", "leader", "d1-dispatcher"):
        assert _contact(client, number, username) == masked, username
    plain = {"phone": PHONE, "name": "王小明", "email": "wang@example.cn", "masked": False}
    for username in ("resident", "d1s1c1-handler", "d1-water-handler", "supervisor"):
        assert _contact(client, number, username) == plain, username

    listed = client.get(SUBMIT, headers=token_headers(client, "dispatcher")).json()["items"]
    assert [item["contact"] for item in listed] == [masked]
    tracked = client.post("/api/v1/track", json={"tracking_number": number, "phone_last4": "5678"})
    assert tracked.status_code == 200 and tracked.json()["contact"] == masked


def test_phone_numbers_never_reach_the_log(
    client: TestClient, city: City, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Everything is logged, SQL statements included, while a resident submits, makes mistakes, and meets a
    database error whose statement carries the phone as a parameter. (Only SQLAlchemy's DEBUG level, which
    dumps result rows on purpose, is left out.)"""
    from chengzhi.requests import service

    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="sqlalchemy")  # which otherwise keeps itself at WARNING
    number = created_number(client.post(SUBMIT, json=valid_submission(contact_phone=PHONE)))
    assert_error(
        client.post(SUBMIT, json=valid_submission(contact_phone=PHONE, lat=99)), 422, "validation_failed"
    )
    assert_error(
        client.post(SUBMIT, json=valid_submission(contact_phone=PHONE, category="nope")),
        404,
        "category_not_found",
    )
    client.post("/api/v1/track", json={"tracking_number": number, "phone_last4": "0000"})

    def broken_query(session: Session, request_id: object, token: object, now: object = None) -> None:
        session.execute(
            text("SELECT no_such_column FROM requests WHERE contact_phone = :phone"), {"phone": PHONE}
        )

    monkeypatch.setattr(service, "keep_photo_token", broken_query)
    failed = client.post(SUBMIT, json=valid_submission(contact_phone=PHONE))
    assert failed.status_code in (500, 503)
    assert_error(failed, failed.status_code, "internal_error")

    logged = caplog.text + "".join(str(r.exc_info[1]) for r in caplog.records if r.exc_info)
    assert "no_such_column" in logged, "the failure itself was logged"
    assert "requests" in logged.lower()
    assert PHONE not in logged
    assert PHONE[-8:] not in logged
