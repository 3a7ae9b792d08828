"""Exclusions from the three rates' denominators: recording one (supervisors and administrators of a unit holding
the request) and listing the requests a scope's "excluded" figure counts, each with its newest exclusion."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from chengzhi.errors import Forbidden, Invalid
from chengzhi.metrics.measures import MEASURES
from chengzhi.metrics.models import MetricExclusion
from chengzhi.metrics.models import RequestFact as F
from chengzhi.metrics.scope import Scope, where
from chengzhi.org import queries as org_queries
from chengzhi.org.models import Role
from chengzhi.org.service import Actor
from chengzhi.requests import access as requests_access
from chengzhi.requests import queries as requests_queries
from chengzhi.requests import service as requests_service
from chengzhi.security.masking import mask_text

EXCLUSION_CHOICES = ("refused_to_rate", "unreasonable", "none")
EXCLUDING_ROLES = (Role.supervisor, Role.admin)
NOTE_MAX = 2000


def may_exclude(actor: Actor) -> bool:
    return actor.has_role(*EXCLUDING_ROLES)


def record_exclusion(session: Session, actor: Actor, ref: str, reason: str, note: str) -> MetricExclusion:
    """Take a request out of the rates' denominators (or put it back: reason "none"), for supervisors and
    administrators of a unit holding it. Flushed, not committed; returns the new MetricExclusion."""
    if reason not in EXCLUSION_CHOICES:
        raise Invalid("validation_failed", details=f"reason: one of {', '.join(EXCLUSION_CHOICES)}")
    request = requests_service.get_request(session, actor, ref.strip()[:20])
    paths = requests_access.unit_paths_of(session, request)
    if not any(actor.covers(p, *EXCLUDING_ROLES) for p in paths):
        raise Forbidden("forbidden_role", roles="supervisor, admin")
    if not note.strip():
        raise Invalid("reason_required")
    row = MetricExclusion(
        request_id=request.id, reason=reason, note=note.strip()[:NOTE_MAX], actor_id=actor.user_id
    )
    session.add(row)
    session.flush()
    return row


@dataclass
class ExclusionRow:
    request_id: int
    tracking_number: str
    title: str
    reason: str
    note: str
    by: str | None
    at: dt.datetime


def exclusions(session: Session, scope: Scope, limit: int = 200) -> list[ExclusionRow]:
    """The requests the scope's "excluded" figure counts, each with its newest exclusion (reason, note, who,
    when), the most recently excluded first."""
    X = MetricExclusion
    newest = select(X.request_id, func.max(X.id).label("id")).group_by(X.request_id).subquery()
    query = (
        select(F.request_id, X.reason, X.note, X.actor_id, X.at)
        .select_from(F)
        .join(newest, newest.c.request_id == F.request_id)
        .join(X, X.id == newest.c.id)
        .where(*where(scope), MEASURES["excluded"])
        .order_by(X.id.desc())
        .limit(limit)
    )
    found = session.execute(query).all()
    requests = {r.id: r for r in requests_queries.summaries(session, [row.request_id for row in found])}
    names = org_queries.display_names(session, {row.actor_id for row in found if row.actor_id is not None})
    return [
        ExclusionRow(
            request_id,
            requests[request_id].tracking_number,
            mask_text(requests[request_id].title) or "",
            reason,
            note,
            names.get(actor_id) if actor_id is not None else None,
            at,
        )
        for request_id, reason, note, actor_id, at in found
        if request_id in requests
    ]


def forget_requests(session: Session, contact_names: dict[int, str | None]) -> None:
    """Retention (request id -> the resident's contact name): the staff's notes on these requests' exclusions are
    masked as on public pages (a note may name the resident or quote their number); reasons and times stay."""
    rows = session.execute(
        select(MetricExclusion.id, MetricExclusion.request_id, MetricExclusion.note).where(
            MetricExclusion.request_id.in_(list(contact_names))
        )
    ).all()
    for row_id, request_id, note in rows:
        masked = mask_text(note, public=True, names=[contact_names.get(request_id)]) or ""
        if masked != note:
            session.execute(update(MetricExclusion).where(MetricExclusion.id == row_id).values(note=masked))
