"""REST API of requests: intake, reading, every workflow step, photos, and tracking without an account."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext, suppress
from functools import lru_cache
from queue import Empty, SimpleQueue
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chengzhi import idempotency
from chengzhi.config import Settings
from chengzhi.db import MAX_ID, autocommit_engine, get_sessionmaker, sqlite_write_gate
from chengzhi.deps import (
    ActorDep,
    LanguageDep,
    SessionDep,
    SettingsDep,
    actor_of,
    bearer_token,
    open_session,
)
from chengzhi.errors import ChengzhiError, Forbidden, Invalid, NotAuthenticated
from chengzhi.i18n import Language, negotiate_language
from chengzhi.org.service import Actor
from chengzhi.ratelimit import check_rate
from chengzhi.requests import acknowledge, contact_views, lists, photos_api, schemas, workflow_api
from chengzhi.requests import service as svc
from chengzhi.requests.api_common import (
    IdempotencyKey,
    client_address,
    principal,
    replayed,
    request_public,
    routing_public,
)
from chengzhi.requests.log import SYSTEM

router = APIRouter(prefix="/api/v1", tags=["requests"])
T = TypeVar("T")


@router.post(
    "/requests",
    status_code=201,
    response_model=schemas.RequestCreated,
    summary="Submit a request",
    responses={201: {"model": schemas.RequestCreated}},
)
async def submit(
    body: schemas.RequestCreate, http: Request, idempotency_key: IdempotencyKey = None
) -> Response:
    """Anyone may submit (anonymous submissions are rate-limited per address); the request is committed
    before 201 is returned."""
    # The busiest endpoint: the session, the caller and the intake run in one trip to a worker thread (each
    # synchronous dependency would be a trip of its own; docs/scaling.md). The settings and the language are
    # read here rather than as dependencies, which FastAPI would solve at every call.
    settings: Settings = http.app.state.settings
    lang = negotiate_language(http, settings.default_language)
    return await run_submit(settings, body, http, lang, idempotency_key)


async def run_submit(
    settings: Settings,
    body: schemas.RequestCreate,
    http: Request,
    lang: Language,
    idempotency_key: str | None,
) -> Response:
    """`_submit` off the event loop: on SQLite in intake's own thread (one writer, first come first served), else
    in the thread pool."""
    if settings.is_sqlite:
        writer = _intake_thread(make_url(settings.database_url).database)
        return await writer.run(_submit, body, http, settings, lang, idempotency_key)
    return await run_in_threadpool(_submit, body, http, settings, lang, idempotency_key)


class IntakeThread:
    """Runs calls one after another in a thread of its own, in the order they came. SQLite has one writer: 32
    clients' submissions in 32 pool threads took turns at the write gate, each turn a thread switch and a fight for
    the GIL; here they wait as items of a queue, and the thread goes from one to the next. It ends after
    `IDLE_SECONDS` without work (and starts again with the next call), so no thread outlives the load."""

    IDLE_SECONDS = 2.0

    def __init__(self) -> None:
        self._calls: SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...], asyncio.Future[Any]]] = (
            SimpleQueue()
        )
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    async def run(self, func: Callable[..., T], *args: Any) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._calls.put((func, args, future))
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="chengzhi-intake", daemon=True)
                self._thread.start()
        return await future

    def _work(self) -> None:
        while True:
            try:
                func, args, future = self._calls.get(timeout=self.IDLE_SECONDS)
            except Empty:
                with self._lock:
                    if self._calls.empty():
                        self._thread = None
                        return
                continue
            result, error = None, None
            try:
                result = func(*args)
            except BaseException as exc:
                error = exc
            # RuntimeError: the caller's event loop has closed, nobody waits for this answer.
            with suppress(RuntimeError):
                future.get_loop().call_soon_threadsafe(_settle, future, result, error)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():  # the client went away; the submission was written all the same
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


@lru_cache(maxsize=8)
def _intake_thread(database: str | None) -> IntakeThread:
    return IntakeThread()


def _submit(
    body: schemas.RequestCreate,
    http: Request,
    settings: Settings,
    lang: Language,
    idempotency_key: str | None,
) -> Response:
    if not settings.is_sqlite and bearer_token(http):
        # Intake by token (PostgreSQL): an API client's submission is one statement (requests/intake_sql.py) that
        # commits by itself, so no BEGIN and COMMIT round trips. An anonymous caller's also keeps a photo token
        # (a second statement): it takes the transaction below.
        with get_sessionmaker(settings.database_url)(
            bind=autocommit_engine(settings.database_url)
        ) as session:
            actor = actor_of(http, session)
            return _submit_as(session, actor, body, http, settings, lang, idempotency_key, committed=True)
    # SQLite: submissions queue for the one writer in Python, not in SQLite's busy handler (db.sqlite_write_gate).
    gate: AbstractContextManager[object] = (
        sqlite_write_gate(make_url(settings.database_url).database) if settings.is_sqlite else nullcontext()
    )
    with gate, open_session(http) as session:
        actor = actor_of(http, session)
        return _submit_as(session, actor, body, http, settings, lang, idempotency_key)


def _submit_as(
    session: Session,
    actor: Actor,
    body: schemas.RequestCreate,
    http: Request,
    settings: Settings,
    lang: Language,
    idempotency_key: str | None,
    *,
    committed: bool = False,
) -> Response:
    """Intake's lean path: one statement writes the request, its hub, its first event, its outbox row and the saved
    answer (PostgreSQL), and the answer is the JSON text written with it (requests/acknowledge.py). The same
    guarantees as `run_idempotent`: committed before 201, a retry answered with the first answer. `committed`:
    the session's statements commit each by itself (db.autocommit_engine), so intake must be one statement."""
    slot = idempotency.slot_for(
        idempotency_key, principal(actor, http), http.method, http.url.path, body.model_dump(mode="json")
    )
    token: str | None = None
    if actor.is_anonymous:
        # Checked first for an anonymous caller: a retry answered from the saved response costs nothing and does
        # not spend the submission rate limit.
        saved = idempotency.replay(session, slot)
        if saved is not None:
            return replayed(saved)
    try:
        if actor.is_anonymous:
            check_rate(
                settings.rate_limit_storage, settings.anonymous_submit_rate, "submit", client_address(http)
            )
            if not body.consent:
                # Without leave to use the contact details nobody could reach an anonymous resident.
                raise Invalid("contact_required")
            token = svc.new_photo_token()
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
        answer = svc.Acknowledgement(
            render=lambda received: acknowledge.created(received, session, actor, lang, token), slot=slot
        )
        received = svc.receive(session, actor, data, settings, acknowledgement=answer)
        if token is not None:
            if committed:
                raise RuntimeError("an anonymous submission cannot be written statement by statement")
            svc.keep_photo_token(session, received.row["id"], token)
        if not committed:
            session.commit()
    except (ChengzhiError, IntegrityError):
        # A signed-in caller's retry does the work again and meets its key taken in the same statement.
        if slot is None:
            raise
        session.rollback()
        saved = idempotency.replay(session, slot)
        if saved is None:
            raise
        return replayed(saved)
    return Response(received.acknowledgement, status_code=201, media_type="application/json")


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
    contact_views.save(session)
    return schemas.RequestPage(items=items, next_cursor=rows[limit - 1].id if len(rows) > limit else None)


@router.get("/requests/{ref}", response_model=schemas.RequestPublic, summary="One request with its timeline")
def read_request(ref: str, session: SessionDep, actor: ActorDep, lang: LanguageDep) -> schemas.RequestPublic:
    request = lists.get_request(session, actor, ref)
    public = request_public(session, actor, request, lang, with_events=True, with_routing=True)
    contact_views.save(session)
    return public


@router.get("/requests/{ref}/events", response_model=list[schemas.EventPublic], summary="The event log")
def read_events(
    ref: str, session: SessionDep, actor: ActorDep, lang: LanguageDep
) -> list[schemas.EventPublic]:
    request = lists.get_request(session, actor, ref)
    public = request_public(session, actor, request, lang, with_events=True)
    contact_views.save(session)
    return public.events or []


@router.get(
    "/requests/{ref}/routing", response_model=schemas.RoutingPublic, summary="Where the rules send it"
)
def read_routing(ref: str, session: SessionDep, actor: ActorDep, lang: LanguageDep) -> schemas.RoutingPublic:
    request = lists.get_request(session, actor, ref)
    if not actor.is_staff:
        raise Forbidden()
    return routing_public(session, request, lang)


# ---------------------------------------------------------------- workflow steps (workflow_api.py)


router.include_router(workflow_api.router)


# ---------------------------------------------------------------- photos (photos_api.py)


router.include_router(photos_api.router)


# ---------------------------------------------------------------- tracking without an account


@router.post("/track", response_model=schemas.RequestPublic, summary="Track a request by number and phone")
def track(
    body: schemas.TrackBody, http: Request, session: SessionDep, settings: SettingsDep, lang: LanguageDep
) -> schemas.RequestPublic:
    check_rate(settings.rate_limit_storage, "30/minute", "track", client_address(http))
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
    check_rate(settings.rate_limit_storage, "30/minute", "track", client_address(http))
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
    check_rate(settings.rate_limit_storage, "30/minute", "track", client_address(http))
    request = lists.get_by_tracking(session, body.tracking_number, body.phone_last4, for_update=True)
    svc.reopen_request(session, SYSTEM, request, body.reason, by_tracking=True)
    session.commit()
    return request_public(session, SYSTEM, request, lang, with_events=True, contact_visible=False)
