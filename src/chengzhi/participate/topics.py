"""Monthly focus topics (每月一题): leaders propose candidates and choose, residents vote once a month, units
report progress and the outcome (docs/participation.md)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.categories import service as categories_service
from chengzhi.errors import Conflict, Invalid, NotAuthenticated, NotFound
from chengzhi.org import queries as org_queries
from chengzhi.org.models import Role
from chengzhi.org.service import Actor, require_role
from chengzhi.participate.models import FocusProgress, FocusTopic, FocusVote

LEADERS = (Role.leader, Role.admin)
REPORTERS = (Role.handler, Role.supervisor, Role.leader, Role.admin)
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def propose(
    session: Session,
    actor: Actor,
    *,
    month: str,
    title: str,
    description: str = "",
    category_code: str | None = None,
    now: dt.datetime,
) -> FocusTopic:
    """A candidate for `month` (the early-warning domain's high-frequency problems are meant to feed these)."""
    require_role(actor, *LEADERS)
    if not MONTH.match(month) or not title.strip():
        raise Invalid(details="month as YYYY-MM and a title")
    category_id = None
    if category_code:
        category = categories_service.find_category(session, category_code)
        if category is None:
            raise NotFound("category_not_found", ref=category_code)
        category_id = category.id
    topic = FocusTopic(
        month=month,
        title=title.strip()[:200],
        description=description.strip(),
        category_id=category_id,
        state="candidate",
        votes=0,
        co_unit_ids=[],
        goal="",
        created_by=actor.user_id,
        created_at=now,
    )
    session.add(topic)
    session.flush()
    return topic


def _topic(session: Session, topic_id: int) -> FocusTopic:
    topic = session.get(FocusTopic, topic_id)
    if topic is None:
        raise NotFound()
    return topic


def vote(session: Session, actor: Actor, topic_id: int, now: dt.datetime) -> FocusTopic:
    """One vote per resident per month, for a candidate. (Identity levels are not in the platform yet: any
    signed-in resident votes; docs/participation.md.)"""
    if actor.user_id is None:
        raise NotAuthenticated()
    require_role(actor, Role.resident)
    topic = _topic(session, topic_id)
    if topic.state != "candidate":
        raise Invalid(details="only a candidate takes votes")
    done = session.scalar(
        select(FocusVote.id).where(FocusVote.month == topic.month, FocusVote.user_id == actor.user_id)
    )
    if done is not None:
        raise Conflict(details="one vote per month")
    session.add(FocusVote(month=topic.month, topic_id=topic.id, user_id=actor.user_id, at=now))
    topic.votes += 1
    return topic


def choose(
    session: Session,
    actor: Actor,
    topic_id: int,
    *,
    lead_unit_id: int,
    co_unit_ids: Sequence[int],
    goal: str,
    deadline: dt.date,
) -> FocusTopic:
    require_role(actor, *LEADERS)
    topic = _topic(session, topic_id)
    units = org_queries.units_by_id(session, {lead_unit_id, *co_unit_ids})
    if lead_unit_id not in units or any(u not in units for u in co_unit_ids):
        raise NotFound("unit_not_found", ref=lead_unit_id)
    topic.state, topic.lead_unit_id = "chosen", lead_unit_id
    topic.co_unit_ids = [u for u in co_unit_ids if u != lead_unit_id]
    topic.goal, topic.deadline = goal.strip(), deadline
    return topic


def report(
    session: Session, actor: Actor, topic_id: int, text: str, now: dt.datetime, *, outcome: bool = False
) -> FocusTopic:
    """A progress report by the lead or a co-unit's staff (or leaders); `outcome` closes the topic with it."""
    require_role(actor, *REPORTERS)
    topic = _topic(session, topic_id)
    if topic.state not in ("chosen", "done") or not text.strip():
        raise Invalid(details="a chosen topic and a text")
    session.add(FocusProgress(topic_id=topic.id, text=text.strip(), by=actor.user_id, at=now))
    if outcome:
        topic.state, topic.outcome = "done", text.strip()
    return topic


def topics(session: Session, month: str | None = None) -> list[FocusTopic]:
    query = select(FocusTopic).order_by(FocusTopic.month.desc(), FocusTopic.votes.desc(), FocusTopic.id)
    if month:
        query = query.where(FocusTopic.month == month)
    return list(session.scalars(query))


def described(session: Session, items: Sequence[FocusTopic], lang: str) -> list[dict[str, Any]]:
    unit_ids = {
        u for t in items for u in ([t.lead_unit_id] if t.lead_unit_id else []) + list(t.co_unit_ids or [])
    }
    names = org_queries.unit_names(session, unit_ids, lang)
    progress: dict[int, list[dict[str, Any]]] = {}
    if items:
        for p in session.scalars(
            select(FocusProgress)
            .where(FocusProgress.topic_id.in_([t.id for t in items]))
            .order_by(FocusProgress.id)
        ):
            progress.setdefault(p.topic_id, []).append({"text": p.text, "at": p.at.isoformat()})
    return [
        {
            "id": t.id,
            "month": t.month,
            "title": t.title,
            "description": t.description,
            "state": t.state,
            "votes": t.votes,
            "lead_unit": names.get(t.lead_unit_id) if t.lead_unit_id else None,
            "co_units": [names.get(u) for u in t.co_unit_ids or []],
            "goal": t.goal,
            "deadline": t.deadline.isoformat() if t.deadline else None,
            "progress": progress.get(t.id, []),
            "outcome": t.outcome,
        }
        for t in items
    ]
