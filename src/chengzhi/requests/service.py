"""Intake and the workflow of requests: every write goes through here, one step per transaction.

Callers own the transaction (the API commits once per call; the demo and the importer batch many steps);
functions here add and flush, never commit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from PIL import Image, UnidentifiedImageError
from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from chengzhi.categories.models import Category, Priority
from chengzhi.categories.service import get_category, validate_answers
from chengzhi.config import Settings
from chengzhi.db import utcnow
from chengzhi.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotAuthenticated,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from chengzhi.org.models import Role, Unit, UnitKind
from chengzhi.org.service import Actor, city_unit, get_unit
from chengzhi.requests.access import (
    can_view,
    unit_paths_of,
    visibility_clause,
)
from chengzhi.requests.models import Issue, Photo, PhotoToken, Request, RequestEvent, RequestUnit
from chengzhi.requests.timelimits import deadline, stage_deadlines, stage_limits
from chengzhi.requests.workflow import (
    ACTION_NAMES,
    STAGE_OF_STATUS,
    STATUS_NAMES,
    Action,
    IllegalTransition,
    Status,
    Step,
    WorkflowState,
    allowed_actions,
    check,
)
from chengzhi.requests.workflow import apply as apply_step
from chengzhi.routing import triage
from chengzhi.routing.rules import RoutingSuggestion, area_index
from chengzhi.routing.triage_models import RequestTriage

CHANNELS = ("web", "phone", "app", "open311", "import", "feed", "email")
STAFF_CHANNELS = ("phone", "import", "feed", "email")
PHOTO_FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "WEBP": ("image/webp", "webp")}


# ---------------------------------------------------------------- intake


@dataclass
class Submission:
    text: str
    channel: str = "web"
    title: str = ""
    category_code: str | None = None
    priority: str | None = None
    lat: float | None = None
    lon: float | None = None
    address: str | None = None
    contact_name: str | None = None
    contact_phone: str | None = None
    contact_email: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    language: str = "zh"
    source: str = "chengzhi"
    external_id: str | None = None


def new_tracking_number(now: dt.datetime) -> str:
    """Digits only, so that it reads well over the phone: YYMMDD + 8 random digits."""
    return now.strftime("%y%m%d") + f"{secrets.randbelow(10**8):08d}"


def _phone_last4(phone: str | None) -> str | None:
    digits = "".join(ch for ch in phone or "" if ch.isdigit())
    return digits[-4:] if len(digits) >= 4 else None


def submit_request(
    session: Session,
    actor: Actor,
    data: Submission,
    settings: Settings,
    now: dt.datetime | None = None,
    *,
    receiving_unit: Unit | None = None,
    check_location: bool = True,
    unit_paths: list[str] | None = None,
) -> Request:
    """Receive a new request. Staff channels (phone, import, ...) need an operator. `unit_paths`, if given, gets
    the paths of the units holding the new request (its hub, and its lead unit when intake dispatched it): what
    `unit_paths_of` would read back."""
    now = now or utcnow()
    if data.channel not in CHANNELS:
        raise Invalid("validation_failed", details=f"channel must be one of {', '.join(CHANNELS)}")
    if data.channel in STAFF_CHANNELS and not actor.has_role(Role.operator, Role.admin, Role.dispatcher):
        if actor.is_anonymous:
            raise NotAuthenticated()
        raise Forbidden("forbidden_role", roles="operator")
    category: Category | None = None
    answers: dict[str, Any] = {}
    if data.category_code:
        category = get_category(session, data.category_code)
        if not category.active:
            raise NotFound("category_not_found", ref=data.category_code)
        answers = validate_answers(category, data.attributes, enforce_required=data.channel != "import")
    if data.lat is None and data.lon is None:
        if not data.address and data.channel not in STAFF_CHANNELS:
            raise Invalid("location_required")
    elif data.lat is None or data.lon is None:
        raise Invalid("location_required")
    elif check_location and not area_index(session).inside_city(data.lat, data.lon):
        raise Invalid("location_outside_city")
    if actor.is_anonymous and not actor.is_staff and not (data.contact_phone or data.contact_email):
        raise Invalid("contact_required")
    priority = data.priority or (category.default_priority.value if category else "normal")
    # Urgency and the place named in the text (routing/triage.py); a priority chosen by staff stands.
    found = triage.analyse(
        session,
        settings,
        data.title,
        data.text,
        has_point=data.lat is not None,
        classify_text=data.channel != "import",  # history comes with its own categories
    )
    if found.urgent and not (data.priority and actor.is_staff):
        priority = Priority.emergency.value
    hub = receiving_unit or city_unit(session)
    request = Request(
        title=data.title.strip()[:200] or data.text.strip()[:30],
        text=data.text,
        channel=data.channel,
        language=data.language,
        category_id=category.id if category else None,
        category=category,
        priority=priority,
        lat=data.lat,
        lon=data.lon,
        address=data.address,
        contact_name=data.contact_name,
        contact_phone=data.contact_phone,
        contact_email=data.contact_email,
        phone_last4=_phone_last4(data.contact_phone),
        submitter_id=actor.user_id if actor.has_role(Role.resident) or not actor.is_staff else None,
        receiving_unit_id=hub.id,
        attributes=answers,
        source=data.source,
        external_id=data.external_id,
        received_at=now,
        status=Status.received.value,
        co_unit_ids=[],
        deadlines={},
        updated_at=now,
        event_count=0,
        extension_pending=False,
        extension_days=0,
        ever_overdue=False,
        answered_at_intake=False,
        reopen_count=0,
        return_count=0,
    )
    # The receive step is projected before the row is first written, so that intake is one INSERT, no UPDATE.
    payload = {"channel": data.channel}
    _project(request, apply_step(state_of(request), Step(Action.receive, now, payload)))
    for attempt in range(5):
        request.tracking_number = new_tracking_number(now)
        try:
            with session.begin_nested():
                session.add(request)
                session.flush()
            break
        except IntegrityError:
            if attempt == 4 or (
                data.external_id and _external_exists(session, data.source, data.external_id)
            ):
                raise Conflict("conflict", details="duplicate request") from None
    session.add(RequestUnit(request_id=request.id, unit_id=hub.id, unit_path=hub.path, role="hub"))
    session.add(_event_row(request, actor, Action.receive, now, seq=request.event_count, payload=payload))
    stored = triage.record(session, request, found)
    if settings.auto_dispatch and data.channel != "import":
        # Decided before anything pending is written: the rows of both steps then go out in one flush, and the
        # request's facts are derived from that flush alone (metrics.facts.refresh_flushed).
        with session.no_autoflush:
            _auto_dispatch(session, request, found, stored, settings, now)
    if unit_paths is not None:
        unit_paths.append(hub.path)
        if request.lead_unit_id is not None and request.lead_unit is not None:
            unit_paths.append(request.lead_unit.path)
    return request


# Who dispatches automatically: the platform itself (no user; the event's payload names the model).
SYSTEM = Actor(user_id=None, username="system", display_name="Chengzhi")


def _auto_dispatch(
    session: Session,
    request: Request,
    found: triage.Found,
    stored: RequestTriage | None,
    settings: Settings,
    now: dt.datetime,
) -> RequestEvent | None:
    """Dispatches a new request without a person when the category model is sure of its category (at or above
    the category's threshold), the resident chose no other category, it is not an emergency (a person looks at
    every emergency at once), and the routing rules give a unit that can take it."""
    classified = found.classified
    if classified is None or not classified.sure or found.urgent:
        return None
    category = classified.first
    if request.category is not None and request.category.id != category.id:
        return None
    # The triage row intake just added (pending: a query would not find it) is what the rules read.
    suggestion = triage.suggestion_with(session, request, stored, category=category)
    if suggestion.unit_id is None:
        return None
    unit = session.get(Unit, suggestion.unit_id)
    if unit is None or not unit.active or unit.kind == UnitKind.city:
        return None
    # Whether the category is a person's (the resident chose the model's choice) or the model's alone: retraining
    # compares models only on categories people gave (registry.retrain).
    resident_chose = request.category is not None
    request.category_id, request.category = category.id, category
    auto = {
        "resident_chose": resident_chose,
        "model_version": classified.version,
        "probability": round(classified.top[0][1], 4),
        "reason_zh": suggestion.reason_zh,
        "reason_en": suggestion.reason_en,
    }
    return _dispatch(
        session, SYSTEM, request, unit.id, settings, (), None, now, extra={"auto": auto}, fresh=True
    )


def _external_exists(session: Session, source: str, external_id: str) -> bool:
    query = select(Request.id).where(Request.source == source, Request.external_id == external_id)
    return session.scalar(query) is not None


# ---------------------------------------------------------------- the event log


def state_of(request: Request) -> WorkflowState:
    """The workflow state held in the request's projection columns."""
    return WorkflowState(
        status=Status(request.status) if request.event_count else None,
        lead_unit_id=request.lead_unit_id,
        co_unit_ids=tuple(request.co_unit_ids or ()),
        extension_pending=request.extension_pending,
        extension_days=request.extension_days,
        issue_id=request.issue_id,
        deadlines=tuple(sorted((request.deadlines or {}).items())),
        overdue_stage=request.overdue_stage,
        ever_overdue=request.ever_overdue,
        answered_at_intake=request.answered_at_intake,
        reopen_count=request.reopen_count,
        return_count=request.return_count,
        resolved=request.resolved,
        satisfaction=request.satisfaction,
        reply_text=request.reply_text,
        dispatched_at=request.dispatched_at,
        replied_at=request.replied_at,
        closed_at=request.closed_at,
        updated_at=request.updated_at,
        event_count=request.event_count,
    )


def _project(request: Request, state: WorkflowState) -> None:
    request.status = state.status.value if state.status else Status.received.value
    request.lead_unit_id = state.lead_unit_id
    request.co_unit_ids = list(state.co_unit_ids)
    request.extension_pending = state.extension_pending
    request.extension_days = state.extension_days
    request.issue_id = state.issue_id
    request.deadlines = state.deadline_map
    request.due_at = state.due_at
    request.overdue_stage = state.overdue_stage
    request.ever_overdue = state.ever_overdue
    request.answered_at_intake = state.answered_at_intake
    request.reopen_count = state.reopen_count
    request.return_count = state.return_count
    request.resolved = state.resolved
    request.satisfaction = state.satisfaction
    request.reply_text = state.reply_text
    request.dispatched_at = state.dispatched_at
    request.replied_at = state.replied_at
    request.closed_at = state.closed_at
    if state.updated_at is not None:
        request.updated_at = state.updated_at
    request.event_count = state.event_count


def _append(
    session: Session,
    request: Request,
    actor: Actor,
    action: Action,
    now: dt.datetime,
    *,
    note: str | None = None,
    payload: dict[str, Any] | None = None,
) -> RequestEvent:
    payload = payload or {}
    new_state = apply_step(state_of(request), Step(action, now, payload))
    event = _event_row(request, actor, action, now, seq=request.event_count + 1, note=note, payload=payload)
    session.add(event)
    _project(request, new_state)
    return event


def _event_row(
    request: Request,
    actor: Actor,
    action: Action,
    now: dt.datetime,
    *,
    seq: int,
    note: str | None = None,
    payload: dict[str, Any],
) -> RequestEvent:
    return RequestEvent(
        request_id=request.id,
        seq=seq,
        action=action.value,
        at=now,
        actor_id=actor.user_id,
        actor_unit_id=actor.primary_unit_id,
        note=note,
        payload=payload,
    )


def events_of(session: Session, request: Request) -> list[RequestEvent]:
    query = select(RequestEvent).where(RequestEvent.request_id == request.id).order_by(RequestEvent.seq)
    return list(session.scalars(query))


def steps_of(events: Sequence[RequestEvent]) -> list[Step]:
    return [Step(Action(e.action), e.at, e.payload or {}) for e in events]


# ---------------------------------------------------------------- reading, scope and masking


def get_request(session: Session, actor: Actor, ref: int | str, *, for_update: bool = False) -> Request:
    """A request by id or tracking number, if the actor may see it (404 otherwise: nothing leaks)."""
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isascii() and ref.isdigit() and len(ref) < 10):
        query = select(Request).where(Request.id == int(ref))
    else:
        query = select(Request).where(Request.tracking_number == str(ref))
    if for_update:
        query = query.with_for_update(of=Request)
    request = session.scalar(query)
    if request is None or not can_view(session, actor, request):
        raise NotFound("request_not_found", ref=ref)
    return request


def get_by_tracking(
    session: Session, tracking_number: str, phone_last4: str, *, for_update: bool = False
) -> Request:
    """For residents without an account: the number and the last four digits of the phone they gave."""
    query = select(Request).where(Request.tracking_number == tracking_number.strip())
    if for_update:
        query = query.with_for_update(of=Request)
    request = session.scalar(query)
    if (
        request is None
        or not request.phone_last4
        or not secrets.compare_digest(request.phone_last4, phone_last4)
    ):
        raise NotFound("tracking_mismatch")
    return request


# ---------------------------------------------------------------- workflow steps


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


def answer_at_intake(
    session: Session,
    actor: Actor,
    request: Request,
    text: str,
    settings: Settings,
    now: dt.datetime | None = None,
) -> RequestEvent:
    now = now or utcnow()
    _check(request, Action.answer)
    _require(actor, _in_scope(session, actor, request, Role.operator), Role.operator)
    if not text.strip():
        raise Invalid("validation_failed", details="text")
    deadlines = stage_deadlines(("review",), now, _limits(request, settings), settings.timezone)
    return _append(
        session, request, actor, Action.answer, now, note=text, payload={"text": text, "deadlines": deadlines}
    )


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
    return _dispatch(session, actor, request, lead_unit_id, settings, co_unit_ids, note, now)


def _dispatch(
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
    event = _append(session, request, actor, Action.dispatch, now, note=note, payload=payload)
    request.lead_unit = lead
    return event


def sign_request(
    session: Session, actor: Actor, request: Request, now: dt.datetime | None = None
) -> RequestEvent:
    now = now or utcnow()
    _check(request, Action.sign)
    _require(actor, _lead_handler(actor, request), Role.handler)
    return _append(session, request, actor, Action.sign, now)


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
    return _append(session, request, actor, Action.return_, now, note=reason, payload={"reason": reason})


def contact_resident(
    session: Session, actor: Actor, request: Request, note: str | None = None, now: dt.datetime | None = None
) -> RequestEvent:
    now = now or utcnow()
    _check(request, Action.contact)
    _require(actor, _lead_handler(actor, request), Role.handler)
    return _append(session, request, actor, Action.contact, now, note=note)


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
    return _append(
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
    own = request.submitter_id is not None and request.submitter_id == actor.user_id
    if not by_tracking:
        _require(actor, own or _in_scope(session, actor, request, Role.supervisor), Role.supervisor)
    if not 1 <= int(satisfaction) <= 5:
        raise Invalid("validation_failed", details="satisfaction 1-5")
    payload = {
        "resolved": bool(resolved),
        "satisfaction": int(satisfaction),
        "by": "resident" if (own or by_tracking) else "visit",
    }
    return _append(session, request, actor, Action.review, now, note=comment, payload=payload)


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
    return _append(session, request, actor, Action.close, now, note=note)


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
    own = request.submitter_id is not None and request.submitter_id == actor.user_id
    allowed = by_tracking or own or _in_scope(session, actor, request, Role.supervisor, Role.dispatcher)
    if not by_tracking:
        _require(actor, allowed, Role.supervisor, Role.dispatcher)
    if not reason or not reason.strip():
        raise Invalid("reason_required")
    return _append(session, request, actor, Action.reopen, now, note=reason, payload={"reason": reason})


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
    return _append(
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
        return _append(session, request, actor, action, now, note=note)
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
    return _append(
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
    return _append(session, request, actor, Action.supervise, now, note=note)


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
    return _append(session, request, actor, Action.co_handle, now, note=note, payload={"co_unit_ids": ids})


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
        _append(session, into, actor, Action.merge, now, payload={"issue_id": issue.id, "primary": True})
    issue_id = into.issue_id
    assert issue_id is not None
    return _append(
        session, request, actor, Action.merge, now, note=note, payload={"issue_id": issue_id, "into": into.id}
    )


SYSTEM = Actor(user_id=None, username="system")


def mark_overdue(session: Session, request: Request, now: dt.datetime | None = None) -> RequestEvent | None:
    """Flag the current stage as overdue; None if it is not (or already flagged)."""
    now = now or utcnow()
    state = state_of(request)
    stage = STAGE_OF_STATUS.get(state.status) if state.status else None
    due = state.due_at
    if stage is None or due is None or due > now or state.overdue_stage is not None:
        return None
    return _append(
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
    """Give an imported historical record the outcome it had in the old system (replied or closed).

    Only for channel "import": it records what happened elsewhere, not a step taken here.
    """
    _check(request, Action.record_outcome)
    if request.channel != "import":
        raise Forbidden()
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
    return _append(session, request, actor, Action.record_outcome, at, note=reply_text, payload=payload)


def routing_suggestion(session: Session, request: Request) -> RoutingSuggestion:
    return triage.routing_suggestion(session, request)


def allowed_for(
    session: Session, actor: Actor, request: Request, *, paths: Sequence[str] | None = None
) -> list[str]:
    """The actions this actor may take on this request now: what the pages show as buttons.
    `paths`: the request's unit paths, when the caller has them already."""
    possible = [
        a for a in allowed_actions(state_of(request)) if a not in (Action.mark_overdue, Action.receive)
    ]
    if actor.is_anonymous:
        return []
    own = request.submitter_id is not None and request.submitter_id == actor.user_id
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


# ---------------------------------------------------------------- photos


def photo_token_for(session: Session, request: Request, now: dt.datetime | None = None) -> str:
    token = secrets.token_urlsafe(24)
    session.add(
        PhotoToken(
            request_id=request.id,
            token_hash=hashlib.sha256(token.encode()).hexdigest(),
            expires_at=(now or utcnow()) + dt.timedelta(hours=2),
        )
    )
    return token


def photo_token_valid(session: Session, request: Request, token: str) -> bool:
    digest = hashlib.sha256(token.encode()).hexdigest()
    record = session.scalar(select(PhotoToken).where(PhotoToken.token_hash == digest))
    return record is not None and record.request_id == request.id and record.expires_at > utcnow()


def add_photo(session: Session, request: Request, content: bytes, settings: Settings) -> Photo:
    """Check that `content` is a JPEG, PNG or WebP image within the size limit, store it, record it."""
    if len(content) > settings.max_photo_bytes:
        limit = settings.max_photo_bytes
        raise PayloadTooLarge(limit=f"{limit // 1048576} MB" if limit >= 1048576 else f"{limit // 1024} KB")
    count = len(list(session.scalars(select(Photo.id).where(Photo.request_id == request.id))))
    if count >= settings.max_photos_per_request:
        raise Invalid("too_many_photos", limit=settings.max_photos_per_request)
    try:
        with Image.open(io.BytesIO(content)) as image:
            image_format = image.format or ""
            width, height = image.size
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise UnsupportedMediaType() from None
    if image_format not in PHOTO_FORMATS:
        raise UnsupportedMediaType()
    content_type, extension = PHOTO_FORMATS[image_format]
    digest = hashlib.sha256(content).hexdigest()
    stored_name = f"{digest}.{extension}"
    media = Path(settings.media_dir)
    media.mkdir(parents=True, exist_ok=True)
    target = media / stored_name
    if not target.exists():
        temporary = target.with_suffix(".part")
        temporary.write_bytes(content)
        temporary.replace(target)
    photo = Photo(
        request_id=request.id,
        content_type=content_type,
        size=len(content),
        width=width,
        height=height,
        sha256=digest,
        stored_name=stored_name,
    )
    session.add(photo)
    session.flush()
    return photo


def photos_of(session: Session, request: Request) -> list[Photo]:
    return list(session.scalars(select(Photo).where(Photo.request_id == request.id).order_by(Photo.id)))


def illegal_to_message(exc: IllegalTransition) -> dict[str, object]:
    status = exc.status.value if exc.status else "new"
    return {
        "status": STATUS_NAMES[status],
        "action": ACTION_NAMES[exc.action.value],
        "hint": exc.hint,
    }


# ---------------------------------------------------------------- lists


@dataclass
class RequestFilters:
    statuses: list[str] = field(default_factory=list)
    category: str | None = None
    channel: str | None = None
    lead_unit_id: int | None = None
    overdue: bool | None = None
    received_from: dt.datetime | None = None
    received_to: dt.datetime | None = None


def parse_when(value: str | None, name: str) -> dt.datetime | None:
    if not value:
        return None
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise Invalid("validation_failed", details=f"{name}: an ISO 8601 datetime is expected") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def list_requests(
    session: Session, actor: Actor, filters: RequestFilters, *, before: int | None = None, limit: int = 20
) -> list[Request]:
    """Newest first, keyset-paginated by id; returns up to limit + 1 rows (the extra one says: more follow).

    Two steps: the ids alone (a query the planner serves from an index on the filtered column), then those rows
    with their category and units. Asked in one query with the eager joins, SQLite walks the whole table by id
    looking for a rare status."""
    query = _filtered(select(Request.id), actor, filters)
    if before is not None:
        query = query.where(Request.id < before)
    ids = list(session.scalars(query.order_by(Request.id.desc()).limit(limit + 1)))
    if not ids:
        return []
    rows = session.scalars(select(Request).where(Request.id.in_(ids))).unique().all()
    return sorted(rows, key=lambda row: row.id, reverse=True)


_Q = TypeVar("_Q", bound=Select[*tuple[Any, ...]])


def overdue_only(query: _Q) -> _Q:
    """Keep the overdue requests, as ids read from the partial index that holds only them: asked directly
    (`overdue_stage IS NOT NULL`), SQLite's planner takes the condition for an unselective one and scans the
    whole table."""
    late = aliased(Request)
    return query.where(Request.id.in_(select(late.id).where(late.overdue_stage.is_not(None))))


def count_requests_by_status(session: Session, actor: Actor, filters: RequestFilters) -> dict[str, int]:
    """How many requests each status holds among those `list_requests` would show (the inbox's counts)."""
    counting = select(Request.status, func.count())
    query = _filtered(counting, actor, filters, set_based=True).group_by(Request.status)
    return {status: count for status, count in session.execute(query).all()}


def _filtered(query: _Q, actor: Actor, filters: RequestFilters, *, set_based: bool = False) -> _Q:
    query = query.where(visibility_clause(actor, set_based=set_based))
    if filters.statuses:
        unknown = set(filters.statuses) - {s.value for s in Status}
        if unknown:
            raise Invalid("validation_failed", details=f"unknown status {', '.join(sorted(unknown))}")
        query = query.where(Request.status.in_(filters.statuses))
    if filters.category:
        query = query.join(Category, Category.id == Request.category_id).where(
            Category.code == filters.category
        )
    if filters.channel:
        query = query.where(Request.channel == filters.channel)
    if filters.lead_unit_id is not None:
        query = query.where(Request.lead_unit_id == filters.lead_unit_id)
    if filters.overdue is True:
        query = overdue_only(query)
    elif filters.overdue is False:
        query = query.where(Request.overdue_stage.is_(None))
    if filters.received_from:
        query = query.where(Request.received_at >= filters.received_from)
    if filters.received_to:
        query = query.where(Request.received_at < filters.received_to)
    return query
