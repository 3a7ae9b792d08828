"""What others may call: publishing notices and replies (masked, with consent), moderation, the published lists
(docs/participation.md)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.categories import service as categories_service
from chengzhi.config import Settings
from chengzhi.errors import Conflict, Forbidden, Invalid, NotFound
from chengzhi.org import queries as org_queries
from chengzhi.org.models import Role
from chengzhi.org.service import Actor, require_role
from chengzhi.publish.models import Publication
from chengzhi.requests import queries as requests_queries
from chengzhi.requests import service as requests_service
from chengzhi.warning import service as warning_service

PUBLISHERS = (Role.handler, Role.dispatcher, Role.supervisor, Role.leader, Role.admin)
MODERATORS = (Role.supervisor, Role.admin)
REPLIED = frozenset({"replied", "reviewed", "closed"})
MAX_TITLE, MAX_BODY = 200, 20_000

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_DIGIT_RUN = re.compile(r"\d{5,}")  # phone numbers, ID numbers, plate numbers


def mask(text: str, names: Iterable[str | None] = ()) -> str:
    """Personal data out of a text for the public: e-mail addresses, runs of five or more digits, and the
    given names (all but their first character)."""
    masked = _EMAIL.sub("***@***", text)
    masked = _DIGIT_RUN.sub(lambda m: "*" * len(m.group()), masked)
    for name in names:
        if name and len(name.strip()) >= 2:
            name = name.strip()
            masked = masked.replace(name, name[0] + "*" * (len(name) - 1))
    return masked


def _initial_state(settings: Settings) -> str:
    return "pending" if settings.publish_moderation else "published"


def _may_publish_for(actor: Actor, unit_path: str) -> None:
    require_role(actor, *PUBLISHERS)
    if not actor.covers(unit_path, *PUBLISHERS):
        raise Forbidden("out_of_scope")


def publish_notice(
    session: Session,
    actor: Actor,
    settings: Settings,
    *,
    unit_id: int,
    title: str,
    body: str,
    category_code: str | None,
    language: str,
    now: dt.datetime,
) -> Publication:
    """A unit's notice (a road closure, a water cut, the outcome of a campaign)."""
    unit = org_queries.unit_by_id(session, unit_id)
    if unit is None:
        raise NotFound("unit_not_found", ref=unit_id)
    _may_publish_for(actor, unit.path)
    category_id = None
    if category_code:
        category = categories_service.find_category(session, category_code)
        if category is None:
            raise NotFound("category_not_found", ref=category_code)
        category_id = category.id
    if not title.strip() or not body.strip():
        raise Invalid(details="title and body")
    state = _initial_state(settings)
    publication = Publication(
        kind="notice",
        unit_id=unit.id,
        unit_path=unit.path,
        category_id=category_id,
        title=title.strip()[:MAX_TITLE],
        body=body.strip()[:MAX_BODY],
        language=language,
        state=state,
        created_by=actor.user_id,
        created_at=now,
        published_at=now if state == "published" else None,
    )
    session.add(publication)
    session.flush()
    return publication


def publish_reply(
    session: Session, actor: Actor, settings: Settings, ref: str, *, consent: bool, now: dt.datetime
) -> Publication:
    """A replied request and its reply, for everyone to read: only with the resident's consent (recorded by the
    person publishing), with names, phone and ID numbers and e-mail addresses masked."""
    request = requests_service.get_request(session, actor, ref)
    if request.status not in REPLIED or not request.reply_text or request.lead_unit_id is None:
        raise Invalid(details="only a replied request's reply can be published")
    if not consent:
        raise Invalid(details="the resident's consent to publish is required")
    unit = org_queries.unit_by_id(session, request.lead_unit_id)
    assert unit is not None
    _may_publish_for(actor, unit.path)
    if session.scalar(select(Publication.id).where(Publication.request_id == request.id)) is not None:
        raise Conflict(details="already published")
    names = [request.contact_name]
    body = mask(request.text, names)
    title = mask(request.title, names) if request.title else body.splitlines()[0][:60]
    state = _initial_state(settings)
    publication = Publication(
        kind="reply",
        unit_id=unit.id,
        unit_path=unit.path,
        category_id=request.category_id,
        request_id=request.id,
        title=title[:MAX_TITLE],
        body=body[:MAX_BODY],
        reply=mask(request.reply_text, names)[:MAX_BODY],
        language=request.language or "zh",
        state=state,
        consent_noted_by=actor.user_id,
        created_by=actor.user_id,
        created_at=now,
        published_at=now if state == "published" else None,
    )
    session.add(publication)
    session.flush()
    return publication


def moderate(
    session: Session, actor: Actor, publication_id: int, *, approve: bool, note: str | None, now: dt.datetime
) -> Publication:
    require_role(actor, *MODERATORS)
    publication = session.get(Publication, publication_id)
    if publication is None:
        raise NotFound()
    if not actor.covers(publication.unit_path, *MODERATORS):
        raise Forbidden("out_of_scope")
    publication.state = "published" if approve else "rejected"
    publication.published_at = now if approve else None
    publication.moderated_by = actor.user_id
    publication.moderation_note = (note or "")[:500] or None
    return publication


HOT_ISSUE_REQUESTS = 5000  # a hot issue's feed looks among its newest requests


@dataclass(frozen=True)
class Filters:
    unit: str | None = None  # a unit's code: its own publications
    category: str | None = None  # a category's code
    area: str | None = None  # a unit's code: everything published in its subtree
    hot_issue: int | None = None  # a hot issue (early warning): the replies to its requests


def published(
    session: Session, filters: Filters, *, limit: int = 50, before: int | None = None
) -> list[Publication]:
    """Published items, newest first; unknown codes find nothing."""
    query = select(Publication).where(Publication.state == "published")
    if filters.unit:
        unit_id = org_queries.unit_id_of_code(session, filters.unit)
        query = query.where(Publication.unit_id == (unit_id or 0))
    if filters.area:
        area_id = org_queries.unit_id_of_code(session, filters.area)
        area = org_queries.unit_by_id(session, area_id) if area_id else None
        query = query.where(Publication.unit_path.startswith(area.path if area else "/nowhere/"))
    if filters.category:
        category = categories_service.find_category(session, filters.category)
        query = query.where(Publication.category_id == (category.id if category else 0))
    if filters.hot_issue is not None:
        members = warning_service.member_request_ids(session, filters.hot_issue, limit=HOT_ISSUE_REQUESTS)
        query = query.where(Publication.request_id.in_(members or [0]))
    if before is not None:
        query = query.where(Publication.id < before)
    return list(session.scalars(query.order_by(Publication.id.desc()).limit(limit)))


def published_one(session: Session, publication_id: int) -> Publication | None:
    found = session.get(Publication, publication_id)
    return found if found is not None and found.state == "published" else None


def pending(session: Session, actor: Actor, limit: int = 100) -> list[Publication]:
    require_role(actor, *MODERATORS)
    paths = actor.paths_for(*MODERATORS)
    rows = session.scalars(
        select(Publication).where(Publication.state == "pending").order_by(Publication.id).limit(limit)
    )
    return [p for p in rows if any(p.unit_path.startswith(path) for path in paths)]


def described(session: Session, items: list[Publication], lang: str) -> list[dict[str, Any]]:
    """Each publication as the API, the pages and the feeds show it: with its unit's and category's names."""
    units = org_queries.units_by_id(session, {p.unit_id for p in items})
    categories = categories_service.categories_by_id(session, {p.category_id for p in items if p.category_id})
    numbers = requests_queries.tracking_numbers(session, [p.request_id for p in items if p.request_id])
    out = []
    for p in items:
        unit = units.get(p.unit_id)
        category = categories.get(p.category_id) if p.category_id else None
        out.append(
            {
                "id": p.id,
                "kind": p.kind,
                "title": p.title,
                "body": p.body,
                "reply": p.reply,
                "unit": {"code": unit.code, "name": unit.name(lang)} if unit else None,
                "category": {"code": category.code, "name": category.name(lang)} if category else None,
                "tracking_number": numbers.get(p.request_id) if p.request_id else None,
                "state": p.state,
                "published_at": p.published_at.isoformat() if p.published_at else None,
                "created_at": p.created_at.isoformat(),
            }
        )
    return out
