"""Identity levels with step-up (a phone verified by a one-time code leads back to what the person was doing), and a
resident's own space: their requests from every channel, notification preferences, and the PIPL rights (export as
JSON and CSV, correction, deletion with requests kept anonymised), each traced."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from urllib.parse import parse_qs, urlparse

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from chengzhi.app import create_app
from chengzhi.config import Settings
from chengzhi.db import utcnow
from chengzhi.identity.models import DataRightsEvent
from chengzhi.notify.models import Notification
from chengzhi.org.models import User
from chengzhi.outbound.models import OutboundRecord
from chengzhi.requests.models import Request

from .factories import PASSWORD, City
from .open311_helpers import V2, make_key
from .test_api_errors import SUBMIT, created_number, valid_submission

PHONE = "13912345678"


def _csrf(text: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', text)
    assert found
    return found.group(1)


def sign_in(client: TestClient, username: str, next_url: str = "") -> str:
    csrf = _csrf(client.get("/login").text)
    response = client.post(
        "/login",
        data={"csrf_token": csrf, "username": username, "password": PASSWORD, "next": next_url},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text[:300]
    return str(response.headers["location"])


def verify_phone(client: TestClient, session: Session, next_url: str) -> str:
    """Through the level-1 step-up: send a code, read it from the recorded message, type it in."""
    page = client.get(f"/verify?level=1&next={next_url}")
    assert page.status_code == 200
    sent = client.post(
        "/verify/send", data={"csrf_token": _csrf(page.text), "phone": PHONE, "next": next_url}
    )
    assert sent.status_code == 200 and 'id="code-sent"' in sent.text
    session.commit()
    message = session.scalars(select(OutboundRecord).where(OutboundRecord.channel == "sms")).all()[-1]
    assert message.recipient == PHONE
    code = re.search(r"\b(\d{6})\b", message.body["text"])
    assert code and code.group(1) in sent.text, "the demo shows the recorded code"
    wrong = client.post(
        "/verify/confirm",
        data={"csrf_token": _csrf(sent.text), "code": "000000", "next": next_url, "phone": PHONE},
    )
    assert wrong.status_code == 422
    assert code is not None
    done = client.post(
        "/verify/confirm",
        data={"csrf_token": _csrf(sent.text), "code": code.group(1), "next": next_url, "phone": PHONE},
        follow_redirects=False,
    )
    assert done.status_code == 303
    return str(done.headers["location"])


def test_my_space_needs_level_one_and_the_step_up_leads_back(
    client: TestClient, city: City, session: Session
) -> None:
    assert client.get("/me", follow_redirects=False).headers["location"] == "/login?next=/me"
    sign_in(client, "resident")
    step_up = client.get("/me", follow_redirects=False)
    assert step_up.headers["location"] == "/verify?level=1&next=%2Fme"
    assert verify_phone(client, session, "/me") == "/me"
    page = client.get("/me")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    session.commit()
    user = session.scalars(select(User).where(User.username == "resident")).one()
    session.refresh(user)
    assert user.phone == PHONE and user.phone_verified_at is not None


def test_a_visitor_verifies_a_phone_and_becomes_a_resident_at_level_one(
    client: TestClient, city: City
) -> None:
    page = client.get("/verify?level=1&next=/issues", follow_redirects=False)
    assert page.status_code == 200 and 'id="visitor-intro"' in page.text
    # Someone with an account may sign in instead, and comes back to the same step.
    link = re.search(r'href="(/login\?next=[^"]+)"', page.text)
    assert link is not None
    back = parse_qs(urlparse(link.group(1).replace("&amp;", "&")).query)["next"][0]
    assert urlparse(back).path == "/verify" and parse_qs(urlparse(back).query) == {
        "level": ["1"],
        "next": ["/issues"],
    }


def test_support_needs_level_one_and_a_visitor_is_led_through_a_code_and_back(
    client: TestClient, settings: Settings, city: City, session: Session
) -> None:
    assert settings.identity_levels["support"] == 1, "the issue's default: support needs a verified phone"
    number = created_number(client.post(SUBMIT, json=valid_submission()))
    request_id = session.scalars(select(Request.id).where(Request.tracking_number == number)).one()
    me_too = {"csrf_token": _csrf(client.get("/issues").text), "next": "/issues"}
    refused = client.post(f"/issues/{request_id}/support", data=me_too, follow_redirects=False)
    assert refused.status_code == 303
    assert refused.headers["location"] == f"/verify?level=1&next=%2Fissues%23issue-{request_id}"
    with_htmx = client.post(
        f"/issues/{request_id}/support", data=me_too, headers={"HX-Request": "true"}, follow_redirects=False
    )
    assert with_htmx.status_code == 204 and with_htmx.headers["HX-Redirect"] == refused.headers["location"]
    session.commit()
    assert session.get(Request, request_id).support_count == 0  # type: ignore[union-attr]
    users_before = session.scalar(select(func.count()).select_from(User))

    # The visitor has no account: the code to their phone makes one (a resident, level 1) and signs them in.
    assert verify_phone(client, session, f"/issues#issue-{request_id}") == f"/issues#issue-{request_id}"
    session.commit()
    resident = session.scalars(select(User).where(User.phone == PHONE)).one()
    assert resident.phone_verified_at is not None and resident.password_hash is None
    assert [r.role for r in resident.roles] == ["resident"]
    assert session.scalar(select(func.count()).select_from(User)) == (users_before or 0) + 1
    me = client.get("/api/v1/me").json()
    assert me["username"] == resident.username
    done = client.post(
        f"/issues/{request_id}/support",
        data={"csrf_token": _csrf(client.get("/issues").text), "next": "/issues"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == f"/issues#issue-{request_id}"
    session.commit()
    assert session.get(Request, request_id).support_count == 1  # type: ignore[union-attr]

    # Another browser proving the same number signs in to the same account, not a new one.
    with TestClient(create_app(settings)) as other:
        assert verify_phone(other, session, "/issues") == "/issues"
        assert other.get("/api/v1/me").json()["username"] == resident.username
    assert session.scalar(select(func.count()).select_from(User)) == (users_before or 0) + 1


def test_a_visitors_code_works_only_in_the_browser_it_was_sent_to_and_not_for_staff_numbers(
    client: TestClient, settings: Settings, city: City, session: Session
) -> None:
    page = client.get("/verify?level=1&next=/issues")
    sent = client.post("/verify/send", data={"csrf_token": _csrf(page.text), "phone": PHONE, "next": "/me"})
    assert sent.status_code == 200
    code = re.search(r'id="demo-code">[^<]*?(\d{6})', sent.text)
    assert code is not None
    with TestClient(create_app(settings)) as thief:
        form = {"csrf_token": _csrf(thief.get("/verify").text), "code": code.group(1), "phone": PHONE}
        stolen = thief.post("/verify/confirm", data=form, follow_redirects=False)
        assert stolen.status_code == 422 and thief.get("/api/v1/me").status_code == 401
    # A number a staff account verified does not sign anyone in without the password and second factor.
    session.execute(
        update(User).where(User.username == "operator").values(phone=PHONE, phone_verified_at=utcnow())
    )
    session.commit()
    typed = client.post(
        "/verify/confirm",
        data={"csrf_token": _csrf(sent.text), "code": code.group(1), "phone": PHONE, "next": "/me"},
        params={"lang": "en"},
    )
    assert typed.status_code == 422 and "belongs to a staff account" in typed.text
    assert client.get("/api/v1/me").status_code == 401
    # Codes to one number are limited (text messages cost money): the sixth within 10 minutes is refused.
    for _ in range(4):
        again = client.post(
            "/verify/send", data={"csrf_token": _csrf(sent.text), "phone": PHONE, "next": "/me"}
        )
        assert again.status_code == 200
    limited = client.post(
        "/verify/send", data={"csrf_token": _csrf(sent.text), "phone": PHONE, "next": "/me"}
    )
    assert limited.status_code == 422 and 'id="code-sent"' not in limited.text


def test_my_requests_from_every_channel_export_correct_delete(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    # A phone call taken by an operator under the resident's number, and a web report from the account.
    operator = client.post("/api/v1/auth/token", json={"username": "operator", "password": PASSWORD}).json()[
        "access_token"
    ]
    by_phone = created_number(
        client.post(
            SUBMIT,
            json=valid_submission(
                channel="phone", contact_phone=PHONE, contact_name="王小明", title="=HYPERLINK(1)"
            ),
            headers={"Authorization": f"Bearer {operator}"},
        )
    )
    someone_else = created_number(
        client.post(
            SUBMIT,
            json=valid_submission(channel="phone", contact_phone="13800005678"),
            headers={"Authorization": f"Bearer {operator}"},
        )
    )
    sign_in(client, "resident")
    verify_phone(client, session, "/me")
    page = client.get("/me")
    assert by_phone in page.text and someone_else not in page.text

    exported = client.get("/me/export.json")
    assert exported.headers["content-type"].startswith("application/json")
    data = exported.json()
    assert [r["tracking_number"] for r in data["requests"]] == [by_phone]
    assert data["requests"][0]["timeline"][0]["action"] == "receive"
    assert data["profile"]["phone"] == PHONE and data["profile"]["identity_level"] == 1
    assert data["passkeys"] == [] and len(data["sessions"]) == 1  # what the account holds, passkeys included
    # The messages sent about it to the verified number (a phone report carries no account), none to others.
    sent = data["requests"][0]["notifications"]
    assert sent and {(n["request"], n["to"], n["channel"]) for n in sent} == {(by_phone, PHONE, "sms")}
    assert by_phone in sent[0]["text"] and data["notifications"] == sent
    assert "关于此诉求发给你的消息" in page.text
    table = list(csv.reader(io.StringIO(client.get("/me/export.csv").text)))
    assert table[0] == ["section", "item", "field", "value"]
    assert ["requests", "1", "title", "'=HYPERLINK(1)"] in table, "a formula comes out as text"

    csrf = _csrf(page.text)
    client.post("/me/correct", data={"csrf_token": csrf, "display_name": "王 小明"})
    client.post("/me/notifications", data={"csrf_token": csrf, "email": "on"})
    again = client.get("/me/export.json").json()
    assert again["profile"]["display_name"] == "王 小明"
    assert again["notification_preferences"] == {
        "sms": False,
        "email": True,
        "progress": False,
        "closure": False,
    }
    assert [e["action"] for e in again["data_rights_trace"]] == ["export", "export", "correct"]

    refused = client.post("/me/delete", data={"csrf_token": csrf}, follow_redirects=False)
    assert refused.headers["location"] == "/me?done=not_deleted", "needs the confirmation box"
    deleted = client.post("/me/delete", data={"csrf_token": csrf, "confirm": "yes"}, follow_redirects=False)
    assert deleted.headers["location"] == "/?deleted=1"
    assert client.get("/api/v1/me").status_code == 401, "signed out everywhere"
    session.commit()
    kept = session.scalars(select(Request).where(Request.tracking_number == by_phone)).one()
    assert kept.text and kept.contact_phone is None and kept.contact_name is None and kept.phone_last4 is None
    other = session.scalars(select(Request).where(Request.tracking_number == someone_else)).one()
    assert other.contact_phone == "13800005678"
    shell = session.scalars(select(User).where(User.username.like("deleted-%"))).one()
    assert shell.phone is None and shell.password_hash is None and not shell.active
    trace = session.scalars(select(DataRightsEvent).order_by(DataRightsEvent.id)).all()
    assert trace[-1].action == "delete" and trace[-1].details == {
        "requests_anonymised": 1,
        "identities_removed": 0,
        "notifications_removed": len(sent),
        "app_accounts_removed": 0,
    }
    left = session.scalars(select(Notification.recipient)).all()
    assert PHONE not in left and "13800005678" in left, "the person's messages go, others' stay"
    assert PHONE not in str([t.details for t in trace]), "the trace holds no personal data"
    relogin = client.post("/api/v1/auth/session", json={"username": "resident", "password": PASSWORD})
    assert relogin.status_code == 401


def test_staff_cannot_delete_themselves_here(client: TestClient, city: City, session: Session) -> None:
    sign_in(client, "dispatcher")
    verify_phone(client, session, "/me")
    csrf = _csrf(client.get("/me").text)
    response = client.post("/me/delete", data={"csrf_token": csrf, "confirm": "yes"}, follow_redirects=False)
    assert response.headers["location"] == "/me?done=not_deleted"


def test_password_reset_through_the_verified_phone(client: TestClient, city: City, session: Session) -> None:
    sign_in(client, "resident")
    verify_phone(client, session, "/me")
    other_browser_cookie = client.cookies.get("chengzhi_session")
    client.cookies.clear()
    form = client.get("/password/reset")
    unknown = client.post(
        "/password/reset",
        data={"csrf_token": _csrf(form.text), "username": "resident", "phone": "13000000000"},
    )
    assert 'id="reset-sent"' in unknown.text and 'id="demo-code"' not in unknown.text, "same answer, no code"
    sent = client.post(
        "/password/reset", data={"csrf_token": _csrf(form.text), "username": "resident", "phone": PHONE}
    )
    code = re.search(r"The code is (\d{6})|验证码是 (\d{6})", sent.text)
    assert code
    digits = code.group(1) or code.group(2)
    short = client.post(
        "/password/reset/confirm",
        data={"csrf_token": _csrf(sent.text), "username": "resident", "code": digits, "password": "short"},
    )
    assert short.status_code == 422
    stranger = client.post(
        "/password/reset/confirm",
        data={"csrf_token": _csrf(sent.text), "username": "nobody-here", "code": digits, "password": "short"},
    )
    assert stranger.status_code == 422
    assert stranger.text.replace("nobody-here", "resident") == short.text, "an unknown name answers alike"
    # Someone locked the account by guessing meanwhile: the reset through the verified phone ends the lock.
    session.commit()
    session.execute(
        update(User)
        .where(User.username == "resident")
        .values(locked_until=utcnow() + dt.timedelta(minutes=15))
    )
    session.commit()
    done = client.post(
        "/password/reset/confirm",
        data={
            "csrf_token": _csrf(sent.text),
            "username": "resident",
            "code": digits,
            "password": "a-brand-new-pw",
        },
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/login?reset=1"
    assert other_browser_cookie
    client.cookies.set("chengzhi_session", other_browser_cookie)
    assert client.get("/api/v1/me").status_code == 401, "the reset ended every session"
    ok = client.post("/api/v1/auth/session", json={"username": "resident", "password": "a-brand-new-pw"})
    assert ok.status_code == 200


def test_a_city_that_asks_level_one_to_submit(settings: Settings, city: City, session: Session) -> None:
    """`submit` is 0 by default; a city that raises it leads visitors through the step-up, refuses anonymous API
    calls clearly, and still lets operators take phone calls for callers."""
    strict = settings.model_copy(update={"identity_levels": {**settings.identity_levels, "submit": 1}})
    with TestClient(create_app(strict), raise_server_exceptions=False) as client:
        page = client.get("/submit", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/verify?level=1&next=%2Fsubmit"
        refused = client.post(SUBMIT, json=valid_submission(), params={"lang": "en"})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "identity_level_required"
        token = client.post("/api/v1/auth/token", json={"username": "operator", "password": PASSWORD})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        taken = client.post(SUBMIT, json=valid_submission(channel="phone"), headers=headers)
        assert taken.status_code == 201
        assert verify_phone(client, session, "/submit") == "/submit"
        assert client.get("/submit").status_code == 200


def test_level_one_by_a_code_to_an_email_address(client: TestClient, city: City, session: Session) -> None:
    page = client.get("/verify?level=1&next=/me")
    form = {"csrf_token": _csrf(page.text), "channel": "email", "next": "/me"}
    bad = client.post("/verify/send", data={**form, "email": "not-an-address"}, params={"lang": "en"})
    assert bad.status_code == 422 and "or e-mail address" in bad.text
    sent = client.post("/verify/send", data={**form, "email": "Li.Na@Example.org"})
    assert sent.status_code == 200 and 'id="code-sent"' in sent.text
    session.commit()
    message = session.scalars(select(OutboundRecord).where(OutboundRecord.channel == "email")).all()[-1]
    assert message.recipient == "li.na@example.org"
    code = re.search(r"\b(\d{6})\b", message.body["text"])
    assert code is not None
    done = client.post(
        "/verify/confirm",
        data={"csrf_token": _csrf(sent.text), "code": code.group(1), "next": "/me"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/me"
    assert client.get("/me").status_code == 200, "level 1 by the verified address"
    session.commit()
    person = session.scalars(select(User).where(User.email == "li.na@example.org")).one()
    assert person.email_verified_at is not None and person.phone is None


def test_an_open311_report_is_found_by_the_verified_address_it_carries_not_by_account_id(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    key = make_key(settings)
    form = {"api_key": key, "service_code": "litter", "lat": "0.2", "long": "0.2", "description": "路灯坏了"}
    mine = client.post(f"{V2}/requests.json", data={**form, "phone": PHONE, "account_id": "app-user-1"})
    claimed = client.post(
        f"{V2}/requests.json", data={**form, "email": "x@example.org", "account_id": "resident"}
    )
    assert mine.status_code == 201 and claimed.status_code == 201, (mine.text, claimed.text)
    sign_in(client, "resident")
    verify_phone(client, session, "/me")
    numbers = [r["tracking_number"] for r in client.get("/me/export.json").json()["requests"]]
    assert numbers == [mine.json()[0]["service_request_id"]], "an app's account_id links nothing"
