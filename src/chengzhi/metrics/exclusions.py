"""Exclusions from the three rates' denominators: recording one (supervisors and administrators of a unit holding
the request) and listing the requests a scope's "excluded" figure counts, each with its newest exclusion."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chengzhi.errors import Forbidden, Invalid
from chengzhi.metrics.measures import MEASURES
from chengzhi.metrics.models import RequestFact as F
from chengzhi.metrics.scope import Scope, where
from chengzhi.org.models import Role
from chengzhi.org.service import Actor
from chengzhi.requests.models import Request

EXCLUSION_CHOICES = ("refused_to_rate", "unreasonable", "none")
EXCLUDING_ROLES = (Role.supervisor, Role.admin)
NOTE_MAX = 2000


def may_exclude(actor: Actor) -> bool:
    return actor.has_role(*EXCLUDING_ROLES)


def record_exclusion(session: Session, actor: Actor, ref: str, reason: str, note: str) -> Any:
    """Take a request out of the rates' denominators (or put it back: reason "none"), for supervisors and
    administrators of a unit holding it. Flushed, not committed; returns the new MetricExclusion."""
    from chengzhi.metrics.models import MetricExclusion
    from chengzhi.requests import access as requests_access
    from chengzhi.requests import service as requests_service

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
    from chengzhi.metrics.models import MetricExclusion as X
    from chengzhi.org.models import User

    newest = select(X.request_id, func.max(X.id).label("id")).group_by(X.request_id).subquery()
    query = (
        select(
            Request.id,
            Request.tracking_number,
            Request.title,
            X.reason,
            X.note,
            User.display_name,
            X.at,
        )
        .select_from(F)
        .join(Request, Request.id == F.request_id)
        .join(newest, newest.c.request_id == F.request_id)
        .join(X, X.id == newest.c.id)
        .outerjoin(User, User.id == X.actor_id)
        .where(*where(scope), MEASURES["excluded"])
        .order_by(X.id.desc())
        .limit(limit)
    )
    return [ExclusionRow(*row) for row in session.execute(query)]
