"""The workflow's steps on a received request, one function per step: who may take it, what it needs, the event it
appends.

Each refuses an illegal step first (409, `workflow.check`), then checks the actor's role and scope, then the
payload; then appends one event (`log.append_event`). Callers own the transaction: functions here add and flush,
never commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.categories.service import get_category
from chengzhi.categories.timelimits import deadline, stage_deadlines, stage_limits
from chengzhi.config import Settings
from chengzhi.db import utcnow
from chengzhi.errors import Conflict, Forbidden, Invalid, NotAuthenticated
from chengzhi.org.models import Role, Unit, UnitKind
from chengzhi.org.service import Actor, get_unit
from chengzhi.requests.access import is_submitter, unit_paths_of
from chengzhi.requests.log import SYSTEM, append_event, state_of
from chengzhi.requests.models import Issue, Request, RequestEvent, RequestUnit
from chengzhi.requests.workflow import (
    ACTION_NAMES,
    STAGE_OF_STATUS,
    STATUS_NAMES,
    Action,
    IllegalTransition,
    Status,
    allowed_actions,
    check,
)
from chengzhi.routing import triage
from chengzhi.routing.rules import RoutingSuggestion

# ---------------------------------------------------------------- who may, and what a step needs


def _require(actor: Actor, ok: bool, *roles: Role) -> None:
    if actor.is_anonymous:
        raise NotAuthenticated()
    if not ok:
        if not actor.has_role(*roles):
            raise Forbidden("forbidden_role", roles=", ".join(r.value for r in roles))
        raise Forbidden("out_of_scope")


def _in_scope(session: Session, actor: Actor, request: Request, *roles: Role) -> bool:
    return any(actor.covers(p, *roles) for p in unit_paths_of(session, request))


def _lead_handler(actor: Actor, request: Request) -> bool:
    return any(g.role == Role.handler and g.unit_id == request.lead_unit_id for g in actor.grants)


def _check(request: Request, action: Action) -> None:
    """Refuse an illegal step before any permission or payload work (409 with the reason)."""
    check(state_of(request), action)


def _limits(request: Request, settings: Settings) -> dict[str, str]:
    category_limits = request.category.time_limits if request.category else {}
    return stage_limits(category_limits, request.priority, settings.emergency_limits)


def _dispatch_target(session: Session, unit_id: int) -> Unit:
    unit = get_unit(session, unit_id)
    if not unit.active:
        raise Invalid("unit_inactive", unit=unit.name_zh)
    if unit.kind == UnitKind.city:
        raise Invalid("dispatch_target_invalid", unit=unit.name_zh)
    return unit


def _hold(session: Session, request: Request, unit: Unit, role: str) -> None:
    existing = session.scalar(
        select(RequestUnit).where(
            RequestUnit.request_id == request.id, RequestUnit.unit_id == unit.id, RequestUnit.role == role
        )
    )
    if existing is None:
        session.add(RequestUnit(request_id=request.id, unit_id=unit.id, unit_path=unit.path, role=role))


# ---------------------------------------------------------------- the steps


def answer_at_intake(
    session: Session,
    actor: Actor,
    request: Request,
    text: str,
    settings: Settings,
    now: dt.datetime | None = None,
    article: dict[str, int] | None = None,
) -> RequestEvent:
    """Answer a consultation; `article` ({"id", "version"}) names the knowledge article the answer came from."""
    now = now or utcnow()
    _check(request, Action.answer)
    _require(actor, _in_scope(session, actor, request, Role.operator), Role.operator)
    if not text.strip():
        raise Invalid("validation_failed", details="text")
    deadlines = stage_deadlines(("review",), now, _limits(request, settings), settings.timezone)
    payload: dict[str, Any] = {"text": text, "deadlines": deadlines}
    if article is not None:
        payload["article"] = article
    return append_event(session, request, actor, Action.answer, now, note=text, payload=payload)


def dispatch_request(
    session: Session,
    actor: Actor,
    request: Request,
    lead_unit_id: int,
    settings: Settings,
    co_unit_ids: Sequence[int] = (),
    note: str | None = None,
    now: dt.datetime | None = None,
    category_code: str | None = None,
) -> RequestEvent:
    now = now or utcnow()
    _check(request, Action.dispatch)
    _require(actor, _in_scope(session, actor, request, Role.dispatcher), Role.dispatcher)
    if category_code and (request.category is None or request.category.code != category_code):
        category = get_category(session, category_code)
        before = request.category_id
        request.category_id, request.category = category.id, category
        triage.note_category_decision(session, request, before, actor.user_id)
    if request.category is None:
        raise Invalid("category_required")
    return dispatch_step(session, actor, request, lead_unit_id, settings, co_unit_ids, note, now)


def dispatch_step(
    session: Session,
    actor: Actor,
    request: Request,
    lead_unit_id: int,
    settings: Settings,
    co_unit_ids: Sequence[int],
    note: str | None,
    now: dt.datetime,
    extra: dict[str, Any] | None = None,
    *,
    fresh: bool = False,
) -> RequestEvent:
    """The dispatch step once who may do it and the category are settled (a dispatcher, or intake's automatic
    dispatch). `fresh`: the request was received in this transaction, so only its hub holds it (nothing to read)."""
    assert request.category is not None
    co_ids = list(dict.fromkeys(int(u) for u in co_unit_ids))
    if lead_unit_id in co_ids:
        raise Invalid("lead_in_co_units")
    lead = _dispatch_target(session, lead_unit_id)
    co_units = [_dispatch_target(session, u) for u in co_ids]
    # Units that led or co-handled it before and do not now keep the request as former holders (still in scope).
    keep = {(lead.id, "lead"), *((unit.id, "co") for unit in co_units)}
    if fresh:
        session.add(RequestUnit(request_id=request.id, unit_id=lead.id, unit_path=lead.path, role="lead"))
        for unit in co_units:
            session.add(RequestUnit(request_id=request.id, unit_id=unit.id, unit_path=unit.path, role="co"))
    else:
        holders = select(RequestUnit).where(
            RequestUnit.request_id == request.id, RequestUnit.role.in_(("lead", "co"))
        )
        for held in session.scalars(holders).all():
            if (held.unit_id, held.role) not in keep:
                _hold(session, request, get_unit(session, held.unit_id), "former")
                session.delete(held)
        _hold(session, request, lead, "lead")
        for unit in co_units:
            _hold(session, request, unit, "co")
    deadlines = stage_deadlines(
        ("sign", "contact", "reply"), now, _limits(request, settings), settings.timezone
    )
    # A wrong dispatch must be returned within the return limit (2 working days by default).
    deadlines["return"] = deadline(now, settings.return_limit, settings.timezone).isoformat()
    payload = {
        "lead_unit_id": lead.id,
        "co_unit_ids": co_ids,
        "category": request.category.code,
        "deadlines": deadlines,
        **(extra or {}),
    }
    event = append_event(session, request, actor, Action.dispatch, now, note=note, payload=payload)
    request.lead_unit = lead
    return event


def sign_request(
    session: Session, actor: Actor, request: Request, now: dt.datetime | None = None
) -> RequestEvent:
    now = now or utcnow()
    _check(request, Action.sign)
    _require(actor, _lead_handler(actor, request), Role.handler)
    return append_event(session, request, actor, Action.sign, now)


def return_request(
    session: Session, actor: Actor, request: Request, reason: str, now: dt.datetime | None = None
) -> RequestEvent:
    now = now or utcnow()
    _check(request, Action.return_)
    _require(actor, _lead_handler(actor, request), Role.handler)
    if not reason or not reason.strip():
        raise Invalid("reason_required")
    window = (request.deadlines or {}).get("return")
    if window and now > dt.datetime.fromisoformat(window):
        raise Conflict("return_window_closed", until=window)
    return append_event(session, request, actor, Action.return_, now, note=reason, payload={"reason": reason})


def contact_resident(
    session: Session, actor: Actor, request: Request, note: str | None = None, now: dt.datetime | None = None
) -> RequestEvent:
    now = now or utcnow()
    _check(request, Action.contact)
    _require(actor, _lead_handler(actor, request), Role.handler)
    return append_event(session, request, actor, Action.contact, now, note=note)


def reply_request(
    session: Session,
    actor: Actor,
    request: Request,
    text: str,
    settings: Settings,
    now: dt.datetime | None = None,
) -> RequestEvent:
    now = now or utcnow()
    _check(request, Action.reply)
    _require(actor, _lead_handler(actor, request), Role.handler)
    if not text or not text.strip():
        raise Invalid("validation_failed", details="text")
    deadlines = stage_deadlines(("review",), now, _limits(request, settings), settings.timezone)
    return append_event(
        session, request, actor, Action.reply, now, note=text, payload={"text": text, "deadlines": deadlines}
    )


def review_request(
    session: Session,
    actor: Actor,
    request: Request,
    resolved: bool,
    satisfaction: int,
    comment: str | None = None,
    now: dt.datetime | None = None,
    *,
    by_tracking: bool = False,
) -> RequestEvent:
    """The resident's rating, or the follow-up visit (回访) recorded by a supervisor."""
    now = now or utcnow()
    _check(request, Action.review)
    own = is_submitter(actor, request)
    if not by_tracking:
        _require(actor, own or _in_scope(session, actor, request, Role.supervisor), Role.supervisor)
    if not 1 <= int(satisfaction) <= 5:
        raise Invalid("validation_failed", details="satisfaction 1-5")
    payload = {
        "resolved": bool(resolved),
        "satisfaction": int(satisfaction),
        "by": "resident" if (own or by_tracking) else "visit",
    }
    return append_event(session, request, actor, Action.review, now, note=comment, payload=payload)


def close_request(
    session: Session, actor: Actor, request: Request, note: str | None = None, now: dt.datetime | None = None
) -> RequestEvent:
    now = now or utcnow()
    _check(request, Action.close)
    _require(
        actor,
        _in_scope(session, actor, request, Role.supervisor, Role.dispatcher),
        Role.supervisor,
        Role.dispatcher,
    )
    return append_event(session, request, actor, Action.close, now, note=note)


def reopen_request(
    session: Session,
    actor: Actor,
    request: Request,
    reason: str,
    now: dt.datetime | None = None,
    *,
    by_tracking: bool = False,
) -> RequestEvent:
    now = now or utcnow()
    _check(request, Action.reopen)
    own = is_submitter(actor, request)
    allowed = by_tracking or own or _in_scope(session, actor, request, Role.supervisor, Role.dispatcher)
    if not by_tracking:
        _require(actor, allowed, Role.supervisor, Role.dispatcher)
    if not reason or not reason.strip():
        raise Invalid("reason_required")
    return append_event(session, request, actor, Action.reopen, now, note=reason, payload={"reason": reason})


def request_extension(
    session: Session, actor: Actor, request: Request, days: int, reason: str, now: dt.datetime | None = None
) -> RequestEvent:
    now = now or utcnow()
    _check(request, Action.request_extension)
    _require(actor, _lead_handler(actor, request), Role.handler)
    if not reason or not reason.strip():
        raise Invalid("reason_required")
    if not 1 <= int(days) <= 60:
        raise Invalid("validation_failed", details="days 1-60")
    return append_event(
        session, request, actor, Action.request_extension, now, note=reason, payload={"days": int(days)}
    )


def decide_extension(
    session: Session,
    actor: Actor,
    request: Request,
    approve: bool,
    settings: Settings,
    note: str | None = None,
    now: dt.datetime | None = None,
) -> RequestEvent:
    now = now or utcnow()
    action = Action.approve_extension if approve else Action.refuse_extension
    _check(request, action)
    _require(actor, _in_scope(session, actor, request, Role.supervisor), Role.supervisor)
    if not approve:
        return append_event(session, request, actor, action, now, note=note)
    asked = session.scalar(
        select(RequestEvent)
        .where(RequestEvent.request_id == request.id, RequestEvent.action == Action.request_extension.value)
        .order_by(RequestEvent.seq.desc())
        .limit(1)
    )
    days = int((asked.payload or {}).get("days", 1)) if asked else 1
    current = (request.deadlines or {}).get("reply")
    start = dt.datetime.fromisoformat(current) if current else now
    extended = stage_deadlines(("reply",), start, {"reply": f"{days}wd"}, settings.timezone)
    return append_event(
        session, request, actor, action, now, note=note, payload={"days": days, "deadlines": extended}
    )


def supervise_request(
    session: Session, actor: Actor, request: Request, note: str, now: dt.datetime | None = None
) -> RequestEvent:
    now = now or utcnow()
    _check(request, Action.supervise)
    _require(
        actor, _in_scope(session, actor, request, Role.supervisor, Role.leader), Role.supervisor, Role.leader
    )
    if not note or not note.strip():
        raise Invalid("reason_required")
    return append_event(session, request, actor, Action.supervise, now, note=note)


def co_handle_request(
    session: Session,
    actor: Actor,
    request: Request,
    unit_ids: Sequence[int],
    note: str | None = None,
    now: dt.datetime | None = None,
) -> RequestEvent:
    """吹哨报到: the lead unit (or a dispatcher) summons other units onto the case."""
    now = now or utcnow()
    _check(request, Action.co_handle)
    allowed = _lead_handler(actor, request) or _in_scope(session, actor, request, Role.dispatcher)
    _require(actor, allowed, Role.handler, Role.dispatcher)
    ids = [int(u) for u in dict.fromkeys(unit_ids)]
    if not ids:
        raise Invalid("validation_failed", details="unit_ids")
    if request.lead_unit_id in ids:
        raise Invalid("lead_in_co_units")
    for unit_id in ids:
        _hold(session, request, _dispatch_target(session, unit_id), "co")
    return append_event(
        session, request, actor, Action.co_handle, now, note=note, payload={"co_unit_ids": ids}
    )


def merge_request(
    session: Session,
    actor: Actor,
    request: Request,
    into: Request,
    note: str | None = None,
    now: dt.datetime | None = None,
) -> RequestEvent:
    """Merge `request` into the issue of `into` (created if `into` has none yet)."""
    now = now or utcnow()
    if request.id == into.id:
        raise Invalid("merge_into_self")
    _check(request, Action.merge)
    _require(actor, _in_scope(session, actor, request, Role.dispatcher), Role.dispatcher)
    # `into` may get an event of its own: the dispatcher must be in its scope too, not only in the merged one's.
    _require(actor, _in_scope(session, actor, into, Role.dispatcher), Role.dispatcher)
    if into.issue_id is None:
        _check(into, Action.merge)
        issue = Issue(title=into.title or into.text[:50], primary_request_id=into.id, created_at=now)
        session.add(issue)
        session.flush()
        append_event(session, into, actor, Action.merge, now, payload={"issue_id": issue.id, "primary": True})
    issue_id = into.issue_id
    assert issue_id is not None
    return append_event(
        session, request, actor, Action.merge, now, note=note, payload={"issue_id": issue_id, "into": into.id}
    )


def mark_overdue(session: Session, request: Request, now: dt.datetime | None = None) -> RequestEvent | None:
    """Flag the current stage as overdue; None if it is not (or already flagged)."""
    now = now or utcnow()
    state = state_of(request)
    stage = STAGE_OF_STATUS.get(state.status) if state.status else None
    due = state.due_at
    if stage is None or due is None or due > now or state.overdue_stage is not None:
        return None
    return append_event(
        session,
        request,
        SYSTEM,
        Action.mark_overdue,
        now,
        payload={"stage": stage, "due_at": due.isoformat()},
    )


def record_outcome(
    session: Session,
    actor: Actor,
    request: Request,
    status: Status,
    at: dt.datetime,
    *,
    reply_text: str | None = None,
    replied_at: dt.datetime | None = None,
    lead_unit: Unit | None = None,
) -> RequestEvent:
    """Give an imported historical record the outcome it had in the old system (replied or closed), or, with
    `status` received, a progress note the old system holds on a case still open there (`reply_text`).

    Only for channel "import": it records what happened elsewhere, not a step taken here.
    """
    _check(request, Action.record_outcome)
    if request.channel != "import":
        raise Forbidden()
    if status is Status.received:
        note = {"status": status.value, "progress_note": reply_text or ""}
        return append_event(session, request, actor, Action.record_outcome, at, note=reply_text, payload=note)
    payload: dict[str, Any] = {"status": status.value}
    if reply_text:
        payload["reply_text"] = reply_text
    if replied_at:
        payload["replied_at"] = replied_at.isoformat()
    if status is Status.closed:
        payload["closed_at"] = at.isoformat()
    if lead_unit is not None:
        payload["lead_unit_id"] = lead_unit.id
        _hold(session, request, lead_unit, "lead")
    return append_event(session, request, actor, Action.record_outcome, at, note=reply_text, payload=payload)


def add_message(
    session: Session,
    actor: Actor,
    request: Request,
    text: str,
    now: dt.datetime,
    *,
    channel: str,
) -> RequestEvent:
    """The resident wrote again about their request (a reply to our e-mail, quoting the tracking number): the
    message joins the request's timeline and nothing else changes. Taken by a channel acting as an operator."""
    _check(request, Action.message)
    if not actor.has_role(Role.operator, Role.admin):  # a channel's system actor has no account
        raise Forbidden("forbidden_role", roles="operator, admin")
    if not text.strip():
        raise Invalid("reason_required")
    payload = {"channel": channel}
    return append_event(
        session, request, actor, Action.message, now, note=text.strip()[:4000], payload=payload
    )


# ---------------------------------------------------------------- what the pages show about the next step


def routing_suggestion(session: Session, request: Request) -> RoutingSuggestion:
    return triage.routing_suggestion(session, request)


def allowed_for(
    session: Session, actor: Actor, request: Request, *, paths: Sequence[str] | None = None
) -> list[str]:
    """The actions this actor may take on this request now: what the pages show as buttons.
    `paths`: the request's unit paths, when the caller has them already."""
    possible = [
        a
        for a in allowed_actions(state_of(request))
        if a not in (Action.mark_overdue, Action.receive, Action.message)
    ]
    if actor.is_anonymous:
        return []
    own = is_submitter(actor, request)
    lead = _lead_handler(actor, request)
    paths = unit_paths_of(session, request) if paths is None else paths

    def scope(*roles: Role) -> bool:
        return any(actor.covers(p, *roles) for p in paths)

    rules: dict[Action, bool] = {
        Action.answer: scope(Role.operator),
        Action.dispatch: scope(Role.dispatcher),
        Action.sign: lead,
        Action.return_: lead,
        Action.contact: lead,
        Action.reply: lead,
        Action.review: own or scope(Role.supervisor),
        Action.close: scope(Role.supervisor, Role.dispatcher),
        Action.reopen: own or scope(Role.supervisor, Role.dispatcher),
        Action.request_extension: lead,
        Action.approve_extension: scope(Role.supervisor),
        Action.refuse_extension: scope(Role.supervisor),
        Action.supervise: scope(Role.supervisor, Role.leader),
        Action.co_handle: lead or scope(Role.dispatcher),
        Action.merge: scope(Role.dispatcher),
    }
    return [a.value for a in possible if rules.get(a, False)]


def illegal_to_message(exc: IllegalTransition) -> dict[str, object]:
    status = exc.status.value if exc.status else "new"
    return {
        "status": STATUS_NAMES[status],
        "action": ACTION_NAMES[exc.action.value],
        "hint": exc.hint,
    }
