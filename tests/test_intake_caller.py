"""The operators' phone-intake form and one person's requests across channels: the caller's earlier requests
appear as the number is typed (any channel, whatever separators), the staff request page lists the same
person's other requests (phone, e-mail or account) only to those who may see the contact, and the form takes an
optional category. Both databases; tests/browser/test_participation.py drives the form by keyboard."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.db import utcnow
from chengzhi.requests import service as svc
from chengzhi.requests.models import Request as RequestRow

from .factories import City
from .steps import actor, submit
from .test_pages_staff import sign_in
from .test_participate_pages import csrf

PANEL = "同一人的其他诉求"


def _by(session: Session, settings: Settings, channel: str, phone: str | None, email: str) -> RequestRow:
    data = svc.Submission(
        text="楼道灯坏了",
        channel=channel,
        contact_name="张三",
        contact_phone=phone,
        contact_email=email,
        address="D1S1C1",
    )
    return svc.submit_request(session, actor(session, "operator"), data, settings, utcnow())


def test_caller_lookup_and_linked_requests(
    client: TestClient, settings: Settings, city: City, session: Session
) -> None:
    web = submit(session, settings, utcnow(), by="resident", phone="13912345678")
    mail = _by(session, settings, "email", None, "zhang@example.org")  # mail intake keeps it lower-case
    stranger = _by(session, settings, "phone", "13800005678", "li@example.org")  # same last four digits
    session.commit()

    sign_in(client, "operator")
    form = client.get("/staff/intake")
    assert form.status_code == 200
    assert 'id="contact_phone"' in form.text and "autofocus" in form.text and "/static/intake.js" in form.text
    assert "Ctrl+Enter" in form.text and 'name="category"' in form.text

    found = client.get("/staff/intake/caller", params={"contact_phone": "+86 139-1234-5678"}).text
    assert "此来电人以往诉求：1 件" in found and web.tracking_number in found and "网站" in found
    assert stranger.tracking_number not in found and "13912345678" not in found
    assert (
        "此号码没有以往诉求"
        in client.get("/staff/intake/caller", params={"contact_phone": "13700000000"}).text
    )
    assert (
        web.tracking_number not in client.get("/staff/intake/caller", params={"contact_phone": "5678"}).text
    )

    registered = client.post(
        "/staff/intake",
        data={
            "csrf_token": csrf(client, "/staff/intake"),
            "contact_phone": "139 1234 5678",
            "text": "小区门口垃圾没人清运",
            "category": "litter",
        },
        follow_redirects=False,
    )
    assert registered.status_code == 303
    number = re.search(r"done=(\d+)", registered.headers["location"])
    assert number
    session.rollback()
    phone = session.scalar(select(RequestRow).where(RequestRow.tracking_number == number.group(1)))
    assert phone is not None and phone.channel == "phone" and phone.category is not None
    assert phone.category.code == "litter"
    wrong = client.post(
        "/staff/intake",
        data={"csrf_token": csrf(client, "/staff/intake"), "text": "x", "category": "nope"},
    )
    assert wrong.status_code == 422 and "nope" in wrong.text  # the form again, with the refusal

    # The web request's page: the phone call (same number) and the mail (same address) are linked.
    page = client.get(f"/staff/requests/{web.tracking_number}").text
    assert PANEL in page and phone.tracking_number in page and mail.tracking_number in page
    assert stranger.tracking_number not in page
    assert 'data-channel="phone"' in page and 'data-channel="email"' in page
    # The phone call's page: linked back to the web request by the number, not to the mail (no phone there).
    page = client.get(f"/staff/requests/{phone.tracking_number}").text
    assert web.tracking_number in page and mail.tracking_number not in page

    inbox = client.get("/staff", params={"channel": "email"}).text  # every channel in one inbox, filterable
    assert mail.tracking_number in inbox and web.tracking_number not in inbox
    assert '<option value="open311"' in inbox

    sign_in(client, "leader")  # reads every request, but does not need the contact: no links shown
    page = client.get(f"/staff/requests/{web.tracking_number}")
    assert page.status_code == 200 and PANEL not in page.text
    sign_in(client, "resident")
    assert client.get("/staff/intake/caller", params={"contact_phone": "13912345678"}).status_code == 403
