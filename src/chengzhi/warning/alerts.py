"""Alerts: early warnings for the leaders and analysts of the unit a problem belongs to.

Four rules raise them:
- `hot`: a hot issue that `warning_alert_people` different people raised in the last WINDOW_DAYS, the last of
  them in the last FRESH days;
- `burst`: a category × street (or × city, where no street is known) whose count today or yesterday is beyond what
  the same weekday's history predicts (`bursts.bursts_on`, fed from the live hot-issue memberships);
- `repeat`: the same problem (one hot issue) raised `warning_alert_repeats` times from one place or by one person
  (Chengdu Xindu's rule), the last of them in the last FRESH days;
- `word`: a new request containing a word of the sensitive-word list (administrators edit it), checked by the
  triage worker's step `sensitive-words`.

An alert is raised once per cause (`Alert.cause` is unique: the same hot issue, burst day, repeat or request never
raises a second one). It is shown in `/dashboard/hot/alerts` to the leaders and analysts whose units cover it,
delivered to them in-app and by e-mail (notify) and to webhook subscribers (`alert.raised`), and acknowledged there.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, case, func, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chengzhi.categories import service as categories_service
from chengzhi.config import Settings
from chengzhi.db import path_prefix
from chengzhi.errors import Invalid, NotFound
from chengzhi.notify import service as notify
from chengzhi.org import queries as org_queries
from chengzhi.org.models import Role, Unit
from chengzhi.org.service import Actor, city_unit, require_role
from chengzhi.requests import queries as requests_queries
from chengzhi.warning import bursts
from chengzhi.warning.contributions import contributions
from chengzhi.warning.live import WINDOW_DAYS
from chengzhi.warning.models import Alert, HotIssue, HotIssueMember, SensitiveWord
from chengzhi.warning.words import listed, normalised
from chengzhi.warning.words import reset_cache as reset_cache  # the caches module and the demo empty it here
from chengzhi.webhooks import service as webhooks

if TYPE_CHECKING:
    from chengzhi.requests.models import Request

KINDS = ("hot", "burst", "repeat", "word")
TELL_ROLES = (Role.leader, Role.analyst)  # who is told (in-app, e-mail)
ACK_ROLES = (Role.leader, Role.analyst, Role.admin)
WORD_RECENT = dt.timedelta(days=2)  # older requests (an imported history) raise no sensitive-word alert
# A hot issue or a repeat is told when it happens: the issue crossed its threshold (its `warning_alert_people`-th
# person, its `warning_alert_repeats`-th request from a place or person) in the last FRESH days. The job runs every
# few minutes, so nothing live is missed; an imported or generated history (the demo's year) does not flood the
# leaders with old repeats, which stay listed in the repeats (`GET /api/v1/warning/repeats`).
FRESH = dt.timedelta(days=7)


def common_path(paths: Sequence[str]) -> str:
    """The deepest unit path every one of `paths` lies under ("/1/4/17/", "/1/4/20/" → "/1/4/")."""
    if not paths:
        return ""
    parts = [p.strip("/").split("/") for p in paths]
    shared: list[str] = []
    for column in zip(*parts, strict=False):
        if len(set(column)) != 1:
            break
        shared.append(column[0])
    return "/" + "/".join(shared) + "/" if shared else ""


def _unit_of(path: str) -> int | None:
    last = path.strip("/").split("/")[-1] if path.strip("/") else ""
    return int(last) if last.isdigit() else None


def raise_alert(
    session: Session,
    settings: Settings,
    now: dt.datetime,
    *,
    kind: str,
    cause: str,
    unit_path: str,
    title: str,
    count: int,
    detail: dict[str, Any],
    issue_id: int | None = None,
    request_id: int | None = None,
) -> Alert | None:
    """Writes the alert and its deliveries, unless one was raised for the same cause (then None)."""
    if session.scalar(select(Alert.id).where(Alert.cause == cause)) is not None:
        return None
    unit_path = unit_path or _root_path(session)
    alert = Alert(
        kind=kind,
        cause=cause[:200],
        unit_id=_unit_of(unit_path),
        unit_path=unit_path,
        title=title[:300],
        detail={**detail, "count": count},
        issue_id=issue_id,
        request_id=request_id,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(alert)
    except IntegrityError:  # another worker raised it in between
        return None
    _deliver(session, alert, count, now)
    return alert


def _root_path(session: Session) -> str:
    return city_unit(session).path


def _deliver(session: Session, alert: Alert, count: int, now: dt.datetime) -> None:
    ancestors = [int(p) for p in alert.unit_path.strip("/").split("/") if p.isdigit()]
    staff = org_queries.unit_staff(session, ancestors, [r.value for r in TELL_ROLES])
    users = {u.id: u for members in staff.values() for u in members}
    unit = org_queries.unit_by_id(session, alert.unit_id) if alert.unit_id else None
    params = {
        "title": alert.title,
        "count": count,
        "unit_zh": unit.name_zh if unit else "",
        "unit_en": unit.name_en if unit else "",
    }
    notify.notify_alert(session, list(users.values()), alert.id, params, now)
    webhooks.emit(session, "alert.raised", f"alert-{alert.id}", alert_out(alert), now)


def alert_out(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "kind": alert.kind,
        "title": alert.title,
        "unit_id": alert.unit_id,
        "detail": alert.detail,
        "issue_id": alert.issue_id,
        "created_at": alert.created_at.isoformat(),
        "acknowledged_at": alert.acknowledged_at.isoformat() if alert.acknowledged_at else None,
    }


# ---------------------------------------------------------------- the rules, run by the periodic job


def _hot_rule(session: Session, settings: Settings, now: dt.datetime) -> int:
    since = now - dt.timedelta(days=WINDOW_DAYS)
    C = contributions(since)  # requests and outside posts
    fresh = now - FRESH
    before = case((C.c.received_at < fresh, C.c.person), else_=None)
    rows = session.execute(
        select(C.c.issue_id, func.count(func.distinct(C.c.person)), func.count())
        .join(HotIssue, HotIssue.id == C.c.issue_id)
        .where(HotIssue.merged_into_id.is_(None))
        .group_by(C.c.issue_id)
        .having(
            func.count(func.distinct(C.c.person)) >= settings.warning_alert_people,
            func.count(func.distinct(before))
            < settings.warning_alert_people,  # crossed in the last FRESH days
        )
    ).all()
    raised = 0
    for issue_id, people, messages in rows:
        if session.scalar(select(Alert.id).where(Alert.cause == f"hot:{issue_id}")) is not None:
            continue
        paths = list(session.scalars(select(C.c.unit_path).where(C.c.issue_id == issue_id).distinct()))
        issue = session.get(HotIssue, issue_id)
        raised += bool(
            raise_alert(
                session,
                settings,
                now,
                kind="hot",
                cause=f"hot:{issue_id}",
                unit_path=common_path(paths),
                title=issue.name if issue else str(issue_id),
                count=messages,
                detail={"people": people, "messages": messages},
                issue_id=issue_id,
            )
        )
    return raised


def _repeat_rule(session: Session, settings: Settings, now: dt.datetime) -> int:
    since = now - dt.timedelta(days=WINDOW_DAYS)
    M = HotIssueMember
    raised = 0
    for by, column in (("place", M.area_unit_id), ("person", M.person)):
        rows = session.execute(
            select(M.issue_id, column, func.count(), func.min(M.unit_path), func.max(M.unit_path))
            .join(HotIssue, HotIssue.id == M.issue_id)
            .where(M.received_at >= since, HotIssue.merged_into_id.is_(None), column.is_not(None))
            .group_by(M.issue_id, column)
            .having(
                func.count() >= settings.warning_alert_repeats,
                # The request that made it a repeat came in the last FRESH days.
                func.sum(case((M.received_at < now - FRESH, 1), else_=0)) < settings.warning_alert_repeats,
            )
        ).all()
        for issue_id, key, count, low, high in rows:
            # A person is not named, not even in the cause: a digest of their key.
            who = hashlib.sha256(str(key).encode()).hexdigest()[:16] if by == "person" else str(key)
            cause = f"repeat:{issue_id}:{by}:{who}"
            if session.scalar(select(Alert.id).where(Alert.cause == cause)) is not None:
                continue
            issue = session.get(HotIssue, issue_id)
            raised += bool(
                raise_alert(
                    session,
                    settings,
                    now,
                    kind="repeat",
                    cause=cause,
                    unit_path=common_path([low, high]),
                    title=issue.name if issue else str(issue_id),
                    count=count,
                    detail={"by": by, "times": count},
                    issue_id=issue_id,
                )
            )
    return raised


@dataclass(frozen=True)
class AreaKey:
    category_id: int | None
    area_path: str  # a street's path, or "" (the whole city)


def daily_counts(
    session: Session, settings: Settings, since: dt.datetime
) -> dict[AreaKey, dict[dt.date, int]]:
    """Requests per category × street × local day since `since`, from the hot-issue memberships (each placed
    request has one, with the area its map point lies in)."""
    zone = ZoneInfo(settings.timezone)
    M = HotIssueMember
    rows = session.execute(
        select(M.request_id, M.received_at, M.area_unit_id, M.unit_path).where(M.received_at >= since)
    ).all()
    areas = org_queries.unit_ids_with_area(session)
    categories: dict[int, int | None] = {}
    ids = [r.request_id for r in rows]
    for start in range(0, len(ids), 1000):
        categories.update(requests_queries.category_ids_of(session, ids[start : start + 1000]))
    counts: dict[AreaKey, dict[dt.date, int]] = defaultdict(lambda: defaultdict(int))
    for request_id, received, area_unit_id, unit_path in rows:
        if received.tzinfo is None:
            received = received.replace(tzinfo=dt.UTC)
        parts = unit_path.strip("/").split("/")
        # "/city/district/street/...": the street when the request lies in a mapped area.
        street = "/" + "/".join(parts[:3]) + "/" if area_unit_id in areas and len(parts) >= 3 else ""
        key = AreaKey(categories.get(request_id), street)
        counts[key][received.astimezone(zone).date()] += 1
    return counts


def _burst_rule(session: Session, settings: Settings, now: dt.datetime) -> int:
    zone = ZoneInfo(settings.timezone)
    today = now.astimezone(zone).date()
    since = dt.datetime.combine(today - dt.timedelta(weeks=bursts.WEEKS, days=1), dt.time(), zone)
    counts = daily_counts(session, settings, since)
    categories = categories_service.categories_by_id(
        session, {k.category_id for k in counts if k.category_id}
    )
    raised = 0
    for day in (today - dt.timedelta(days=1), today):
        for burst in bursts.bursts_on(counts, day):
            key = burst.key
            assert isinstance(key, AreaKey)
            cause = f"burst:{key.category_id}:{key.area_path or '-'}:{day.isoformat()}"
            if session.scalar(select(Alert.id).where(Alert.cause == cause)) is not None:
                continue
            category = categories.get(key.category_id or 0)
            raised += bool(
                raise_alert(
                    session,
                    settings,
                    now,
                    kind="burst",
                    cause=cause,
                    unit_path=key.area_path,
                    title=category.name_zh if category else "",
                    count=burst.count,
                    detail={
                        "category_en": category.name_en if category else "",
                        "day": day.isoformat(),
                        "expected": burst.expected,
                        "p_value": burst.p_value,
                        "category_id": key.category_id,
                    },
                )
            )
    return raised


def alerts_job(session: Session, settings: Settings, now: dt.datetime) -> dict[str, Any]:
    """The periodic job: runs the hot, repeat and burst rules (sensitive words are checked at triage)."""
    started = time.perf_counter()
    found = {
        "hot": _hot_rule(session, settings, now),
        "repeat": _repeat_rule(session, settings, now),
        "burst": _burst_rule(session, settings, now),
    }
    return {**found, "seconds": round(time.perf_counter() - started, 2)}


# ---------------------------------------------------------------- sensitive words (the triage worker's step)


def check_words(session: Session, settings: Settings, requests: Sequence[Request], now: dt.datetime) -> None:
    """The triage worker's step: an alert for each new request (received in the last WORD_RECENT) containing a
    sensitive word. Idempotent (one cause per request)."""
    words = listed(session) if requests else ()
    if not words:
        return
    folded = [(w, normalised(w)) for w in words]
    paths: dict[int, str] | None = None
    for request in requests:
        if request.received_at is not None and now - request.received_at > WORD_RECENT:
            continue
        text = normalised(f"{request.title or ''} {request.text or ''}")
        matched = [word for word, form in folded if form and form in text]
        if not matched:
            continue
        if paths is None:
            ids = [r.id for r in requests]
            paths = dict(
                session.execute(
                    select(HotIssueMember.request_id, HotIssueMember.unit_path).where(
                        HotIssueMember.request_id.in_(ids)
                    )
                ).all()
            )
        fallback = request.lead_unit_id or request.receiving_unit_id
        unit_path = paths.get(request.id) or org_queries.unit_paths(session, [fallback]).get(fallback, "")
        raise_alert(
            session,
            settings,
            now,
            kind="word",
            cause=f"word:{request.id}",
            unit_path=unit_path,
            title="、".join(matched)[:300],
            count=1,
            detail={"words": matched, "number": request.tracking_number},
            request_id=request.id,
        )


def sensitive_words(session: Session) -> list[SensitiveWord]:
    return list(session.scalars(select(SensitiveWord).order_by(SensitiveWord.word)))


def add_word(session: Session, actor: Actor, word: str, note: str = "") -> SensitiveWord:
    """Adds a word to the list (administrators). Spaces are dropped; 2 to 50 characters."""
    require_role(actor, Role.admin)
    word = "".join(word.split())
    if not 2 <= len(word) <= 50:
        raise Invalid("sensitive_word_length")
    if session.scalar(select(SensitiveWord.id).where(SensitiveWord.word == word)) is not None:
        raise Invalid("sensitive_word_exists")
    row = SensitiveWord(word=word, note=" ".join(note.split())[:200], created_by=actor.user_id)
    session.add(row)
    session.flush()
    reset_cache()
    return row


def remove_word(session: Session, actor: Actor, word_id: int) -> None:
    require_role(actor, Role.admin)
    row = session.get(SensitiveWord, word_id)
    if row is None:
        raise NotFound("sensitive_word_not_found", ref=word_id)
    session.delete(row)
    session.flush()
    reset_cache()


# ---------------------------------------------------------------- for the pages and the API


def _scope(unit: Unit) -> ColumnElement[bool]:
    if unit.path.count("/") == 2:  # a city: everything
        return true()
    return path_prefix(Alert.unit_path, unit.path)


def alerts_for(session: Session, unit: Unit, *, open_only: bool = False, limit: int = 100) -> list[Alert]:
    """The alerts of the unit's subtree, open ones first, newest first."""
    query = select(Alert).where(_scope(unit))
    if open_only:
        query = query.where(Alert.acknowledged_at.is_(None))
    query = query.order_by(Alert.acknowledged_at.is_not(None), Alert.created_at.desc(), Alert.id.desc())
    return list(session.scalars(query.limit(limit)))


def open_count(session: Session, unit: Unit) -> int:
    return int(session.scalar(select(func.count()).where(_scope(unit), Alert.acknowledged_at.is_(None))) or 0)


def acknowledge(
    session: Session, actor: Actor, unit: Unit, alert_id: int, now: dt.datetime, note: str = ""
) -> Alert:
    """Marks an alert of the unit's subtree as seen and taken in hand (once; a second time changes nothing)."""
    require_role(actor, *ACK_ROLES)
    alert = session.get(Alert, alert_id)
    if alert is None or alert not in alerts_in_scope(session, unit, [alert_id]):
        raise NotFound("alert_not_found", ref=alert_id)
    if alert.acknowledged_at is None:
        alert.acknowledged_at = now
        alert.acknowledged_by = actor.user_id
        alert.note = " ".join(note.split())[:500] or None
    return alert


def alerts_in_scope(session: Session, unit: Unit, ids: Sequence[int]) -> list[Alert]:
    return list(session.scalars(select(Alert).where(Alert.id.in_(list(ids)), _scope(unit))))


def counts_by_kind(alerts: Sequence[Alert]) -> Counter[str]:
    return Counter(a.kind for a in alerts)
