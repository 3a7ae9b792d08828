"""One person's requests across channels (phone, web, e-mail, app, Open311): linked by the same account, the same
phone number or the same e-mail address, whichever channel brought each request.

Linking tells who wrote what, which is personal data: a request's links are shown only to people who may see its
contact details (`access.sees_contact`: the resident, the operator who took it, the handlers and supervisors who
must reach the resident), only requests within the viewer's own scope are listed, and the titles are masked.
The caller lookup at phone intake is for the roles that take calls. Nothing here is logged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from chengzhi.i18n import N_, Language, gettext
from chengzhi.org.models import Role
from chengzhi.org.service import Actor
from chengzhi.requests import access
from chengzhi.requests.models import Request
from chengzhi.requests.workflow import status_name

# The roles that answer the hotline and may look a caller up by the number they call from.
CALL_TAKERS = (Role.operator, Role.dispatcher, Role.supervisor, Role.admin)
MIN_DIGITS = 7  # fewer digits than this identify no one
CHANNEL_NAMES = {
    "web": N_("Web"),
    "phone": N_("Phone call"),
    "app": N_("App"),
    "email": N_("E-mail"),
    "open311": N_("Open311 client"),
    "import": N_("Imported"),
}


def channel_name(code: str, lang: Language) -> str:
    return gettext(lang, CHANNEL_NAMES[code]) if code in CHANNEL_NAMES else code


@dataclass(frozen=True)
class PersonRequest:
    """One line of a person's requests as staff see it: the number, the channel, the status, a masked title."""

    tracking_number: str
    channel: str
    channel_name: str
    status: str
    title: str
    received_at: dt.datetime


def person_rows(rows: Sequence[Request], lang: Language) -> list[PersonRequest]:
    return [
        PersonRequest(
            tracking_number=r.tracking_number,
            channel=r.channel,
            channel_name=channel_name(r.channel, lang),
            status=status_name(r.status, lang),
            title=access.mask_text(r.title, names=(r.contact_name,)) or "",
            received_at=r.received_at,
        )
        for r in rows
    ]


def phone_digits(phone: str | None) -> str:
    """The number as compared: its digits, the last eleven (a mainland mobile number without +86)."""
    return "".join(ch for ch in phone or "" if ch.isdigit())[-11:]


def person_requests(
    session: Session,
    actor: Actor,
    *,
    phone: str | None = None,
    email: str | None = None,
    user_id: int | None = None,
    exclude_id: int | None = None,
    limit: int = 10,
) -> list[Request]:
    """The requests of one person, newest first, among those the actor may read."""
    digits = phone_digits(phone)
    email = (email or "").strip()
    conditions: list[ColumnElement[bool]] = []
    if user_id is not None:
        conditions.append(Request.submitter_id == user_id)
    if len(digits) >= MIN_DIGITS:
        conditions.append(Request.phone_last4 == digits[-4:])  # indexed; the whole number is compared below
    if email:
        conditions.append(Request.contact_email.in_(sorted({email, email.lower()})))
    if not conditions:
        return []
    query = select(Request).where(or_(*conditions), access.visibility_clause(actor))
    if exclude_id is not None:
        query = query.where(Request.id != exclude_id)
    rows = session.scalars(query.order_by(Request.id.desc()).limit(limit * 5))
    found = [
        r
        for r in rows
        if (user_id is not None and r.submitter_id == user_id)
        or (len(digits) >= MIN_DIGITS and phone_digits(r.contact_phone) == digits)
        or (email and (r.contact_email or "").lower() == email.lower())
    ]
    return found[:limit]


def linked_requests(session: Session, actor: Actor, request: Request, limit: int = 10) -> list[Request]:
    """The same person's other requests, from any channel, for someone who may see this request's contact."""
    if not access.sees_contact(session, actor, request):
        return []
    return person_requests(
        session,
        actor,
        phone=request.contact_phone,
        email=request.contact_email,
        user_id=request.submitter_id,
        exclude_id=request.id,
        limit=limit,
    )


def caller_history(session: Session, actor: Actor, phone: str, limit: int = 10) -> list[Request]:
    """At phone intake: the caller's earlier requests by the number they call from (any channel)."""
    if not actor.has_role(*CALL_TAKERS) or len(phone_digits(phone)) < MIN_DIGITS:
        return []
    return person_requests(session, actor, phone=phone, limit=limit)
