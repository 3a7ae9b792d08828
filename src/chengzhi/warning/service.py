"""Hot issues for the staff: the ranked list and one issue as the viewer's scope sees them, and the decisions
(rename, merge, split) that the nightly recomputation keeps.

Scope: a viewer sees the requests placed in units of their subtree (the unit that held each request when it was
placed); an issue's heat is computed from those requests only, so a district leader ranks their district's issues.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, func, select, true, update
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.db import path_prefix, utcnow
from chengzhi.errors import Forbidden, Invalid, NotFound
from chengzhi.org import queries as org_queries
from chengzhi.org.models import Role, Unit
from chengzhi.org.service import Actor, require_role
from chengzhi.requests import queries as requests_queries
from chengzhi.warning import hot, ranking, words
from chengzhi.warning.contributions import contributions as contribution_rows
from chengzhi.warning.live import WINDOW_DAYS, refresh_counts
from chengzhi.warning.models import HotIssue, HotIssueDecision, HotIssueMember, OutsidePost
from chengzhi.warning.settings import heat_weights

# Who reads hot issues (leaders and analysts first; supervisors and administrators as for the dashboards) and who
# may rename, merge and split them (and, for dispatchers, merge requests from them).
READ_ROLES = (Role.leader, Role.analyst, Role.supervisor, Role.admin, Role.dispatcher)
DECIDE_ROLES = (Role.leader, Role.analyst, Role.admin, Role.dispatcher)
TREND_WEEKS = 12


@dataclass
class HotIssueView:
    id: int
    rank: int
    name: str
    place_or_group: str
    top_words: list[str]
    heat: float
    contributions: dict[str, float]
    terms: dict[str, float]
    messages: int
    people: int
    supports: int
    first_at: dt.datetime | None
    last_at: dt.datetime | None
    trend: list[int] = field(
        default_factory=list
    )  # requests per week, oldest first, the last TREND_WEEKS weeks
    name_locked: bool = False
    outside: int = 0  # of `messages`: outside posts (channel `feed`), not requests

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rank": self.rank,
            "name": self.name,
            "name_locked": self.name_locked,
            "place_or_group": self.place_or_group,
            "top_words": self.top_words,
            "heat": self.heat,
            "heat_terms": {k: round(v, 2) for k, v in self.contributions.items()},
            "messages": self.messages,
            "outside_posts": self.outside,
            "people": self.people,
            "supports": self.supports,
            "first_at": self.first_at.isoformat() if self.first_at else None,
            "last_at": self.last_at.isoformat() if self.last_at else None,
            "trend": self.trend,
        }


def viewer_unit(session: Session, actor: Actor, unit_id: int | None) -> Unit:
    """The unit whose subtree the viewer looks at: the one asked for if the viewer covers it, else their own."""
    require_role(actor, *READ_ROLES)
    if unit_id is None:
        own = actor.units_for(*READ_ROLES)
        unit = org_queries.unit_by_id(session, own[0]) if own else None
    else:
        unit = org_queries.unit_by_id(session, unit_id)
        if unit is None:
            raise NotFound("unit_not_found", ref=unit_id)
    if unit is None or not actor.covers(unit.path, *READ_ROLES):
        raise Forbidden()
    return unit


def _in_scope(unit: Unit, column: Any = None) -> ColumnElement[bool]:
    if unit.path.count("/") == 2:  # a city: everything, including requests of no unit's subtree yet
        return true()
    return path_prefix(HotIssueMember.unit_path if column is None else column, unit.path)


def issue_scope(unit: Unit) -> ColumnElement[bool]:
    """The hot-issue members (requests) the unit's subtree sees."""
    return _in_scope(unit)


def hot_issues(
    session: Session,
    settings: Settings,
    unit: Unit,
    now: dt.datetime,
    *,
    limit: int = 20,
    weights: hot.HeatWeights | None = None,
) -> list[HotIssueView]:
    """The hottest issues of the unit's subtree (requests of the last WINDOW_DAYS), with their heat terms."""
    since = now - dt.timedelta(days=WINDOW_DAYS)
    found = ranking.tallies(
        session, lambda column: _in_scope(unit, column), since, now, settings.warning_min_people
    )
    if not len(found):
        return []
    scores = ranking.score(ranking.raw_terms(found, now), weights or heat_weights(settings))
    order = ranking.order(found, scores, limit)
    chosen = [int(found.ids[k]) for k in order]
    issues = {i.id: i for i in session.scalars(select(HotIssue).where(HotIssue.id.in_(chosen)))}
    trends = _trends(session, unit, chosen, now)
    views = []
    for rank, k in enumerate(order, start=1):
        issue_id = chosen[rank - 1]
        issue, tally = issues[issue_id], found.tally(k)
        views.append(
            HotIssueView(
                id=issue_id,
                rank=rank,
                name=issue.name,
                place_or_group=issue.place_or_group,
                top_words=list(issue.top_words or []),
                heat=float(scores.heat[k]),
                contributions={name: float(scores.contributions[name][k]) for name in hot.HEAT_TERMS},
                terms={name: float(scores.terms[name][k]) for name in hot.HEAT_TERMS},
                messages=tally.messages,
                people=tally.people,
                supports=tally.likes,
                first_at=tally.first,
                last_at=tally.last,
                trend=trends.get(issue_id, [0] * TREND_WEEKS),
                name_locked=issue.name_locked,
                outside=int(found.outside[k]),
            )
        )
    return views


def _trends(session: Session, unit: Unit, issue_ids: list[int], now: dt.datetime) -> dict[int, list[int]]:
    since = now - dt.timedelta(weeks=TREND_WEEKS)
    found: dict[int, list[int]] = defaultdict(lambda: [0] * TREND_WEEKS)
    if not issue_ids:
        return {}
    C = contribution_rows(since)
    rows = session.execute(
        select(C.c.issue_id, C.c.received_at).where(
            C.c.issue_id.in_(issue_ids), _in_scope(unit, C.c.unit_path)
        )
    )
    for issue_id, received in rows:
        if received.tzinfo is None:
            received = received.replace(tzinfo=dt.UTC)
        week = TREND_WEEKS - 1 - int((now - received).days // 7)
        if 0 <= week < TREND_WEEKS:
            found[issue_id][week] += 1
    return dict(found)


@dataclass
class MemberView:
    request_id: int
    tracking_number: str
    title: str
    received_at: dt.datetime
    similarity: float
    pinned: bool


def issue_members(session: Session, unit: Unit, issue_id: int, *, limit: int = 500) -> list[MemberView]:
    """The requests of an issue in the unit's subtree, newest first (the drill-down)."""
    get_issue(session, unit, issue_id)
    rows = session.scalars(
        select(HotIssueMember)
        .where(HotIssueMember.issue_id == issue_id, _in_scope(unit))
        .order_by(HotIssueMember.received_at.desc(), HotIssueMember.request_id.desc())
        .limit(limit)
    ).all()
    numbers = requests_queries.tracking_numbers(session, [m.request_id for m in rows])
    return [
        MemberView(
            m.request_id, numbers.get(m.request_id, ""), m.title, m.received_at, m.similarity, m.pinned
        )
        for m in rows
    ]


@dataclass
class PostView:
    """An outside post in a hot issue (channel `feed`): shown beside the requests, never handled."""

    id: int
    source: str
    title: str
    url: str | None
    received_at: dt.datetime
    likes: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "channel": "feed",
            "source": self.source,
            "title": self.title,
            "url": self.url,
            "received_at": self.received_at.isoformat(),
            "likes": self.likes,
        }


def issue_posts(session: Session, unit: Unit, issue_id: int, *, limit: int = 200) -> list[PostView]:
    """The outside posts of an issue in the unit's scope, newest first."""
    get_issue(session, unit, issue_id)
    P = OutsidePost
    rows = session.execute(
        select(P.id, P.source, P.title, P.url, P.received_at, P.likes)
        .where(P.issue_id == issue_id, _in_scope(unit, P.unit_path))
        .order_by(P.received_at.desc(), P.id.desc())
        .limit(limit)
    ).all()
    return [PostView(*row) for row in rows]


def get_issue(session: Session, unit: Unit, issue_id: int) -> HotIssue:
    """The issue if it holds a request in the unit's subtree; else not found (an issue outside is not shown)."""
    issue = session.get(HotIssue, issue_id)
    visible = session.scalar(
        select(HotIssueMember.request_id).where(HotIssueMember.issue_id == issue_id, _in_scope(unit)).limit(1)
    ) or session.scalar(
        select(OutsidePost.id)
        .where(OutsidePost.issue_id == issue_id, _in_scope(unit, OutsidePost.unit_path))
        .limit(1)
    )
    if issue is None or visible is None:
        raise NotFound("hot_issue_not_found", ref=issue_id)
    return issue


# ---------------------------------------------------------------- staff decisions


def _decide(session: Session, actor: Actor, kind: str, issue_id: int, **detail: Any) -> None:
    session.add(
        HotIssueDecision(kind=kind, issue_id=issue_id, detail=detail, user_id=actor.user_id, at=utcnow())
    )


def rename_issue(session: Session, actor: Actor, unit: Unit, issue_id: int, name: str) -> HotIssue:
    """Gives the issue a name of a person's choosing: recomputations no longer rename it."""
    require_role(actor, *DECIDE_ROLES)
    issue = get_issue(session, unit, issue_id)
    name = " ".join(name.split())[:200]
    if not name:
        raise Invalid("hot_issue_name_empty")
    _decide(session, actor, "rename", issue.id, old=issue.name, new=name)
    issue.name, issue.name_locked, issue.updated_at = name, True, utcnow()
    return issue


def merge_issues(session: Session, actor: Actor, unit: Unit, source_id: int, target_id: int) -> HotIssue:
    """Moves every request of `source` into `target` for good (pinned) and closes `source`."""
    require_role(actor, *DECIDE_ROLES)
    if source_id == target_id:
        raise Invalid("hot_issue_merge_itself")
    source = get_issue(session, unit, source_id)
    target = get_issue(session, unit, target_id)
    result = session.execute(
        update(HotIssueMember)
        .where(HotIssueMember.issue_id == source.id)
        .values(issue_id=target.id, pinned=True)
        .execution_options(synchronize_session=False)
    )
    moved = int(getattr(result, "rowcount", 0) or 0)
    session.execute(
        update(OutsidePost)
        .where(OutsidePost.issue_id == source.id)
        .values(issue_id=target.id)
        .execution_options(synchronize_session=False)
    )
    # Requests already in the target stay there for good too.
    session.execute(
        update(HotIssueMember)
        .where(HotIssueMember.issue_id == target.id)
        .values(pinned=True)
        .execution_options(synchronize_session=False)
    )
    mixed = dict(target.signature or {})
    for term, weight in (source.signature or {}).items():
        mixed[term] = mixed.get(term, 0.0) + weight
    target.signature = dict(sorted(mixed.items(), key=lambda item: -item[1])[:80])
    target.place_keys = sorted(set(target.place_keys or []) | set(source.place_keys or []))
    source.merged_into_id = target.id
    _decide(session, actor, "merge", target.id, source=source.id, moved=moved)
    session.flush()
    refresh_counts(session, utcnow(), [target.id])
    session.refresh(target)
    return target


def split_issue(
    session: Session, actor: Actor, unit: Unit, issue_id: int, request_ids: list[int], name: str | None = None
) -> HotIssue:
    """Moves the given requests of an issue into a new issue of their own, for good (pinned)."""
    require_role(actor, *DECIDE_ROLES)
    issue = get_issue(session, unit, issue_id)
    wanted = sorted(set(request_ids))
    inside = set(
        session.scalars(
            select(HotIssueMember.request_id).where(
                HotIssueMember.issue_id == issue.id, HotIssueMember.request_id.in_(wanted), _in_scope(unit)
            )
        )
    )
    total = session.scalar(select(func.count()).where(HotIssueMember.issue_id == issue.id)) or 0
    if not wanted or inside != set(wanted) or len(inside) >= total:
        raise Invalid("hot_issue_split_invalid")
    now = utcnow()
    titles = session.scalars(
        select(HotIssueMember.title)
        .where(HotIssueMember.request_id.in_(wanted))
        .order_by(HotIssueMember.received_at)
    ).all()
    new = HotIssue(
        name=(name or (titles[0] if titles else issue.name))[:200],
        name_locked=bool(name),
        place_or_group=issue.place_or_group,
        top_words=list(issue.top_words or []),
        signature=dict(issue.signature or {}),
        place_keys=list(issue.place_keys or []),
        created_at=now,
        updated_at=now,
    )
    session.add(new)
    session.flush()
    session.execute(
        update(HotIssueMember)
        .where(HotIssueMember.request_id.in_(wanted))
        .values(issue_id=new.id, pinned=True)
        .execution_options(synchronize_session=False)
    )
    _decide(session, actor, "split", issue.id, new_issue=new.id, requests=wanted)
    session.flush()
    refresh_counts(session, now, [issue.id, new.id])
    session.refresh(new)
    return new


def sensitive_words_in(session: Session, text: str) -> list[str]:
    """The words of the sensitive-word list (administrators edit it at `/dashboard/hot/words`) that `text`
    contains, case and spaces ignored. Other domains check text through this: the participation domain holds a
    comment holding one for a moderator. A change of the list reaches other processes within a minute."""
    return words.words_in(session, text)


def member_request_ids(session: Session, issue_id: int, *, limit: int = 20) -> list[int]:
    """The requests of a hot issue, newest first, whatever the scope (for a public page that shows them masked:
    participate's focus topics)."""
    query = (
        select(HotIssueMember.request_id)
        .where(HotIssueMember.issue_id == issue_id)
        .order_by(HotIssueMember.received_at.desc(), HotIssueMember.request_id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def issue_of_request(session: Session, request_id: int) -> int | None:
    """The hot issue a request is in, if any (for the request's page)."""
    return session.scalar(select(HotIssueMember.issue_id).where(HotIssueMember.request_id == request_id))


# ---------------------------------------------------------------- repeats


@dataclass
class Repeat:
    """The same problem (one hot issue) raised `count` times from one place (an area unit) or by one person."""

    issue_id: int
    issue_name: str
    by: str  # "place" or "person"
    unit_id: int | None  # the place (for "place"); None for a person, who is not named here
    count: int
    first_at: dt.datetime
    last_at: dt.datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "issue_id": self.issue_id,
            "issue_name": self.issue_name,
            "by": self.by,
            "unit_id": self.unit_id,
            "count": self.count,
            "first_at": self.first_at.isoformat(),
            "last_at": self.last_at.isoformat(),
        }


def repeats(
    session: Session, unit: Unit, now: dt.datetime, *, at_least: int = 3, limit: int = 100
) -> list[Repeat]:
    """Problems raised `at_least` times (Chengdu Xindu's rule: three) in the last WINDOW_DAYS from the same place
    (community or the finest area known) or by the same person, in the unit's subtree, most repeated first."""
    since = now - dt.timedelta(days=WINDOW_DAYS)
    M = HotIssueMember
    found: list[Repeat] = []
    for by, column in (("place", M.area_unit_id), ("person", M.person)):
        query = (
            select(M.issue_id, column, func.count(), func.min(M.received_at), func.max(M.received_at))
            .join(HotIssue, HotIssue.id == M.issue_id)
            .where(_in_scope(unit), M.received_at >= since, HotIssue.merged_into_id.is_(None))
            .group_by(M.issue_id, column)
            .having(func.count() >= at_least)
        )
        for issue_id, key, count, first, last in session.execute(query):
            if by == "place" and key is None:
                continue
            place = int(key) if by == "place" and key is not None else None
            found.append(Repeat(issue_id, "", by, place, count, first, last))
    found.sort(key=lambda r: (-r.count, r.issue_id, r.by))
    found = found[:limit]
    names = dict(
        session.execute(
            select(HotIssue.id, HotIssue.name).where(HotIssue.id.in_({r.issue_id for r in found}))
        ).all()
    )
    for repeat in found:
        repeat.issue_name = names.get(repeat.issue_id, "")
    return found


def forget_requests(session: Session, titles: Mapping[int, str]) -> int:
    """Retention: hot-issue members of anonymised requests take the request's masked title and stop naming who
    wrote it (an account or a phone digest becomes the request itself, as for a request without either)."""
    done = 0
    for request_id, title in titles.items():
        changed = session.execute(
            update(HotIssueMember)
            .where(HotIssueMember.request_id == request_id)
            .values(title=title[:200], person=f"r{request_id}")
        )
        done += int(changed.rowcount or 0)  # type: ignore[attr-defined]
    return done
