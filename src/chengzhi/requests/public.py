"""A request as anyone may see it (the public lists, an issue's own page): no contact details, personal data in
the title masked; and the visitor's "me too" key. Other domains reach these through `requests.service`."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy.orm import Session
from starlette.requests import Request as HttpRequest

from chengzhi.config import Settings
from chengzhi.i18n import N_, Language, gettext
from chengzhi.org.models import Unit
from chengzhi.org.service import Actor
from chengzhi.requests import access, support
from chengzhi.requests.models import Request
from chengzhi.requests.workflow import status_name


@dataclass(frozen=True)
class PublicIssue:
    """A request as anyone may see it: no contact details; personal data in the title masked (`public_title`)."""

    id: int
    title: str
    category: str
    status: str
    status_code: str
    place: str
    received_at: dt.datetime
    supports: int = 0
    supported: bool = False  # this visitor said "me too"
    can_support: bool = True
    error: str | None = None


def public_title(request: Request) -> str:
    """The title as anyone may read it: phone, ID-card numbers, e-mail addresses, names and long numbers masked."""
    return access.mask_text(request.title, public=True, names=(request.contact_name,)) or ""


def public_issue(request: Request, lang: Language, supported: set[int] | None = None) -> PublicIssue:
    unit: Unit | None = request.lead_unit or request.receiving_unit
    return PublicIssue(
        id=request.id,
        supports=request.support_count or 0,
        supported=request.id in (supported or set()),
        can_support=request.status in support.SUPPORTABLE,
        title=public_title(request),
        category=request.category.name(lang) if request.category else gettext(lang, N_("Not yet classified")),
        status=status_name(request.status, lang),
        status_code=request.status,
        place=unit.name(lang) if unit else "",
        received_at=request.received_at,
    )


def supporter_of(
    request: HttpRequest, settings: Settings, actor: Actor, *, create: bool = False
) -> str | None:
    """The visitor's supporter key: their account, or a random id in their session (made on first support)."""
    if not actor.is_anonymous:
        identity = f"user:{actor.user_id}"
    else:
        token = request.session.get("supporter")
        if not token:
            if not create:
                return None
            token = secrets.token_urlsafe(18)
            request.session["supporter"] = token
        identity = f"session:{token}"
    return support.supporter_key(settings.secret_key, identity)


def public_card(
    session: Session, request: HttpRequest, settings: Settings, actor: Actor, request_id: int, lang: Language
) -> PublicIssue | None:
    """One request's public card for this visitor (whether they said "me too"), or None if there is none."""
    row = session.get(Request, request_id) if 0 < request_id < 2**31 else None
    if row is None:
        return None
    mine = support.supported_among(session, supporter_of(request, settings, actor), [row.id])
    return public_issue(row, lang, mine)
