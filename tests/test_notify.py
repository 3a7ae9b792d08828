"""Notifications to residents and staff: written in the step's transaction (or the triage worker's), sent by the
job through real channels: e-mail to an SMTP server started here (aiosmtpd), SMS to a gateway faked at the HTTP
boundary, in-app through the API; preferences, retries with backoff, the delivery log, the recording sink."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.db import get_sessionmaker, utcnow
from chengzhi.notify import sending as notify_sending
from chengzhi.notify import service as notify
from chengzhi.notify.models import Notification, NotificationAttempt
from chengzhi.org.models import Role, Unit
from chengzhi.org.service import create_user
from chengzhi.outbound.record import recorded
from chengzhi.requests import service as svc

from .channel_servers import http_receiver, smtp_server
from .conftest import auth
from .factories import City
from .open311_helpers import free_port
from .steps import actor, dispatch, handle, submit


def send(settings: Settings, now: dt.datetime) -> dict[str, Any]:
    with get_sessionmaker(settings.database_url)() as session:
        return notify.send_due(session, settings, now)


def rows(session: Session, **where: Any) -> list[Notification]:
    session.rollback()  # a new transaction: see what the job committed
    query = select(Notification).order_by(Notification.id)
    for name, value in where.items():
        query = query.where(getattr(Notification, name) == value)
    return list(session.scalars(query))


def sending(settings: Settings, port: int, **more: Any) -> Settings:
    return settings.model_copy(
        update={"outbound_mode": "send", "outbound_channels": {"sms": "record"}, "smtp_port": port, **more}
    )


def test_resident_hears_each_step_by_mail_sms_and_in_app(
    settings: Settings, city: City, session: Session
) -> None:
    now = utcnow()
    with smtp_server() as (port, mailbox):
        live = sending(settings, port)
        request = submit(session, live, now)
        session.commit()
        received = rows(session, kind="received")
        assert {n.channel for n in received} == {"email", "sms", "in_app"}
        assert all(n.reference == request.tracking_number for n in received)

        now = utcnow()  # the worker wrote the acknowledgement at its own time
        assert send(live, now) == {"sent": 1, "recorded": 1}
        ((rcpt, mail),) = mailbox.messages
        assert rcpt == ["zhang@example.org"]
        assert mail["Subject"] == f"诉求 {request.tracking_number} 已受理"
        assert request.tracking_number in mail.get_content()
        assert f"/track/{request.tracking_number}" in mail.get_content()
        # The SMS went to the recording sink (its own channel setting), with its short text.
        session.rollback()
        (sms,) = recorded(session, "sms")
        assert sms.recipient == "13912345678" and request.tracking_number in sms.body["text"]

        dispatch(session, live, request, "D1S1C1", now)
        session.commit()
        staff = rows(session, kind="assigned")
        assert {(n.user_id, n.channel) for n in staff} == {
            (city.users["d1s1c1-handler"].id, "in_app"),
            (city.users["d1s1c1-handler"].id, "sms"),
        }
        handle(session, live, request, "d1s1c1-handler", now)
        session.commit()
        send(live, now + dt.timedelta(minutes=5))
        subjects = [m["Subject"] for _, m in mailbox.messages]
        assert subjects[1:] == [
            f"诉求 {request.tracking_number} 已转交D1S1C1中文",
            f"诉求 {request.tracking_number} 已答复",
        ]
        assert "已处理" in mailbox.messages[2][1].get_content()  # the reply's text

        # The invitation to rate waits for the follow-up day, then goes out.
        rate = rows(session, kind="rate", channel="email")[0]
        assert rate.state == "pending"
        send(live, now + dt.timedelta(hours=2))
        assert rows(session, kind="rate", channel="email")[0].state == "pending"
        send(live, now + dt.timedelta(hours=25))
        assert rows(session, kind="rate", channel="email")[0].state == "sent"
        assert mailbox.messages[-1][1]["Subject"] == f"诉求 {request.tracking_number} 办理得怎么样？"


def test_invitation_to_rate_is_skipped_once_rated(settings: Settings, city: City, session: Session) -> None:
    now = utcnow()
    request = submit(session, settings, now)
    dispatch(session, settings, request, "D1S1C1", now)
    handle(session, settings, request, "d1s1c1-handler", now)
    svc.review_request(session, actor(session, "resident"), request, True, 5, now=now + dt.timedelta(hours=1))
    session.commit()
    send(settings, now + dt.timedelta(hours=30))
    rates = rows(session, kind="rate")
    assert rates and {n.state for n in rates} == {"skipped"}
    assert "reviewed" in (rates[0].last_error or "")


def test_preferences_choose_channels_and_mute_kinds(settings: Settings, city: City, session: Session) -> None:
    resident = city.users["resident"].id
    notify.set_preferences(session, resident, ["in_app"], ["dispatched"], utcnow())
    session.commit()
    now = utcnow()
    request = submit(session, settings, now)
    dispatch(session, settings, request, "D1S1C1", now)
    session.commit()
    mine = rows(session, request_id=request.id, user_id=resident)
    assert [(n.kind, n.channel) for n in mine] == [("received", "in_app")]


def test_old_steps_notify_nobody(settings: Settings, city: City, session: Session) -> None:
    """An import's history or the demo's past year: steps days old tell nobody."""
    long_ago = utcnow() - dt.timedelta(days=30)
    request = submit(session, settings, long_ago)
    dispatch(session, settings, request, "D1S1C1", long_ago)
    session.commit()
    assert rows(session) == []


def test_mail_server_down_is_retried_with_backoff(settings: Settings, city: City, session: Session) -> None:
    port = free_port()
    live = sending(settings, port, notify_retry_seconds=60.0)
    now = utcnow()
    submit(session, live, now)
    session.commit()
    now = utcnow()
    assert send(live, now) == {"retry": 1, "recorded": 1}
    mail = rows(session, kind="received", channel="email")[0]
    assert mail.state == "pending" and mail.attempts == 1
    assert mail.next_attempt_at == now + dt.timedelta(seconds=60)
    assert send(live, now + dt.timedelta(seconds=30)) == {}  # not due yet
    assert send(live, now + dt.timedelta(seconds=61)) == {"retry": 1}
    assert rows(session, kind="received", channel="email")[0].next_attempt_at == now + dt.timedelta(
        seconds=181
    )
    with smtp_server(port) as (_, mailbox):
        assert send(live, now + dt.timedelta(seconds=200)) == {"sent": 1}
    assert len(mailbox.messages) == 1
    session.rollback()
    tries = session.scalars(
        select(NotificationAttempt.outcome).where(NotificationAttempt.notification_id == mail.id)
    ).all()
    assert tries == ["retry", "retry", "sent"]


def test_a_refused_address_fails_for_good(settings: Settings, city: City, session: Session) -> None:
    now = utcnow()
    with smtp_server() as (port, mailbox):
        mailbox.refuse.add("zhang@example.org")
        live = sending(settings, port)
        submit(session, live, now)
        session.commit()
        assert send(live, utcnow())["failed"] == 1
    mail = rows(session, kind="received", channel="email")[0]
    assert mail.state == "failed" and "refused" in (mail.last_error or "")


def test_sms_gateways_at_the_http_boundary(settings: Settings, city: City, session: Session) -> None:
    now = utcnow()
    with http_receiver({"id": "gw-1"}) as gateway:
        live = settings.model_copy(
            update={
                "outbound_channels": {"sms": "send"},
                "sms_url": f"{gateway.url}/send",
                "sms_token": "t0ken",
            }
        )
        request = submit(session, live, now)
        session.commit()
        gateway.statuses.append(503)
        now = utcnow()
        assert send(live, now)["retry"] == 1
        assert send(live, now + dt.timedelta(minutes=2))["sent"] == 1
        first, second = gateway.received
        assert second.path == "/send" and second.headers["authorization"] == "Bearer t0ken"
        assert second.json()["to"] == "13912345678"
        assert request.tracking_number in second.json()["text"]
        assert first.headers["idempotency-key"] == second.headers["idempotency-key"]

    with http_receiver({"sid": "SM1"}) as twilio:
        live = live.model_copy(
            update={"sms_provider": "twilio", "sms_url": twilio.url, "sms_account": "AC1", "sms_token": "tok"}
        )
        dispatch(session, live, request, "D1S1C1", now)
        session.commit()
        send(live, now + dt.timedelta(minutes=3))
        paths = {r.path for r in twilio.received}
        assert paths == {"/Accounts/AC1/Messages.json"}
        assert all(r.headers["authorization"].startswith("Basic ") for r in twilio.received)
        assert any(b"To=13912345678" in r.body for r in twilio.received)


def test_outside_production_everything_is_recorded(settings: Settings, city: City, session: Session) -> None:
    now = utcnow()
    submit(session, settings, now)
    session.commit()
    assert send(settings, utcnow()) == {"recorded": 2}
    session.rollback()
    assert {r.channel for r in recorded(session)} == {"email", "sms"}


def test_a_round_sends_batch_after_batch_within_its_time(
    settings: Settings, city: City, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One batch a round fell behind a busy hour (the soak of 2026-12-07): a round now sends batch after batch until
    nothing is due, or until its time is up (the rest waits for the next round)."""
    monkeypatch.setattr(notify_sending, "BATCH", 3)
    now = utcnow()
    for _ in range(4):
        submit(session, settings, now)  # each: an e-mail and an SMS to the resident
    session.commit()
    hurried = settings.model_copy(update={"notify_send_seconds": 1e-9})
    assert send(hurried, utcnow()) == {"recorded": 3}  # one batch, then the time was up
    assert send(settings, utcnow()) == {"recorded": 5}  # two more batches: 3 and 2
    assert rows(session, state="pending") == []
    assert send(settings, utcnow()) == {}


def test_in_app_inbox_preferences_and_log_through_the_api(
    client: TestClient, settings: Settings, city: City, session: Session
) -> None:
    request = submit(session, settings, utcnow())
    session.commit()
    dispatch(session, settings, request, "D1S1C1", utcnow())
    session.commit()
    resident = auth(client, "resident")
    inbox = client.get("/api/v1/notifications?lang=en", headers=resident).json()
    assert inbox["unread"] == 2
    assert [i["subject"] for i in inbox["items"]] == [
        f"Request {request.tracking_number} sent to D1S1C1",
        f"Request {request.tracking_number} received",
    ]
    zh = client.get("/api/v1/notifications", headers=resident).json()
    assert zh["items"][1]["subject"] == f"诉求 {request.tracking_number} 已受理"
    first = inbox["items"][0]["id"]
    assert client.post(f"/api/v1/notifications/{first}/read", headers=resident).status_code == 204
    assert client.get("/api/v1/notifications", headers=resident).json()["unread"] == 1
    other = auth(client, "resident2")
    assert client.post(f"/api/v1/notifications/{first}/read", headers=other).status_code == 404

    answer = client.put(
        "/api/v1/notifications/preferences",
        json={"channels": ["in_app"], "muted": ["rate"]},
        headers=resident,
    )
    assert answer.status_code == 200 and answer.json()["channels"] == ["in_app"]
    bad = client.put("/api/v1/notifications/preferences", json={"channels": ["fax"]}, headers=resident)
    assert bad.status_code == 422

    assert client.get("/api/v1/notifications/log", headers=resident).status_code == 403
    log = client.get(
        f"/api/v1/notifications/log?reference={request.tracking_number}", headers=auth(client, "admin")
    ).json()
    emails = [e for e in log if e["channel"] == "email"]
    assert emails and all(e["recipient"] == "z***@example.org" for e in emails)
    assert {e["recipient"] for e in log if e["channel"] == "sms"} == {
        "***5678",
        "***0000",
    }  # resident, handler


def test_pages_show_my_notifications_and_the_log(
    client: TestClient, settings: Settings, city: City, session: Session
) -> None:
    request = submit(session, settings, utcnow())
    session.commit()
    assert client.get("/notifications", follow_redirects=False).status_code == 303
    client.post("/api/v1/auth/session", json={"username": "resident", "password": "demo-password-1"})
    mine = client.get("/notifications?lang=en")
    assert mine.status_code == 200 and f"Request {request.tracking_number} received" in mine.text
    assert client.get("/staff/notifications").status_code == 403
    client.post("/api/v1/auth/session", json={"username": "admin", "password": "demo-password-1"})
    log = client.get("/staff/notifications")
    assert log.status_code == 200 and request.tracking_number in log.text
    assert "zhang@example.org" not in log.text and "z***@example.org" in log.text


def test_unit_names_and_handlers_are_read_once_and_follow_changes(
    settings: Settings, city: City, session: Session
) -> None:
    """A dispatch's notify hook keeps units' names and handlers in the process (one read per generation): a second
    dispatch to the same unit reads neither, and a new handler or a renamed unit shows at the next dispatch."""
    now = utcnow()
    first, second, third = (submit(session, settings, now) for _ in range(3))
    session.commit()
    dispatch(session, settings, first, "D1S1C1", now)
    session.commit()
    statements: list[str] = []
    engine = session.get_bind().engine

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(" ".join(statement.split()))

    dispatcher, lead = actor(session, "dispatcher"), city.units["D1S1C1"].id
    event.listen(engine, "before_cursor_execute", seen)
    try:
        svc.dispatch_request(session, dispatcher, second, lead, settings, [], now=now)
        session.commit()
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    staff_reads = [s for s in statements if "FROM role_assignments JOIN users" in s]
    assert statements and staff_reads == []  # the unit's handlers came from memory
    assert len(rows(session, kind="assigned", request_id=second.id, channel="in_app")) == 1

    unit = session.get(Unit, city.units["D1S1C1"].id)
    assert unit is not None
    newcomer = create_user(
        session,
        username="d1s1c1-handler2",
        display_name="新来的",
        password=None,
        roles=[(Role.handler, unit)],
    )
    unit.name_zh = "幸福里社区"
    session.commit()
    dispatch(session, settings, third, "D1S1C1", now)
    session.commit()
    told = rows(session, kind="assigned", request_id=third.id, channel="in_app")
    assert {n.user_id for n in told} == {city.users["d1s1c1-handler"].id, newcomer.id}
    (resident,) = rows(session, kind="dispatched", request_id=third.id, channel="in_app")
    assert resident.params["unit_zh"] == "幸福里社区"
