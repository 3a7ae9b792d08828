"""REST API of requests: intake, reading, every workflow step, photos, and tracking without an account."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, File, Header, Path, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, lazyload

from chengzhi import idempotency
from chengzhi.config import Settings
from chengzhi.db import MAX_ID
from chengzhi.deps import ActorDep, LanguageDep, SessionDep, SettingsDep
from chengzhi.errors import ChengzhiError, Forbidden, Invalid, NotAuthenticated, NotFound
from chengzhi.org.models import Unit, User
from chengzhi.org.service import Actor
from chengzhi.ratelimit import check_rate
from chengzhi.requests import access, schemas
from chengzhi.requests import service as svc
from chengzhi.requests.models import Photo, RequestEvent
from chengzhi.requests.models import Request as RequestRow
from chengzhi.requests.workflow import IllegalTransition, action_name, status_name
from chengzhi.routing import triage

router = APIRouter(prefix="/api/v1", tags=["requests"])

IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", description="Retry-safe POST: the same key returns the first response."),
]


def _unit_ref(unit: Unit | None, lang: str) -> schemas.UnitRef | None:
    if unit is None:
        return None
    return schemas.UnitRef(id=unit.id, code=unit.code, name=unit.name(lang), kind=unit.kind.value)


def _units(session: Session, ids: list[int]) -> dict[int, Unit]:
    if not ids:
        return {}
    return {u.id: u for u in session.scalars(select(Unit).where(Unit.id.in_(ids)))}


def event_public(
    event: RequestEvent, lang: str, users: dict[int, User], units: dict[int, Unit], staff_view: bool
) -> schemas.EventPublic:
    unit = units.get(event.actor_unit_id) if event.actor_unit_id else None
    user = users.get(event.actor_id) if event.actor_id else None
    payload = dict(event.payload or {})
    return schemas.EventPublic(
        seq=event.seq,
        action=event.action,
        action_name=action_name(event.action, lang),
        at=event.at,
        actor=(user.display_name if user else None) if staff_view else None,
        unit=unit.name(lang) if unit else None,
        note=event.note,
        payload=payload,
    )


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
    visible = (
        access.sees_contact(session, actor, request, paths=paths)
        if contact_visible is None
        else contact_visible
    )
    contact = schemas.ContactPublic(
        name=request.contact_name if visible else access.mask_name(request.contact_name),
        phone=request.contact_phone if visible else access.mask_phone(request.contact_phone),
        email=request.contact_email if visible else access.mask_email(request.contact_email),
        masked=not visible,
    )
    co_units = _units(session, list(request.co_unit_ids or []))
    photos = [
        schemas.PhotoPublic(
            id=p.id,
            content_type=p.content_type,
            size=p.size,
            width=p.width,
            height=p.height,
            url=f"/api/v1/requests/{request.tracking_number}/photos/{p.id}",
        )
        for p in ([] if fresh else svc.photos_of(session, request))
    ]
    public = schemas.RequestPublic(
        id=request.id,
        tracking_number=request.tracking_number,
        title=request.title,
        text=request.text,
        channel=request.channel,
        category=schemas.CategoryRef(code=request.category.code, name=request.category.name(lang))
        if request.category
        else None,
        priority=request.priority,
        status=request.status,
        status_name=status_name(request.status, lang),
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
        reply=request.reply_text,
        replied_at=request.replied_at,
        closed_at=request.closed_at,
        resolved=request.resolved,
        satisfaction=request.satisfaction,
        reopen_count=request.reopen_count,
        return_count=request.return_count,
        attributes=request.attributes or {},
        photos=photos,
        allowed_actions=svc.allowed_for(session, actor, request, paths=paths),
    )
    if with_events:
        events = svc.events_of(session, request)
        user_ids = {e.actor_id for e in events if e.actor_id}
        # Only names are shown: the users' roles are not loaded.
        query = select(User).where(User.id.in_(user_ids)).options(lazyload(User.roles))
        users = {u.id: u for u in session.scalars(query)} if user_ids else {}
        units = _units(session, [e.actor_unit_id for e in events if e.actor_unit_id])
        public.events = [event_public(e, lang, users, units, actor.is_staff) for e in events]
    if with_routing and actor.is_staff:
        public.routing = _routing(session, request, lang)
    return public


def _routing(session: Session, request: RequestRow, lang: str) -> schemas.RoutingPublic:
    suggestion = svc.routing_suggestion(session, request)
    unit = session.get(Unit, suggestion.unit_id) if suggestion.unit_id else None
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


def _principal(actor: Actor, http: Request) -> str:
    """Whose keys these are. Anonymous callers are told apart by address, so that one stranger's key can never
    replay another's response (which holds their contact details and photo token)."""
    if actor.user_id is not None:
        return f"user:{actor.user_id}"
    return f"anonymous:{_client_address(http)}"[:80]


def _replayed(saved: tuple[int, dict[str, Any]]) -> JSONResponse:
    return JSONResponse(saved[1], status_code=saved[0], headers={"Idempotent-Replayed": "true"})


def _run_idempotent(
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
    slot = idempotency.slot_for(key, _principal(actor, http), http.method, http.url.path, body)
    saved = idempotency.replay(session, slot)
    if saved is not None:
        return _replayed(saved)
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
        return _replayed(saved)
    if raced is not None:
        return _replayed(raced)
    return JSONResponse(payload, status_code=status_code)


def _client_address(http: Request) -> str:
    return http.client.host if http.client else "unknown"


@router.post(
    "/requests",
    status_code=201,
    response_model=schemas.RequestCreated,
    summary="Submit a request",
    responses={201: {"model": schemas.RequestCreated}},
)
def submit(
    body: schemas.RequestCreate,
    http: Request,
    session: SessionDep,
    actor: ActorDep,
    settings: SettingsDep,
    lang: LanguageDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Anyone may submit (anonymous submissions are rate-limited per address); the request is committed
    before 201 is returned."""

    def work() -> tuple[int, dict[str, Any]]:
        # Inside `work`: a retry answered from the saved response is not a new submission and costs nothing.
        if actor.is_anonymous:
            check_rate(
                settings.rate_limit_storage, settings.anonymous_submit_rate, "submit", _client_address(http)
            )
            if not body.consent:
                # Without leave to use the contact details nobody could reach an anonymous resident.
                raise Invalid("contact_required")
        data = svc.Submission(
            text=body.text,
            title=body.title,
            channel=body.channel,
            category_code=body.category,
            priority=body.priority,
            lat=body.lat,
            lon=body.lon,
            address=body.address,
            contact_name=body.contact_name,
            contact_phone=body.contact_phone,
            contact_email=body.contact_email,
            attributes=dict(body.attributes),
            language=lang,
        )
        paths: list[str] = []
        request = svc.submit_request(session, actor, data, settings, unit_paths=paths)
        token = svc.photo_token_for(session, request) if actor.is_anonymous else None
        session.flush()
        public = request_public(
            session, actor, request, lang, contact_visible=True, fresh=True, unit_paths=paths
        )
        created = schemas.RequestCreated(request=public, photo_token=token)
        return 201, created.model_dump(mode="json")

    return _run_idempotent(session, actor, http, idempotency_key, body.model_dump(mode="json"), work)


@router.get("/requests", response_model=schemas.RequestPage, summary="List the requests you may see")
def list_requests(
    session: SessionDep,
    actor: ActorDep,
    lang: LanguageDep,
    status: Annotated[list[str] | None, Query(description="One or more statuses.")] = None,
    category: Annotated[str | None, Query(max_length=40)] = None,
    channel: Annotated[str | None, Query(max_length=20)] = None,
    unit_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Lead unit.")] = None,
    overdue: bool | None = None,
    received_from: Annotated[str | None, Query(description="ISO 8601 datetime")] = None,
    received_to: Annotated[str | None, Query(description="ISO 8601 datetime")] = None,
    before: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Cursor: the next_cursor of the previous page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> schemas.RequestPage:
    if actor.is_anonymous:
        raise NotAuthenticated()
    filters = svc.RequestFilters(
        statuses=status or [],
        category=category,
        channel=channel,
        lead_unit_id=unit_id,
        overdue=overdue,
        received_from=svc.parse_when(received_from, "received_from"),
        received_to=svc.parse_when(received_to, "received_to"),
    )
    rows = svc.list_requests(session, actor, filters, before=before, limit=limit)
    items = [request_public(session, actor, r, lang) for r in rows[:limit]]
    return schemas.RequestPage(items=items, next_cursor=rows[limit - 1].id if len(rows) > limit else None)


@router.get("/requests/{ref}", response_model=schemas.RequestPublic, summary="One request with its timeline")
def read_request(ref: str, session: SessionDep, actor: ActorDep, lang: LanguageDep) -> schemas.RequestPublic:
    request = svc.get_request(session, actor, ref)
    return request_public(session, actor, request, lang, with_events=True, with_routing=True)


@router.get("/requests/{ref}/events", response_model=list[schemas.EventPublic], summary="The event log")
def read_events(
    ref: str, session: SessionDep, actor: ActorDep, lang: LanguageDep
) -> list[schemas.EventPublic]:
    request = svc.get_request(session, actor, ref)
    public = request_public(session, actor, request, lang, with_events=True)
    return public.events or []


@router.get(
    "/requests/{ref}/routing", response_model=schemas.RoutingPublic, summary="Where the rules send it"
)
def read_routing(ref: str, session: SessionDep, actor: ActorDep, lang: LanguageDep) -> schemas.RoutingPublic:
    request = svc.get_request(session, actor, ref)
    if not actor.is_staff:
        raise Forbidden()
    return _routing(session, request, lang)


# ---------------------------------------------------------------- workflow steps


def _step(
    name: str,
    body_model: type[Any] | None,
    perform: Callable[[Session, Actor, RequestRow, Any, Settings], object],
    summary: str,
) -> None:
    """Register POST /requests/{ref}/{name}: one workflow step, one transaction, retry-safe."""

    def endpoint(
        ref: str,
        http: Request,
        session: SessionDep,
        actor: ActorDep,
        settings: SettingsDep,
        lang: LanguageDep,
        body: Any = None,
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        if actor.is_anonymous:
            raise NotAuthenticated()

        def work() -> tuple[int, dict[str, Any]]:
            request = svc.get_request(session, actor, ref, for_update=True)
            perform(session, actor, request, body, settings)
            session.flush()
            return 200, request_public(session, actor, request, lang, with_events=True).model_dump(
                mode="json"
            )

        payload = body.model_dump(mode="json") if body is not None else {}
        return _run_idempotent(session, actor, http, idempotency_key, payload, work)

    signature = inspect.signature(endpoint)
    parameters = []
    for parameter in signature.parameters.values():
        if parameter.name == "body":
            if body_model is None:
                parameter = parameter.replace(annotation=schemas.NoteBody | None, default=None)
            else:
                parameter = parameter.replace(annotation=body_model, default=inspect.Parameter.empty)
        parameters.append(parameter)
    parameters.sort(key=lambda p: p.default is not inspect.Parameter.empty)
    endpoint.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    router.add_api_route(
        f"/requests/{{ref}}/{name}",
        endpoint,
        methods=["POST"],
        response_model=schemas.RequestPublic,
        summary=summary,
        name=f"request_{name.replace('/', '_').replace('-', '_')}",
    )


def _merge(
    session: Session, actor: Actor, request: RequestRow, body: schemas.MergeBody, _s: Settings
) -> object:
    into = svc.get_request(session, actor, body.into, for_update=True)
    return svc.merge_request(session, actor, request, into, body.note)


_step(
    "answer",
    schemas.TextBody,
    lambda s, a, r, b, st: svc.answer_at_intake(s, a, r, b.text, st),
    "Answer a consultation at intake",
)
_step(
    "dispatch",
    schemas.DispatchBody,
    lambda s, a, r, b, st: svc.dispatch_request(
        s, a, r, b.lead_unit_id, st, b.co_unit_ids, b.note, category_code=b.category
    ),
    "Dispatch to a lead unit and co-units",
)
_step("sign", None, lambda s, a, r, b, st: svc.sign_request(s, a, r), "Sign for a dispatched request")
_step(
    "return",
    schemas.ReasonBody,
    lambda s, a, r, b, st: svc.return_request(s, a, r, b.reason),
    "Return a wrong dispatch, with the reason",
)
_step(
    "contact",
    None,
    lambda s, a, r, b, st: svc.contact_resident(s, a, r, b.note if b else None),
    "Record the first contact with the resident",
)
_step("reply", schemas.TextBody, lambda s, a, r, b, st: svc.reply_request(s, a, r, b.text, st), "Reply")
_step(
    "review",
    schemas.ReviewBody,
    lambda s, a, r, b, st: svc.review_request(s, a, r, b.resolved, b.satisfaction, b.comment),
    "Rate the result (resident) or record the follow-up visit (supervisor)",
)
_step("close", None, lambda s, a, r, b, st: svc.close_request(s, a, r, b.note if b else None), "Close")
_step("reopen", schemas.ReasonBody, lambda s, a, r, b, st: svc.reopen_request(s, a, r, b.reason), "Reopen")
_step(
    "extension",
    schemas.ExtensionBody,
    lambda s, a, r, b, st: svc.request_extension(s, a, r, b.days, b.reason),
    "Ask for more time",
)
_step(
    "extension/approve",
    schemas.DecisionBody,
    lambda s, a, r, b, st: svc.decide_extension(s, a, r, True, st, b.note),
    "Approve the extension",
)
_step(
    "extension/refuse",
    schemas.DecisionBody,
    lambda s, a, r, b, st: svc.decide_extension(s, a, r, False, st, b.note),
    "Refuse the extension",
)
_step(
    "supervise",
    schemas.RequiredNoteBody,
    lambda s, a, r, b, st: svc.supervise_request(s, a, r, b.note),
    "Add a supervision note",
)
_step(
    "co-handle",
    schemas.CoHandleBody,
    lambda s, a, r, b, st: svc.co_handle_request(s, a, r, b.unit_ids, b.note),
    "Summon co-units (吹哨报到)",
)
_step("merge", schemas.MergeBody, _merge, "Merge into another request's issue")


# ---------------------------------------------------------------- photos


@router.post(
    "/requests/{ref}/photos", status_code=201, response_model=schemas.PhotoPublic, summary="Attach a photo"
)
async def upload_photo(
    ref: str,
    session: SessionDep,
    actor: ActorDep,
    settings: SettingsDep,
    photo: Annotated[UploadFile, File(description="JPEG, PNG or WebP")],
    x_photo_token: Annotated[str | None, Header(alias="X-Photo-Token")] = None,
) -> schemas.PhotoPublic:
    if x_photo_token:
        request = session.scalar(select(RequestRow).where(RequestRow.tracking_number == ref))
        if request is None or not svc.photo_token_valid(session, request, x_photo_token):
            raise NotFound("request_not_found", ref=ref)
    else:
        request = svc.get_request(session, actor, ref)
        own = request.submitter_id is not None and request.submitter_id == actor.user_id
        if not own and not actor.is_staff:
            raise Forbidden()
    content = await photo.read(settings.max_photo_bytes + 1)
    stored = svc.add_photo(session, request, content, settings)
    session.commit()
    return schemas.PhotoPublic(
        id=stored.id,
        content_type=stored.content_type,
        size=stored.size,
        width=stored.width,
        height=stored.height,
        url=f"/api/v1/requests/{request.tracking_number}/photos/{stored.id}",
    )


@router.get("/requests/{ref}/photos/{photo_id}", summary="A photo's file", response_class=FileResponse)
def read_photo(
    ref: str,
    photo_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    session: SessionDep,
    actor: ActorDep,
    settings: SettingsDep,
) -> FileResponse:
    request = session.scalar(select(RequestRow).where(RequestRow.tracking_number == ref))
    photo = session.get(Photo, photo_id)
    if request is None or photo is None or photo.request_id != request.id:
        raise NotFound()
    if not actor.is_anonymous and not access.can_view(session, actor, request):
        raise NotFound()
    path = settings.media_dir / photo.stored_name
    if not path.exists():
        raise NotFound()
    return FileResponse(path, media_type=photo.content_type)


# ---------------------------------------------------------------- tracking without an account


@router.post("/track", response_model=schemas.RequestPublic, summary="Track a request by number and phone")
def track(
    body: schemas.TrackBody, http: Request, session: SessionDep, settings: SettingsDep, lang: LanguageDep
) -> schemas.RequestPublic:
    check_rate(settings.rate_limit_storage, "30/minute", "track", _client_address(http))
    request = svc.get_by_tracking(session, body.tracking_number, body.phone_last4)
    return request_public(session, svc.SYSTEM, request, lang, with_events=True, contact_visible=False)


@router.post(
    "/track/review", response_model=schemas.RequestPublic, summary="Rate the result without an account"
)
def track_review(
    body: schemas.TrackReviewBody,
    http: Request,
    session: SessionDep,
    settings: SettingsDep,
    lang: LanguageDep,
) -> schemas.RequestPublic:
    check_rate(settings.rate_limit_storage, "30/minute", "track", _client_address(http))
    request = svc.get_by_tracking(session, body.tracking_number, body.phone_last4, for_update=True)
    svc.review_request(
        session, svc.SYSTEM, request, body.resolved, body.satisfaction, body.comment, by_tracking=True
    )
    session.commit()
    return request_public(session, svc.SYSTEM, request, lang, with_events=True, contact_visible=False)


@router.post("/track/reopen", response_model=schemas.RequestPublic, summary="Reopen without an account")
def track_reopen(
    body: schemas.TrackReopenBody,
    http: Request,
    session: SessionDep,
    settings: SettingsDep,
    lang: LanguageDep,
) -> schemas.RequestPublic:
    check_rate(settings.rate_limit_storage, "30/minute", "track", _client_address(http))
    request = svc.get_by_tracking(session, body.tracking_number, body.phone_last4, for_update=True)
    svc.reopen_request(session, svc.SYSTEM, request, body.reason, by_tracking=True)
    session.commit()
    return request_public(session, svc.SYSTEM, request, lang, with_events=True, contact_visible=False)
