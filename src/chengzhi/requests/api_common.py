"""What the requests API's endpoints share: the JSON of a request (with its events and routing) and retry-safe
POSTs (an `Idempotency-Key` replays the first response)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Header, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chengzhi import idempotency
from chengzhi.errors import ChengzhiError
from chengzhi.org import queries as org_queries
from chengzhi.org.models import Unit
from chengzhi.org.service import Actor
from chengzhi.requests import access, contact_views, schemas, triaged
from chengzhi.requests.log import events_of
from chengzhi.requests.models import Request as RequestRow
from chengzhi.requests.models import RequestEvent
from chengzhi.requests.photos import photo_public, photos_of
from chengzhi.requests.steps import allowed_for, routing_suggestion
from chengzhi.requests.workflow import IllegalTransition, action_name, status_name
from chengzhi.routing import triage

IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", description="Retry-safe POST: the same key returns the first response."),
]


def _unit_ref(unit: Unit | None, lang: str) -> schemas.UnitRef | None:
    if unit is None:
        return None
    return schemas.UnitRef(id=unit.id, code=unit.code, name=unit.name(lang), kind=unit.kind.value)


def event_public(
    event: RequestEvent,
    lang: str,
    user_names: dict[int, str],
    units: dict[int, Unit],
    staff_view: bool,
    *,
    masked_actor: int | None = None,
    names: tuple[str | None, ...] = (),
) -> schemas.EventPublic:
    """`masked_actor`: the resident's account, whose name (and what the events' notes say about them) a viewer
    without contact rights must not read: set only for such viewers."""
    unit = units.get(event.actor_unit_id) if event.actor_unit_id else None
    user_name = user_names.get(event.actor_id) if event.actor_id else None
    payload = dict(event.payload or {})
    if isinstance(payload.get("auto"), dict):
        # An automatic dispatch stores why as a message (or, before, in two languages): the client reads its own.
        payload["auto"] = {**payload["auto"], "reason": triaged.auto_dispatch_reason(payload["auto"], lang)}
    masked = masked_actor is not None
    if masked and event.actor_id is not None and event.actor_id == masked_actor:
        user_name = access.mask_name(user_name)
    return schemas.EventPublic(
        seq=event.seq,
        action=event.action,
        action_name=action_name(event.action, lang),
        at=event.at,
        actor=user_name if staff_view else None,
        unit=unit.name(lang) if unit else None,
        note=access.mask_text(event.note, names=names) if masked else event.note,
        payload=_masked_values(payload, names) if masked else payload,
    )


def _masked_values(value: Any, names: tuple[str | None, ...]) -> Any:
    """A step's payload with personal data masked in every text it holds (a reply's text, a reason)."""
    if isinstance(value, str):
        return access.mask_text(value, names=names)
    if isinstance(value, dict):
        return {k: _masked_values(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked_values(v, names) for v in value]
    return value


def request_public(
    session: Session,
    actor: Actor,
    request: RequestRow,
    lang: str,
    *,
    with_events: bool = False,
    with_routing: bool = False,
    contact_visible: bool | None = None,
    fresh: bool = False,
    unit_paths: list[str] | None = None,
) -> schemas.RequestPublic:
    """`fresh`: the request was created in this transaction, so it has no photos yet. `unit_paths`: the paths of
    the units holding it, when the caller knows them (intake does)."""
    # The unit paths serve both the contact and the actions check: read them once.
    if actor.is_anonymous:
        paths = []
    elif unit_paths is not None:
        paths = unit_paths
    else:
        paths = access.unit_paths_of(session, request)
    if contact_visible is None:
        reason = access.contact_reason(session, actor, request, paths=paths)
        visible = reason is not None
        contact_views.note(session, actor, request, reason, "api")  # the audit of unmasked contacts
    else:
        visible = contact_visible
    names = (request.contact_name,)  # the resident's name, wherever the texts repeat it
    contact = schemas.ContactPublic(
        name=request.contact_name if visible else access.mask_name(request.contact_name),
        phone=request.contact_phone if visible else access.mask_phone(request.contact_phone),
        email=request.contact_email if visible else access.mask_email(request.contact_email),
        masked=not visible,
    )
    co_units = org_queries.units_by_id(session, request.co_unit_ids or [])
    photos = [photo_public(request, p) for p in ([] if fresh else photos_of(session, request))]
    public = schemas.RequestPublic(
        id=request.id,
        tracking_number=request.tracking_number,
        title=request.title if visible else (access.mask_text(request.title, names=names) or ""),
        text=request.text if visible else (access.mask_text(request.text, names=names) or ""),
        channel=request.channel,
        category=schemas.CategoryRef(code=request.category.code, name=request.category.name(lang))
        if request.category
        else None,
        priority=request.priority,
        status=request.status,
        status_name=status_name(request.status, lang),
        being_triaged=bool(request.triage_pending),
        lat=request.lat,
        lon=request.lon,
        address=request.address,
        contact=contact,
        lead_unit=_unit_ref(request.lead_unit, lang),
        co_units=[r for u in request.co_unit_ids or [] if (r := _unit_ref(co_units.get(u), lang))],
        issue_id=request.issue_id,
        received_at=request.received_at,
        updated_at=request.updated_at,
        due_at=request.due_at,
        deadlines=request.deadlines or {},
        overdue=request.overdue_stage is not None,
        ever_overdue=request.ever_overdue,
        extension_pending=request.extension_pending,
        reply=request.reply_text if visible else access.mask_text(request.reply_text, names=names),
        replied_at=request.replied_at,
        closed_at=request.closed_at,
        resolved=request.resolved,
        satisfaction=request.satisfaction,
        reopen_count=request.reopen_count,
        return_count=request.return_count,
        attributes=request.attributes or {},
        photos=photos,
        allowed_actions=allowed_for(session, actor, request, paths=paths),
    )
    if with_events:
        events = events_of(session, request)
        users = org_queries.display_names(session, (e.actor_id for e in events if e.actor_id))
        units = org_queries.units_by_id(session, (e.actor_unit_id for e in events if e.actor_unit_id))
        # The resident's account is the one to hide from viewers without contact rights (item: no names).
        hidden = None if visible else (request.submitter_id or 0)
        public.events = [
            event_public(e, lang, users, units, actor.is_staff, masked_actor=hidden, names=names)
            for e in events
        ]
    if with_routing and actor.is_staff:
        public.routing = routing_public(session, request, lang)
    return public


def routing_public(session: Session, request: RequestRow, lang: str) -> schemas.RoutingPublic:
    suggestion = routing_suggestion(session, request)
    unit = org_queries.unit_by_id(session, suggestion.unit_id) if suggestion.unit_id else None
    found = triage.triage_of(session, request)
    guesses = [
        schemas.CategoryGuess(code=c.code, name=c.name(lang), probability=p)
        for c, p in triage.stored_top(session, found)
    ]
    return schemas.RoutingPublic(
        unit=_unit_ref(unit, lang),
        reason=suggestion.reason(lang),
        category_suggestions=guesses,
        model_version=found.model_version if found and guesses else None,
        sure=bool(found and found.category_sure),
    )


def principal(actor: Actor, http: Request) -> str:
    """Whose keys these are. Anonymous callers are told apart by address, so that one stranger's key can never
    replay another's response (which holds their contact details and photo token)."""
    if actor.user_id is not None:
        return f"user:{actor.user_id}"
    return f"anonymous:{client_address(http)}"[:80]


def replayed(saved: tuple[int, dict[str, Any]]) -> JSONResponse:
    return JSONResponse(saved[1], status_code=saved[0], headers={"Idempotent-Replayed": "true"})


def run_idempotent(
    session: Session,
    actor: Actor,
    http: Request,
    key: str | None,
    body: Any,
    work: Callable[[], tuple[int, dict[str, Any]]],
) -> JSONResponse:
    """Run `work` and commit once, unless the key was used before: then answer with the saved response.

    A retry racing the first call may pass the replay check before the first call commits; it then fails
    (on the key's unique constraint, a workflow step no longer allowed, a row changed under it) and is
    answered with the winner's response instead of that failure.
    """
    slot = idempotency.slot_for(key, principal(actor, http), http.method, http.url.path, body)
    # A signed-in caller's key is checked when its record is written, at the end: a retry does the work again,
    # finds the key taken, rolls back and answers with the saved response (or the conflict). That spares every
    # first call a query; retries are rare. An anonymous caller's key is checked first, so that a retry does not
    # spend their submission rate limit.
    if actor.is_anonymous:
        saved = idempotency.replay(session, slot)
        if saved is not None:
            return replayed(saved)
    try:
        status_code, payload = work()
        idempotency.save(session, slot, status_code, payload)
        raced = idempotency.commit_or_replay(session, slot)
    except (ChengzhiError, IllegalTransition, IntegrityError):
        if slot is None:
            raise
        session.rollback()
        saved = idempotency.replay(session, slot)
        if saved is None:
            raise
        return replayed(saved)
    if raced is not None:
        return replayed(raced)
    return JSONResponse(payload, status_code=status_code)


def client_address(http: Request) -> str:
    return http.client.host if http.client else "unknown"
