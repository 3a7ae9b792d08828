"""Monthly focus topics (每月一题): leaders propose candidates and choose, residents vote once a month, units
report progress and the outcome; each month a job proposes the city's hottest issues for leaders to accept
(docs/participation.md)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.categories import service as categories_service
from chengzhi.config import Settings
from chengzhi.errors import Conflict, Invalid, NotAuthenticated, NotFound
from chengzhi.i18n import Language
from chengzhi.jobs import service as jobs_service
from chengzhi.org import levels
from chengzhi.org import queries as org_queries
from chengzhi.org.models import Role
from chengzhi.org.service import Actor, city_unit, require_role
from chengzhi.participate.models import FocusProgress, FocusTopic, FocusVote
from chengzhi.requests import queries as requests_queries
from chengzhi.warning import service as warning_service

LEADERS = (Role.leader, Role.admin)
REPORTERS = (Role.handler, Role.supervisor, Role.leader, Role.admin)
VOTERS = (Role.resident,)
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
# Proposed by the monthly job and waiting for a leader (accepted: a candidate), or dismissed: neither is public.
UNDECIDED = ("proposed", "dismissed")
PROPOSE_JOB = "topics_propose"


def propose(
    session: Session,
    actor: Actor,
    *,
    month: str,
    title: str,
    description: str = "",
    category_code: str | None = None,
    hot_issue_id: int | None = None,
    now: dt.datetime,
) -> FocusTopic:
    """A candidate for `month`, written by a leader or taken from the early-warning domain's hot issues
    (`hot_issue_id`: the topic's page then lists that issue's requests)."""
    require_role(actor, *LEADERS)
    if not MONTH.match(month) or not title.strip():
        raise Invalid(details="month as YYYY-MM and a title")
    category_id = None
    if category_code:
        category = categories_service.find_category(session, category_code)
        if category is None:
            raise NotFound("category_not_found", ref=category_code)
        category_id = category.id
    if hot_issue_id is not None and not warning_service.member_request_ids(session, hot_issue_id, limit=1):
        raise NotFound("hot_issue_not_found", ref=hot_issue_id)
    topic = FocusTopic(
        month=month,
        title=title.strip()[:200],
        description=description.strip(),
        category_id=category_id,
        hot_issue_id=hot_issue_id,
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


def require_voter(actor: Actor, settings: Settings) -> None:
    """Residents at the identity level of `vote` (1: a phone number or e-mail address verified) may vote: raises
    for anyone else (callers check this before anything the caller sent)."""
    if actor.user_id is None:
        raise NotAuthenticated()
    require_role(actor, *VOTERS)
    levels.require_level(actor, settings, "vote")


def vote(session: Session, actor: Actor, settings: Settings, topic_id: int, now: dt.datetime) -> FocusTopic:
    """One vote per resident per month, for a candidate (see `require_voter` for who may vote)."""
    require_voter(actor, settings)
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


def voted_for(session: Session, user_id: int | None, month: str) -> int | None:
    """The candidate this person voted for in `month`, if any."""
    if user_id is None:
        return None
    query = select(FocusVote.topic_id).where(FocusVote.month == month, FocusVote.user_id == user_id)
    return session.scalar(query)


def get_topic(session: Session, topic_id: int, *, public: bool = True) -> FocusTopic | None:
    """A topic; for the public (`public`), not one still proposed or dismissed."""
    topic = session.get(FocusTopic, topic_id) if 0 < topic_id < 2**31 else None
    return None if topic is None or (public and topic.state in UNDECIDED) else topic


def next_month(day: dt.date) -> str:
    return f"{day.year + day.month // 12}-{day.month % 12 + 1:02d}"


def propose_from_hot_issues(
    session: Session, settings: Settings, month: str, now: dt.datetime
) -> list[FocusTopic]:
    """The city's `focus_propose_count` hottest issues (the early-warning domain's high-frequency problems of the
    last 90 days, ranked by the heat index) that are no topic yet, proposed for `month`: each waits for a leader
    to accept it (a candidate residents vote on) or dismiss it."""
    taken = set(session.scalars(select(FocusTopic.hot_issue_id).where(FocusTopic.hot_issue_id.is_not(None))))
    count = settings.focus_propose_count
    hot = warning_service.hot_issues(session, settings, city_unit(session), now, limit=count + len(taken))
    made = [
        FocusTopic(
            month=month,
            title=h.name[:200],
            description="",
            hot_issue_id=h.id,
            state="proposed",
            votes=0,
            co_unit_ids=[],
            goal="",
            created_by=None,  # the job
            created_at=now,
        )
        for h in hot
        if h.id not in taken
    ][:count]
    session.add_all(made)
    session.flush()
    return made


def propose_monthly(session: Session, settings: Settings, now: dt.datetime) -> dict[str, Any]:
    """The periodic job (registered in chengzhi/reactions.py): once a month, from the local day
    `focus_propose_day`, proposes next month's candidates from the hot issues (`propose_from_hot_issues`)."""
    today = now.astimezone(ZoneInfo(settings.timezone)).date()
    month = next_month(today)
    last = jobs_service.last_result(session, PROPOSE_JOB) or {}
    if today.day < settings.focus_propose_day or last.get("month") == month:
        return {"month": last.get("month"), "skipped": True}
    made = propose_from_hot_issues(session, settings, month, now)
    return {"month": month, "proposed": [t.id for t in made]}


def decide_proposal(session: Session, actor: Actor, topic_id: int, *, accept: bool) -> FocusTopic:
    """A leader accepts a proposed topic (a candidate residents vote on) or dismisses it (its hot issue is not
    proposed again)."""
    require_role(actor, *LEADERS)
    topic = _topic(session, topic_id)
    if topic.state != "proposed":
        raise Invalid(details="only a proposed topic is accepted or dismissed")
    topic.state = "candidate" if accept else "dismissed"
    return topic


@dataclass(frozen=True)
class Suggestion:
    """A hot issue of the early-warning domain offered to leaders as a candidate (the month's high-frequency
    problems, hottest first)."""

    hot_issue_id: int
    name: str
    place_or_group: str
    messages: int
    people: int
    heat: float


def suggestions(
    session: Session, settings: Settings, actor: Actor, now: dt.datetime, *, limit: int = 10
) -> list[Suggestion]:
    """The hottest issues in the leader's scope that are not a topic yet (warning.service.hot_issues)."""
    require_role(actor, *LEADERS)
    if not actor.has_role(*warning_service.READ_ROLES):
        return []
    unit = warning_service.viewer_unit(session, actor, None)
    taken = set(session.scalars(select(FocusTopic.hot_issue_id).where(FocusTopic.hot_issue_id.is_not(None))))
    hot = warning_service.hot_issues(session, settings, unit, now, limit=limit + len(taken))
    return [
        Suggestion(h.id, h.name, h.place_or_group, h.messages, h.people, round(h.heat, 1))
        for h in hot
        if h.id not in taken
    ][:limit]


def topic_requests(
    session: Session, topic: FocusTopic, lang: Language, *, limit: int = 20
) -> list[requests_queries.PublicIssue]:
    """The requests a topic is about, as anyone may see them: its hot issue's (newest first) or, without one,
    its category's requests of the topic's month."""
    if topic.hot_issue_id is not None:
        ids = warning_service.member_request_ids(session, topic.hot_issue_id, limit=limit)
    elif topic.category_id is not None:
        year, month = (int(part) for part in topic.month.split("-"))
        start = dt.datetime(year, month, 1, tzinfo=dt.UTC)
        end = dt.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=dt.UTC)
        ids = requests_queries.category_request_ids(session, topic.category_id, start, end, limit=limit)
    else:
        return []
    rows = requests_queries.requests_by_ids(session, ids)
    order = {request_id: k for k, request_id in enumerate(ids)}
    return [requests_queries.public_issue(r, lang) for r in sorted(rows, key=lambda r: order[r.id])]


def topics(session: Session, month: str | None = None, *, public: bool = True) -> list[FocusTopic]:
    """A month's topics (or all), most voted first; for the public (`public`) not those proposed or dismissed."""
    query = select(FocusTopic).order_by(FocusTopic.month.desc(), FocusTopic.votes.desc(), FocusTopic.id)
    if month:
        query = query.where(FocusTopic.month == month)
    if public:
        query = query.where(FocusTopic.state.not_in(UNDECIDED))
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
            "hot_issue_id": t.hot_issue_id,
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
