"""The contact-view audit: every staff view of a resident's unmasked contact details is recorded (who, whose,
when, why, where), views of masked contacts and the resident's own are not; supervisors and administrators read
and export the views of the requests in their scope, nobody else."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.db import get_engine, utcnow
from chengzhi.requests.models import ContactView

from . import steps
from .authorisation_support import page_cookie
from .factories import City
from .test_api_errors import token_headers


def views(session: Session) -> list[tuple[str, str, str]]:
    session.rollback()  # a new transaction: see what the app committed since
    rows = session.scalars(select(ContactView).order_by(ContactView.id)).all()
    return [(str(r.viewer_id), r.reason, r.via) for r in rows]


def page(client: TestClient, settings: Settings, username: str, url: str) -> tuple[int, str]:
    cookie, _csrf = page_cookie(settings, username)
    client.cookies.clear()
    client.cookies.set("chengzhi_session", cookie)
    response = client.get(url, follow_redirects=False)
    client.cookies.clear()
    return response.status_code, response.text


def test_unmasked_views_are_recorded_and_masked_ones_not(
    client: TestClient, session: Session, settings: Settings, city: City
) -> None:
    request = steps.submit(session, settings, utcnow())
    steps.dispatch(session, settings, request, "D1S1C1", utcnow())
    session.commit()
    number = request.tracking_number
    users = {name: str(city.users[name].id) for name in city.users}

    handler = token_headers(client, "d1s1c1-handler")
    shown = client.get(f"/api/v1/requests/{number}", headers=handler).json()
    assert shown["contact"]["phone"] == "13912345678"
    assert views(session) == [(users["d1s1c1-handler"], "handler", "api")]

    for masked in ("leader", "resident"):  # the leader sees it masked; the resident is the submitter
        client.get(f"/api/v1/requests/{number}", headers=token_headers(client, masked))
    assert len(views(session)) == 1

    status, text = page(client, settings, "operator", f"/staff/requests/{number}")
    assert status == 200 and "13912345678" in text
    assert views(session)[-1] == (users["operator"], "operator", "page")

    signed = client.post(f"/api/v1/requests/{number}/sign", headers=handler)
    assert signed.status_code == 200, signed.text
    assert views(session)[-1] == (users["d1s1c1-handler"], "handler", "api")  # written with the step
    listed = client.get("/api/v1/requests", headers=handler).json()
    assert [item["tracking_number"] for item in listed["items"]] == [number]
    assert len(views(session)) == 4


def test_supervisors_read_and_export_the_views_in_their_scope(
    client: TestClient, session: Session, settings: Settings, city: City
) -> None:
    request = steps.submit(session, settings, utcnow())
    steps.dispatch(session, settings, request, "D1S1C1", utcnow())
    session.commit()
    number = request.tracking_number
    client.get(f"/api/v1/requests/{number}", headers=token_headers(client, "d1s1c1-handler"))

    status, text = page(client, settings, "supervisor", "/staff/contact-views")
    assert status == 200 and "d1s1c1-handler" in text and number in text
    status, text = page(client, settings, "d2-supervisor", "/staff/contact-views")  # another district
    assert status == 200 and number not in text
    assert page(client, settings, "d1s1c1-handler", "/staff/contact-views")[0] == 403
    assert page(client, settings, "resident", "/staff/contact-views")[0] == 403
    assert page(client, settings, "leader", "/staff/contact-views.csv")[0] == 403

    status, text = page(client, settings, "admin", "/staff/contact-views.csv?days=7")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert status == 200 and rows[0] == ["at", "viewer", "request", "reason", "via"]
    assert [r[1:] for r in rows[1:]] == [["d1s1c1-handler", number, "handler", "api"]]
    status, text = page(client, settings, "admin", "/staff/contact-views.csv?viewer=operator")
    assert text.lstrip("\ufeff").strip().splitlines() == ["at,viewer,request,reason,via"]


def test_a_list_page_writes_its_views_in_one_statement(
    client: TestClient, session: Session, settings: Settings, city: City
) -> None:
    """A page of 30 unmasked contacts records 30 views, all of them, with one INSERT (it was one per row)."""
    numbers = set()
    for _ in range(30):
        request = steps.submit(session, settings, utcnow())
        steps.dispatch(session, settings, request, "D1S1C1", utcnow())
        numbers.add(request.tracking_number)
    session.commit()
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if "contact_views" in statement and statement.lstrip().upper().startswith("INSERT"):
            statements.append(statement)

    engine = get_engine(settings.database_url)
    event.listen(engine, "before_cursor_execute", seen)
    try:
        listed = client.get("/api/v1/requests?limit=30", headers=token_headers(client, "d1s1c1-handler"))
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert {item["tracking_number"] for item in listed.json()["items"]} == numbers
    assert len(statements) == 1
    session.rollback()
    recorded = session.execute(select(ContactView.request_id, ContactView.reason, ContactView.via)).all()
    assert len(recorded) == 30 and {(r.reason, r.via) for r in recorded} == {("handler", "api")}
    assert len({r.request_id for r in recorded}) == 30
