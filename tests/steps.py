"""Helpers for tests that drive the request service directly: actors by username, a request in a given status."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.org.models import Unit, User
from chengzhi.org.service import ANONYMOUS, Actor, actor_for
from chengzhi.requests import service as svc
from chengzhi.requests.models import Request

# A point inside each community of the test city (lon, lat): D1S1C1 is the south-west corner.
POINTS = {
    "D1S1C1": (0.2, 0.2),
    "D1S1C2": (0.7, 0.2),
    "D1S2C1": (0.2, 0.7),
    "D1S2C2": (0.7, 0.7),
    "D2S1C1": (1.2, 0.2),
    "D2S1C2": (1.7, 0.2),
    "D2S2C1": (1.2, 0.7),
    "D2S2C2": (1.7, 0.7),
}


def actor(session: Session, username: str | None) -> Actor:
    if username is None:
        return ANONYMOUS
    user = session.scalar(select(User).where(User.username == username))
    assert user is not None, username
    return actor_for(user)


def unit_id(session: Session, code: str) -> int:
    found = session.scalar(select(Unit.id).where(Unit.code == code))
    assert found is not None, code
    return found


def submit(
    session: Session,
    settings: Settings,
    now: dt.datetime,
    *,
    by: str | None = "resident",
    category: str | None = "litter",
    where: str = "D1S1C1",
    priority: str | None = None,
    phone: str = "13912345678",
    attributes: dict[str, str] | None = None,
) -> Request:
    lon, lat = POINTS[where]
    if category == "road" and attributes is None:
        attributes = {"size": "small"}
    data = svc.Submission(
        text=f"{category or '咨询'} at {where}",
        category_code=category,
        priority=priority,
        lat=lat,
        lon=lon,
        contact_name="张三",
        contact_phone=phone,
        contact_email="zhang@example.org",
        attributes=attributes or {},
    )
    return svc.submit_request(session, actor(session, by), data, settings, now)


def dispatch(
    session: Session,
    settings: Settings,
    request: Request,
    lead: str,
    now: dt.datetime,
    *,
    by: str = "dispatcher",
    co: tuple[str, ...] = (),
) -> None:
    svc.dispatch_request(
        session,
        actor(session, by),
        request,
        unit_id(session, lead),
        settings,
        [unit_id(session, c) for c in co],
        now=now,
    )


def handle(
    session: Session,
    settings: Settings,
    request: Request,
    handler: str,
    now: dt.datetime,
    *,
    upto: str = "replied",
) -> None:
    """Take a dispatched request as far as `upto` (signed, contacted or replied), one minute per step."""
    who = actor(session, handler)
    svc.sign_request(session, who, request, now)
    if upto == "signed":
        return
    svc.contact_resident(session, who, request, "电话联系", now + dt.timedelta(minutes=1))
    if upto == "contacted":
        return
    svc.reply_request(session, who, request, "已处理", settings, now + dt.timedelta(minutes=2))
