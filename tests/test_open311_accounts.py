"""Open311 `account_id` in a resident's own space, safely: only a client an administrator marked as vouching for its
users' accounts has its account ids kept; a (client, account_id) pair is linked to a resident only when a request
posted with it carried that resident's verified phone number or e-mail address; from then on every request with the
pair (earlier and later) is among the resident's own, until they unlink it. Another client's same account id is
another pair. The link is in the export and goes with the person's data."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.db import get_sessionmaker
from chengzhi.jobs.service import run_job
from chengzhi.open311 import accounts
from chengzhi.open311.models import Open311AccountLink, Open311RequestAccount
from chengzhi.org.models import User
from chengzhi.requests.models import Request

from .conftest import auth
from .factories import City
from .open311_helpers import V2, make_key
from .test_identity_space import PHONE, _csrf, sign_in, verify_phone
from .test_open311 import service_type

FORM = {"service_code": "litter", "lat": "0.2", "long": "0.2"}


def vouch(settings: Settings, name: str) -> None:
    with get_sessionmaker(settings.database_url)() as session, session.begin():
        accounts.set_vouches(session, name, True, "test")


def post(client: TestClient, key: str, text: str, **fields: str) -> str:
    """A request from an app; an intake needs a contact, so without one it carries an address nobody verified
    (an app's relay address, say)."""
    contact = {} if "phone" in fields or "email" in fields else {"email": "relay@app.example"}
    response = client.post(
        f"{V2}/requests.json", data={"api_key": key, **FORM, "description": text, **contact, **fields}
    )
    assert response.status_code == 201, response.text
    return str(response.json()[0]["service_request_id"])


def mine(client: TestClient) -> list[str]:
    return sorted(r["tracking_number"] for r in client.get("/me/export.json").json()["requests"])


def user(session: Session, username: str) -> User:
    return session.scalars(select(User).where(User.username == username)).one()


def count(session: Session, model: type[Open311RequestAccount] | type[Open311AccountLink]) -> int:
    session.commit()
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_an_untrusted_clients_account_id_is_not_kept_and_links_nothing(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    sign_in(client, "resident")
    verify_phone(client, session, "/me")
    key = make_key(settings, "some-app")
    answer = client.post(
        f"{V2}/requests.json", data={"api_key": key, **FORM, "phone": PHONE, "account_id": "u-42"}
    )
    assert answer.status_code == 201 and answer.json()[0]["account_id"] is None, "not kept, not echoed"
    by_phone = str(answer.json()[0]["service_request_id"])
    later = post(client, key, "又坏了", account_id="u-42")
    assert mine(client) == [by_phone] and later not in mine(client)
    assert count(session, Open311RequestAccount) == 0 and count(session, Open311AccountLink) == 0
    assert client.get("/me/export.json").json()["app_accounts"] == []
    too_long = client.post(
        f"{V2}/requests.json?lang=en", data={"api_key": key, **FORM, "phone": PHONE, "account_id": "x" * 201}
    )
    assert too_long.status_code == 400 and "account_id" in too_long.json()[0]["description"]


def test_a_trusted_clients_pair_links_on_the_verified_phone_then_lists_every_request_until_unlinked(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    city_app, other_app = make_key(settings, "city-app"), make_key(settings, "other-app")
    vouch(settings, "city-app")
    vouch(settings, "other-app")
    before = post(client, city_app, "路灯不亮", account_id="u-42")  # posted before any proof
    sign_in(client, "resident")
    verify_phone(client, session, "/me")
    assert mine(client) == []
    # The app sends the number as people write it: +86, spaces and dashes.
    proof = client.post(
        f"{V2}/requests.json",
        data={"api_key": city_app, **FORM, "phone": "+86 139-1234-5678", "account_id": "u-42"},
    )
    assert proof.status_code == 201 and proof.json()[0]["account_id"] == "u-42", "kept and echoed"
    proved = str(proof.json()[0]["service_request_id"])
    after = post(client, city_app, "井盖松动", account_id="u-42")  # the account id alone
    elsewhere = post(client, other_app, "别人的", account_id="u-42")  # the same id in another app
    stranger = post(client, city_app, "别人的", account_id="u-43")
    assert mine(client) == sorted([before, proved, after]), "the pair's requests, earlier and later"
    assert elsewhere not in mine(client) and stranger not in mine(client)

    data = client.get("/me/export.json").json()
    linked = data["app_accounts"]
    assert [(a["client"], a["account_id"], a["proved_by"], a["requests"]) for a in linked] == [
        ("city-app", "u-42", "phone", 3)
    ]
    later = next(r for r in data["requests"] if r["tracking_number"] == after)
    assert later["channel"] == "open311" and later["timeline"][0]["action"] == "receive"
    table = list(csv.reader(io.StringIO(client.get("/me/export.csv").text)))
    assert ["app_accounts", "1", "account_id", "u-42"] in table
    page = client.get("/me")
    assert "我在城市应用中的账号" in page.text and after in page.text and "解除关联" in page.text

    # The account id is the resident's and the app's: not in the public Open311 lists nor the staff API.
    public = client.get(f"{V2}/requests.json?extensions=true&service_request_id={after}")
    assert public.status_code == 200 and "u-42" not in public.text
    staff = client.get(f"/api/v1/requests/{after}", headers=auth(client, "operator"))
    assert staff.status_code == 200 and "u-42" not in staff.text

    # The details the resident shares reach the units handling the pair's requests, as for their own account's.
    sign_in(client, "resident")
    page = client.get("/me")
    client.post("/me/sharing", data={"csrf_token": _csrf(page.text), "phone": "on"})
    operator = auth(client, "operator")
    offered = client.get(f"/api/v1/requests/{after}/resident", headers=operator).json()
    assert offered["has_account"] and offered["offered"] == ["phone"]
    assert client.get(f"/api/v1/requests/{elsewhere}/resident", headers=operator).json()["offered"] == []

    # Someone else's link, or a made-up one, is not theirs to end.
    sign_in(client, "resident")
    page = client.get("/me")
    refused = client.post(
        "/me/app-accounts/999999/unlink", data={"csrf_token": _csrf(page.text)}, follow_redirects=False
    )
    assert refused.headers["location"].startswith("/me?done=not_changed")
    ended = client.post(
        f"/me/app-accounts/{linked[0]['id']}/unlink",
        data={"csrf_token": _csrf(page.text)},
        follow_redirects=False,
    )
    assert ended.headers["location"] == "/me?done=unlinked#app-accounts"
    assert mine(client) == [proved], "only the request carrying the verified number stays"
    assert client.get(f"/api/v1/requests/{after}/resident", headers=operator).json()["offered"] == []
    again = client.get("/me/export.json").json()
    assert again["app_accounts"] == [] and "unlink_app" in [e["action"] for e in again["data_rights_trace"]]
    # A later request with the pair and the number does not link it to them again.
    post(client, city_app, "第三次", account_id="u-42", phone=PHONE)
    assert client.get("/me/export.json").json()["app_accounts"] == []


def test_an_email_proves_a_batch_request_and_deletion_takes_the_link_away(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    resident = user(session, "resident")
    resident.email = "wang@example.org"
    resident.email_verified_at = resident.created_at
    session.commit()
    service_type(settings, "bus", "batch")
    city_app = make_key(settings, "city-app")
    vouch(settings, "city-app")
    token = client.post(
        f"{V2}/requests.json",  # a batch service: entered later by the job
        data={
            "api_key": city_app,
            **FORM,
            "service_code": "bus",
            "email": "Wang@Example.org",
            "account_id": "A 7",
        },
    ).json()[0]
    assert token["account_id"] == "A 7" and "token" in token
    entered = run_job(get_sessionmaker(settings.database_url), settings, "open311_batch")
    assert entered is not None and entered["entered"] == 1
    alone = post(client, city_app, "路灯不亮", account_id="A 7")
    sign_in(client, "resident")
    exported = client.get("/me/export.json", follow_redirects=False)
    assert exported.status_code == 200, (exported.status_code, exported.headers.get("location"))
    data = exported.json()
    assert [(a["account_id"], a["proved_by"]) for a in data["app_accounts"]] == [("A 7", "email")]
    assert alone in mine(client) and len(mine(client)) == 2

    page = client.get("/me")
    done = client.post(
        "/me/delete", data={"csrf_token": _csrf(page.text), "confirm": "yes"}, follow_redirects=False
    )
    assert done.headers["location"] == "/?deleted=1"
    assert count(session, Open311AccountLink) == 0 and count(session, Open311RequestAccount) == 0
    kept = session.scalars(select(Request).where(Request.tracking_number == alone)).one()
    assert kept.text == "路灯不亮", "the request stays for the public record"


def test_a_staff_or_shared_contact_proves_nothing(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    for name in ("operator", "resident", "resident2"):
        person = user(session, name)
        person.phone = {"operator": "13700000001"}.get(name, "13700000002")
        person.phone_verified_at = person.created_at
    session.commit()
    city_app = make_key(settings, "city-app")
    vouch(settings, "city-app")
    post(client, city_app, "a", account_id="staff-number", phone="13700000001")
    post(client, city_app, "b", account_id="shared-number", phone="13700000002")
    assert count(session, Open311RequestAccount) == 2 and count(session, Open311AccountLink) == 0


def test_administrators_mark_a_client_by_the_api_and_the_page(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    make_key(settings, "city-app")
    admin = auth(client, "admin")
    listed = client.get("/api/v1/open311/clients", headers=admin)
    assert listed.status_code == 200 and listed.json()[0]["vouches_for_accounts"] is False
    for body in ({"vouches_for_accounts": "maybe"}, {}):
        assert (
            client.put("/api/v1/open311/clients/city-app/vouches", json=body, headers=admin).status_code
            == 422
        )
    refused = client.put(
        "/api/v1/open311/clients/city-app/vouches",
        json={"vouches_for_accounts": True},
        headers=auth(client, "operator"),
    )
    assert refused.status_code == 403
    missing = client.put(
        "/api/v1/open311/clients/nobody/vouches", json={"vouches_for_accounts": True}, headers=admin
    )
    assert missing.status_code == 404
    done = client.put(
        "/api/v1/open311/clients/city-app/vouches", json={"vouches_for_accounts": True}, headers=admin
    )
    assert done.status_code == 200 and done.json()["vouches_for_accounts"] is True
    assert done.json()["vouches_changed_by"] == "admin"

    sign_in(client, "admin")
    page = client.get("/staff/admin/open311")
    assert page.status_code == 200 and "city-app" in page.text and "为其用户账号担保" in page.text
    withdrawn = client.post(
        "/staff/admin/open311/city-app/vouches",
        data={"csrf_token": _csrf(page.text), "vouches": "no"},
        follow_redirects=False,
    )
    assert withdrawn.status_code == 303
    english = client.get("/staff/admin/open311?done=withdrawn", headers={"Accept-Language": "en"})
    assert "no longer vouches" in english.text or "不再" in english.text
    bad = client.post(
        "/staff/admin/open311/city-app/vouches", data={"csrf_token": _csrf(page.text), "vouches": "x"}
    )
    assert bad.status_code == 422
    session.commit()
    assert client.get("/api/v1/open311/clients", headers=admin).json()[0]["vouches_for_accounts"] is False
