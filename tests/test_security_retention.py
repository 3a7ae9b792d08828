"""Retention: N months after closing, a request's personal data are gone from the request and its event log, and
nothing else changes (its projection still equals the fold of its log); recent and open requests keep theirs."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.jobs import service as jobs
from chengzhi.requests import service as requests_service
from chengzhi.requests.log import state_of, steps_of
from chengzhi.requests.models import Request, RequestEvent
from chengzhi.requests.retention import anonymise_expired, months_before
from chengzhi.requests.workflow import fold

from . import steps
from .factories import City

PHONE, EMAIL, ID_CARD, NAME = "13912345678", "li.si@example.org", "11010519491231002X", "李小四"
TEXT = f"楼道堆满垃圾。联系人：{NAME}，电话{PHONE}，邮箱{EMAIL}，身份证{ID_CARD}"
PLANTED = (PHONE, EMAIL, ID_CARD, "小四", PHONE[-4:] + "，")


def closed_request(session: Session, settings: Settings, closed_at: dt.datetime) -> Request:
    """A request through its whole life, with personal data planted in its text, reply and notes."""
    start = closed_at - dt.timedelta(days=3)
    request = steps.submit(session, settings, start, phone=PHONE)
    request.text, request.title, request.contact_name = TEXT, TEXT[:40], NAME
    steps.dispatch(session, settings, request, "D1S1C1", start + dt.timedelta(minutes=5))
    handler = steps.actor(session, "d1s1c1-handler")
    at = start + dt.timedelta(hours=1)
    requests_service.sign_request(session, handler, request, at)
    requests_service.contact_resident(session, handler, request, f"已致电{NAME} {PHONE}", at)
    requests_service.reply_request(
        session, handler, request, f"{NAME}您好，已清理。回电{PHONE}", settings, at
    )
    resident = steps.actor(session, "resident")
    requests_service.review_request(session, resident, request, True, 5, f"很满意 {EMAIL}", at)
    requests_service.close_request(session, steps.actor(session, "supervisor"), request, None, closed_at)
    return request


def personal_data_left(session: Session, request: Request) -> list[str]:
    events = session.scalars(select(RequestEvent).where(RequestEvent.request_id == request.id)).all()
    texts = [request.title, request.text, request.reply_text or "", str(request.attributes)]
    texts += [f"{e.note or ''} {e.payload}" for e in events]
    return [p for p in PLANTED for t in texts if p in t]


def test_requests_closed_before_the_period_are_anonymised(
    session: Session, settings: Settings, city: City
) -> None:
    now = dt.datetime.now(dt.UTC)
    settings = settings.model_copy(update={"retention_months": 36})
    old = closed_request(session, settings, months_before(now, 37))
    recent = closed_request(session, settings, months_before(now, 35))
    still_open = steps.submit(session, settings, months_before(now, 40), phone=PHONE)
    session.commit()
    assert personal_data_left(session, old) and personal_data_left(session, recent)

    assert "retention" in jobs.JOBS
    result = anonymise_expired(session, settings, now)
    session.commit()
    assert result["anonymised"] == 1
    session.expire_all()

    assert personal_data_left(session, old) == []
    assert (old.contact_name, old.contact_phone, old.contact_email, old.phone_last4) == (
        None,
        None,
        None,
        None,
    )
    assert old.submitter_id is None and old.anonymised_at is not None
    assert "楼道堆满垃圾" in old.text and "已清理" in (old.reply_text or "")  # the case itself stays
    events = session.scalars(
        select(RequestEvent).where(RequestEvent.request_id == old.id).order_by(RequestEvent.seq)
    ).all()
    assert fold(steps_of(events)) == state_of(old)  # the projection is still the fold of the log
    assert old.status == "closed" and old.satisfaction == 5

    assert personal_data_left(session, recent) != [] and recent.contact_phone == PHONE
    assert still_open.contact_phone == PHONE and still_open.anonymised_at is None

    assert anonymise_expired(session, settings, now)["anonymised"] == 0  # done once
    off = settings.model_copy(update={"retention_months": 0})
    assert anonymise_expired(session, off, now + dt.timedelta(days=3650))["anonymised"] == 0


def test_months_are_calendar_months() -> None:
    at = dt.datetime(2026, 3, 31, 12, 0, tzinfo=dt.UTC)
    assert months_before(at, 1) == dt.datetime(2026, 2, 28, 12, 0, tzinfo=dt.UTC)
    assert months_before(at, 36) == dt.datetime(2023, 3, 31, 12, 0, tzinfo=dt.UTC)
    assert months_before(dt.datetime(2026, 1, 15, tzinfo=dt.UTC), 2) == dt.datetime(
        2025, 11, 15, tzinfo=dt.UTC
    )
