"""Units never ask a resident again for what the platform already holds: a resident chooses which of their verified
details (real name, phone number, e-mail address) the units handling their requests may see, and every viewing is
recorded (`detail_views`): the resident sees who looked, staff see it on the request.

Only details verified at the time of viewing are shown (a name verified by a real-name provider, a phone number or
an e-mail address confirmed by a one-time code), only to the people who see a request's contact details
(`requests.access.sees_contact`: the operator, the lead and co-units' handlers, supervisors), and only for a
request the resident submitted with their account.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from chengzhi.db import utcnow
from chengzhi.identity.models import DetailSharing, DetailView
from chengzhi.open311 import accounts as open311_accounts
from chengzhi.org.models import User
from chengzhi.org.queries import unit_names, user_by_id
from chengzhi.org.service import Actor
from chengzhi.requests import access
from chengzhi.requests import queries as request_queries
from chengzhi.requests.models import Request

FIELDS = ("name", "phone", "email")


@dataclass(frozen=True)
class Shared:
    """What a unit may see of the resident behind a request: the fields shared and verified, with their values
    (None until viewed: `offered` lists the field names only)."""

    resident_id: int | None
    offered: tuple[str, ...]
    values: dict[str, str]
    level: int = 0


@dataclass(frozen=True)
class ViewRow:
    at: dt.datetime
    tracking_number: str
    viewer: str
    unit: str
    fields: tuple[str, ...]


def consent_of(session: Session, user_id: int) -> dict[str, bool]:
    row = session.get(DetailSharing, user_id)
    if row is None:
        return dict.fromkeys(FIELDS, False)
    return {"name": row.share_name, "phone": row.share_phone, "email": row.share_email}


def set_consent(session: Session, user_id: int, choices: dict[str, bool]) -> dict[str, bool]:
    """Record which details the resident shares (missing keys: not shared). Takes effect at once, for every request
    of theirs, handled now or later."""
    row = session.get(DetailSharing, user_id)
    if row is None:
        row = DetailSharing(user_id=user_id)
        session.add(row)
    row.share_name = bool(choices.get("name"))
    row.share_phone = bool(choices.get("phone"))
    row.share_email = bool(choices.get("email"))
    row.updated_at = utcnow()
    session.flush()
    return consent_of(session, user_id)


def forget(session: Session, user_id: int) -> None:
    """The resident deleted their data: their choices go (the access log stays: ids and field names only)."""
    session.execute(delete(DetailSharing).where(DetailSharing.user_id == user_id))


def verified_details(user: User) -> dict[str, str]:
    """The details of `user` that were verified, by field."""
    found: dict[str, str] = {}
    if user.real_name_verified_at is not None and user.display_name:
        found["name"] = user.display_name
    if user.phone_verified_at is not None and user.phone:
        found["phone"] = user.phone
    if user.email_verified_at is not None and user.email:
        found["email"] = user.email
    return found


def may_see(session: Session, actor: Actor, request: Request) -> bool:
    """Staff who must reach the resident (the rule of the request's contact details); not the resident themself."""
    return (
        not actor.is_anonymous
        and actor.is_staff
        and not access.is_submitter(actor, request)
        and access.sees_contact(session, actor, request)
    )


def _resident(session: Session, request: Request) -> User | None:
    """The resident whose request this is: its submitter, or the person its Open311 app account is linked to."""
    owner = request.submitter_id
    if owner is None and request.channel == "open311":
        owner = open311_accounts.owner_of(session, request.id)
    if owner is None:
        return None
    user = user_by_id(session, owner)
    return user if user is not None and user.active else None


def offered(session: Session, request: Request) -> Shared:
    """Which verified details the resident behind `request` shares (names only: nothing is recorded)."""
    user = _resident(session, request)
    if user is None:
        return Shared(resident_id=None, offered=(), values={})
    consent = consent_of(session, user.id)
    verified = verified_details(user)
    fields = tuple(f for f in FIELDS if consent[f] and f in verified)
    level = 2 if user.real_name_verified_at else 1 if verified else 0
    return Shared(resident_id=user.id, offered=fields, values={}, level=level)


def view(session: Session, actor: Actor, request: Request, now: dt.datetime | None = None) -> Shared:
    """The shared verified details, for someone who `may_see` them; the viewing is recorded (flushed) when there
    was anything to show."""
    user = _resident(session, request)
    shared = offered(session, request)
    if user is None or not shared.offered:
        return shared
    verified = verified_details(user)
    values = {f: verified[f] for f in shared.offered}
    session.add(
        DetailView(
            request_id=request.id,
            resident_id=user.id,
            viewer_id=actor.user_id,
            viewer_unit_id=actor.primary_unit_id,
            fields=list(values),
            at=now or utcnow(),
        )
    )
    session.flush()
    return Shared(resident_id=user.id, offered=shared.offered, values=values, level=shared.level)


def _rows(session: Session, views: list[DetailView], lang: str, *, with_viewer: bool) -> list[ViewRow]:
    units = unit_names(session, {v.viewer_unit_id for v in views if v.viewer_unit_id is not None}, lang)
    numbers = request_queries.tracking_numbers(session, list({v.request_id for v in views}))
    rows = []
    for v in views:
        viewer = ""
        if with_viewer and v.viewer_id is not None:
            person = user_by_id(session, v.viewer_id)
            viewer = person.display_name or person.username if person else ""
        rows.append(
            ViewRow(
                at=v.at,
                tracking_number=numbers.get(v.request_id, ""),
                viewer=viewer,
                unit=units.get(v.viewer_unit_id, "") if v.viewer_unit_id is not None else "",
                fields=tuple(v.fields or ()),
            )
        )
    return rows


def views_of_request(session: Session, request_id: int, lang: str, limit: int = 50) -> list[ViewRow]:
    """Who saw the shared details of this request, newest first (for the staff who may see them)."""
    views = list(
        session.scalars(
            select(DetailView)
            .where(DetailView.request_id == request_id)
            .order_by(DetailView.id.desc())
            .limit(limit)
        )
    )
    return _rows(session, views, lang, with_viewer=True)


def views_of_resident(session: Session, user_id: int, lang: str, limit: int = 100) -> list[ViewRow]:
    """Who saw the resident's shared details, newest first: the unit and the time (staff names stay internal)."""
    views = list(
        session.scalars(
            select(DetailView)
            .where(DetailView.resident_id == user_id)
            .order_by(DetailView.id.desc())
            .limit(limit)
        )
    )
    return _rows(session, views, lang, with_viewer=False)


def forget_requests(session: Session, request_ids: list[int]) -> None:
    """Retention: the views of these requests' shared details stay for audit (who saw which fields, when) but no
    longer name the resident (the link between the account and the request is what retention removes)."""
    if request_ids:
        session.execute(
            update(DetailView).where(DetailView.request_id.in_(request_ids)).values(resident_id=None)
        )
