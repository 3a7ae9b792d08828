"""REST API of requests: intake, reading, every workflow step, photos, and tracking without an account."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, File, Header, Path, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chengzhi import idempotency
from chengzhi.db import MAX_ID
from chengzhi.deps import ActorDep, LanguageDep, SessionDep, SettingsDep
from chengzhi.errors import ChengzhiError, Forbidden, Invalid, NotAuthenticated, NotFound
from chengzhi.org import queries as org_queries
from chengzhi.org.models import Unit
from chengzhi.org.service import Actor
from chengzhi.ratelimit import check_rate
from chengzhi.requests import access, lists, schemas
from chengzhi.requests import service as svc
from chengzhi.requests.log import SYSTEM, events_of
from chengzhi.requests.models import Photo, RequestEvent
from chengzhi.requests.models import Request as RequestRow
from chengzhi.requests.photos import photo_token_valid, photos_of
from chengzhi.requests.steps import allowed_for, routing_suggestion
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


def event_public(
    event: RequestEvent, lang: str, user_names: dict[int, str], units: dict[int, Unit], staff_view: bool
) -> schemas.EventPublic:
    unit = units.get(event.actor_unit_id) if event.actor_unit_id else None
    user_name = user_names.get(event.actor_id) if event.actor_id else None
    payload = dict(event.payload or {})
    return schemas.EventPublic(
        seq=event.seq,
        action=event.action,
        action_name=action_name(event.action, lang),
        at=event.at,
        actor=user_name if staff_view else None,
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
    co_units = org_queries.units_by_id(session, request.co_unit_ids or [])
    photos = [
        schemas.PhotoPublic(
            id=p.id,
            content_type=p.content_type,
            size=p.size,
            width=p.width,
            height=p.height,
            url=f"/api/v1/requests/{request.tracking_number}/photos/{p.id}",
        )
        for p in ([] if fresh else photos_of(session, request))
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
        allowed_actions=allowed_for(session, actor, request, paths=paths),
    )
    if with_events:
        events = events_of(session, request)
        users = org_queries.display_names(session, (e.actor_id for e in events if e.actor_id))
        units = org_queries.units_by_id(session, (e.actor_unit_id for e in events if e.actor_unit_id))
        public.events = [event_public(e, lang, users, units, actor.is_staff) for e in events]
    if with_routing and actor.is_staff:
        public.routing = _routing(session, request, lang)
    return public


def _routing(session: Session, request: RequestRow, lang: str) -> schemas.RoutingPublic:
    suggestion = routing_suggestion(session, request)
    unit = org_queries.unit_or_none(session, suggestion.unit_id) if suggestion.unit_id else None
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
    filters = lists.RequestFilters(
        statuses=status or [],
        category=category,
        channel=channel,
        lead_unit_id=unit_id,
        overdue=overdue,
        received_from=lists.parse_when(received_from, "received_from"),
        received_to=lists.parse_when(received_to, "received_to"),
    )
    rows = lists.list_requests(session, actor, filters, before=before, limit=limit)
    items = [request_public(session, actor, r, lang) for r in rows[:limit]]
    return schemas.RequestPage(items=items, next_cursor=rows[limit - 1].id if len(rows) > limit else None)


@router.get("/requests/{ref}", response_model=schemas.RequestPublic, summary="One request with its timeline")
def read_request(ref: str, session: SessionDep, actor: ActorDep, lang: LanguageDep) -> schemas.RequestPublic:
    request = lists.get_request(session, actor, ref)
    return request_public(session, actor, request, lang, with_events=True, with_routing=True)


@router.get("/requests/{ref}/events", response_model=list[schemas.EventPublic], summary="The event log")
def read_events(
    ref: str, session: SessionDep, actor: ActorDep, lang: LanguageDep
) -> list[schemas.EventPublic]:
    request = lists.get_request(session, actor, ref)
    public = request_public(session, actor, request, lang, with_events=True)
    return public.events or []


@router.get(
    "/requests/{ref}/routing", response_model=schemas.RoutingPublic, summary="Where the rules send it"
)
def read_routing(ref: str, session: SessionDep, actor: ActorDep, lang: LanguageDep) -> schemas.RoutingPublic:
    request = lists.get_request(session, actor, ref)
    if not actor.is_staff:
        raise Forbidden()
    return _routing(session, request, lang)


# ---------------------------------------------------------------- workflow steps
#
# One endpoint per step: POST /requests/{ref}/<step>, one transaction, retry-safe with an Idempotency-Key, answered
# with the request as it is after the step. Each calls the step's function in requests.service.


def _take_step(
    ref: str,
    http: Request,
    session: Session,
    actor: Actor,
    lang: str,
    body: BaseModel | None,
    idempotency_key: str | None,
    perform: Callable[[RequestRow], object],
) -> JSONResponse:
    """Find the request (locked for the step), `perform` the step on it, answer with the request afterwards."""
    if actor.is_anonymous:
        raise NotAuthenticated()

    def work() -> tuple[int, dict[str, Any]]:
        request = lists.get_request(session, actor, ref, for_update=True)
        perform(request)
        session.flush()
        return 200, request_public(session, actor, request, lang, with_events=True).model_dump(mode="json")

    payload = body.model_dump(mode="json") if body is not None else {}
    return _run_idempotent(session, actor, http, idempotency_key, payload, work)


def _note(body: schemas.NoteBody | None) -> str | None:
    return body.note if body is not None else None


@router.post(
    "/requests/{ref}/answer",
    response_model=schemas.RequestPublic,
    summary="Answer a consultation at intake",
    name="request_answer",
)
def answer(
    ref: str,
    http: Request,
    session: SessionDep,
    actor: ActorDep,
    settings: SettingsDep,
    lang: LanguageDep,
    body: schemas.TextBody,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return _take_step(
        ref,
        http,
        session,
        actor,
        lang,
        body,
        idempotency_key,
        lambda request: svc.answer_at_intake(session, actor, request, body.text, settings),
    )


@router.post(
    "/requests/{ref}/dispatch",
    response_model=schemas.RequestPublic,
    summary="Dispatch to a lead unit and co-units",
    name="request_dispatch",
)
def dispatch(
    ref: str,
    http: Request,
    session: SessionDep,
    actor: ActorDep,
    settings: SettingsDep,
    lang: LanguageDep,
    body: schemas.DispatchBody,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return _take_step(
        ref,
        http,
        session,
        actor,
        lang,
        body,
        idempotency_key,
        lambda request: svc.dispatch_request(
            session,
            actor,
            request,
            body.lead_unit_id,
            settings,
            body.co_unit_ids,
            body.note,
            category_code=body.category,
        ),
    )


@router.post(
    "/requests/{ref}/sign",
    response_model=schemas.RequestPublic,
    summary="Sign for a dispatched request",
    name="request_sign",
)
def sign(
    ref: str,
    http: Request,
    session: SessionDep,
    actor: ActorDep,
    settings: SettingsDep,
    lang: LanguageDep,
    body: schemas.NoteBody | None = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return _take_step(
        ref,
        http,
        session,
        actor,
        lang,
        body,
        idempotency_key,
        lambda request: svc.sign_request(session, actor, request),
    )


@router.post(
    "/requests/{ref}/return",
    response_model=schemas.RequestPublic,
    summary="Return a wrong dispatch, with the reason",
    name="request_return",
)
def return_dispatch(
    ref: str,
    http: Request,
    session: SessionDep,
    actor: ActorDep,
    settings: SettingsDep,
    lang: LanguageDep,
    body: schemas.ReasonBody,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return _take_step(
        ref,
        http,
        session,
        actor,
        lang,
        body,
        idempotency_key,
        lambda request: svc.return_request(session, actor, request, body.reason),
    )


@router.post(
    "/requests/{ref}/contact",
    response_model=schemas.RequestPublic,
    summary="Record the first contact with the resident",
    name="request_contact",
)
def contact(
    ref: str,
    http: Request,
    session: SessionDep,
    actor: ActorDep,
    settings: SettingsDep,
    lang: LanguageDep,
    body: schemas.NoteBody | None = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return _take_step(
        ref,
        http,
        session,
        actor,
        lang,
        body,
        idempotency_key,
        lambda request: svc.contact_resident(session, actor, request, _note(body)),
    )


@router.post(
    "/requests/{ref}/reply", response_model=schemas.RequestPublic, summary="Reply", name="request_reply"
)
def reply(
    ref: str,
    http: Request,
    session: SessionDep,
    actor: ActorDep,
    settings: SettingsDep,
    lang: LanguageDep,
    body: schemas.TextBody,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return _take_step(
        ref,
        http,
        session,
        actor,
        lang,
        body,
        idempotency_key,
        lambda request: svc.reply_request(session, actor, request, body.text, settings),
    )


@router.post(
    "/requests/{ref}/review",
    response_model=schemas.RequestPublic,
    summary="Rate the result (resident) or record the follow-up visit (supervisor)",
    name="request_review",
)
def review(
    ref: str,
    http: Request,
    session: SessionDep,
    actor: ActorDep,
    settings: SettingsDep,
    lang: LanguageDep,
    body: schemas.ReviewBody,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return _take_step(
        ref,
        http,
        session,
        actor,
        lang,
        body,
        idempotency_key,
        lambda request: svc.review_request(
            session, actor, request, body.resolved, body.satisfaction, body.comment
        ),
    )


@router.post(
    "/requests/{ref}/close", response_model=schemas.RequestPublic, summary="Close", name="request_close"
)
def close(
    ref: str,
    http: Request,
    session: SessionDep,
    actor: ActorDep,
    settings: SettingsDep,
    lang: LanguageDep,
    body: schemas.NoteBody | None = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return _take_step(
        ref,
        http,
        session,
        actor,
        lang,
        body,
        idempotency_key,
        lambda request: svc.close_request(session, actor, request, _note(body)),
    )


@router.post(
    "/requests/{ref}/reopen", response_model=schemas.RequestPublic, summary="Reopen", name="request_reopen"
)
def reopen(
    ref: str,
    http: Request,
    session: SessionDep,
    actor: ActorDep,
    settings: SettingsDep,
    lang: LanguageDep,
    body: schemas.ReasonBody,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return _take_step(
        ref,
        http,
        session,
        actor,
        lang,
        body,
        idempotency_key,
        lambda request: svc.reopen_request(session, actor, request, body.reason),
    )


@router.post(
    "/requests/{ref}/extension",
    response_model=schemas.RequestPublic,
    summary="Ask for more time",
    name="request_extension",
)
def ask_extension(
    ref: str,
    http: Request,
    session: SessionDep,
    actor: ActorDep,
    settings: SettingsDep,
    lang: LanguageDep,
    body: schemas.ExtensionBody,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return _take_step(
        ref,
        http,
        session,
        actor,
        lang,
        body,
        idempotency_key,
        lambda request: svc.request_extension(session, actor, request, body.days, body.reason),
    )


@router.post(
    "/requests/{ref}/extension/approve",
    response_model=schemas.RequestPublic,
    summary="Approve the extension",
    name="request_extension_approve",
)
def approve_extension(
    ref: str,
    http: Request,
    session: SessionDep,
    actor: ActorDep,
    settings: SettingsDep,
    lang: LanguageDep,
    body: schemas.DecisionBody,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return _take_step(
        ref,
        http,
        session,
        actor,
        lang,
        body,
        idempotency_key,
        lambda request: svc.decide_extension(session, actor, request, True, settings, body.note),
    )


@router.post(
    "/requests/{ref}/extension/refuse",
    response_model=schemas.RequestPublic,
    summary="Refuse the extension",
    name="request_extension_refuse",
)
def refuse_extension(
    ref: str,
    http: Request,
    session: SessionDep,
    actor: ActorDep,
    settings: SettingsDep,
    lang: LanguageDep,
    body: schemas.DecisionBody,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return _take_step(
        ref,
        http,
        session,
        actor,
        lang,
        body,
        idempotency_key,
        lambda request: svc.decide_extension(session, actor, request, False, settings, body.note),
    )


@router.post(
    "/requests/{ref}/supervise",
    response_model=schemas.RequestPublic,
    summary="Add a supervision note",
    name="request_supervise",
)
def supervise(
    ref: str,
    http: Request,
    session: SessionDep,
    actor: ActorDep,
    settings: SettingsDep,
    lang: LanguageDep,
    body: schemas.RequiredNoteBody,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return _take_step(
        ref,
        http,
        session,
        actor,
        lang,
        body,
        idempotency_key,
        lambda request: svc.supervise_request(session, actor, request, body.note),
    )


@router.post(
    "/requests/{ref}/co-handle",
    response_model=schemas.RequestPublic,
    summary="Summon co-units (吹哨报到)",
    name="request_co_handle",
)
def co_handle(
    ref: str,
    http: Request,
    session: SessionDep,
    actor: ActorDep,
    settings: SettingsDep,
    lang: LanguageDep,
    body: schemas.CoHandleBody,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return _take_step(
        ref,
        http,
        session,
        actor,
        lang,
        body,
        idempotency_key,
        lambda request: svc.co_handle_request(session, actor, request, body.unit_ids, body.note),
    )


@router.post(
    "/requests/{ref}/merge",
    response_model=schemas.RequestPublic,
    summary="Merge into another request's issue",
    name="request_merge",
)
def merge(
    ref: str,
    http: Request,
    session: SessionDep,
    actor: ActorDep,
    settings: SettingsDep,
    lang: LanguageDep,
    body: schemas.MergeBody,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    def perform(request: RequestRow) -> object:
        into = lists.get_request(session, actor, body.into, for_update=True)
        return svc.merge_request(session, actor, request, into, body.note)

    return _take_step(ref, http, session, actor, lang, body, idempotency_key, perform)


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
        if request is None or not photo_token_valid(session, request, x_photo_token):
            raise NotFound("request_not_found", ref=ref)
    else:
        request = lists.get_request(session, actor, ref)
        if not access.is_submitter(actor, request) and not actor.is_staff:
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
    request = lists.get_by_tracking(session, body.tracking_number, body.phone_last4)
    return request_public(session, SYSTEM, request, lang, with_events=True, contact_visible=False)


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
    request = lists.get_by_tracking(session, body.tracking_number, body.phone_last4, for_update=True)
    svc.review_request(
        session, SYSTEM, request, body.resolved, body.satisfaction, body.comment, by_tracking=True
    )
    session.commit()
    return request_public(session, SYSTEM, request, lang, with_events=True, contact_visible=False)


@router.post("/track/reopen", response_model=schemas.RequestPublic, summary="Reopen without an account")
def track_reopen(
    body: schemas.TrackReopenBody,
    http: Request,
    session: SessionDep,
    settings: SettingsDep,
    lang: LanguageDep,
) -> schemas.RequestPublic:
    check_rate(settings.rate_limit_storage, "30/minute", "track", _client_address(http))
    request = lists.get_by_tracking(session, body.tracking_number, body.phone_last4, for_update=True)
    svc.reopen_request(session, SYSTEM, request, body.reason, by_tracking=True)
    session.commit()
    return request_public(session, SYSTEM, request, lang, with_events=True, contact_visible=False)
