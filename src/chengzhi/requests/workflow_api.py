"""The workflow's endpoints: one per step, POST /api/v1/requests/{ref}/<step>, each calling the step's function in
requests.service (included in api.py's router, between reading a request and its photos)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from chengzhi.deps import ActorDep, LanguageDep, SessionDep, SettingsDep
from chengzhi.errors import NotAuthenticated
from chengzhi.org.service import Actor
from chengzhi.requests import contact_views, lists, schemas
from chengzhi.requests import service as svc
from chengzhi.requests.api_common import IdempotencyKey, request_public, run_idempotent
from chengzhi.requests.models import Request as RequestRow

router = APIRouter()


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
    """Find the request (locked for the step), `perform` the step on it and answer with the request as it is
    afterwards: one transaction, retry-safe with an Idempotency-Key."""
    if actor.is_anonymous:
        raise NotAuthenticated()

    def work() -> tuple[int, dict[str, Any]]:
        request = lists.get_request(session, actor, ref, for_update=True)
        perform(request)
        session.flush()
        answer = request_public(session, actor, request, lang, with_events=True).model_dump(mode="json")
        contact_views.add_pending(session)  # committed with the step
        return 200, answer

    payload = body.model_dump(mode="json") if body is not None else {}
    return run_idempotent(session, actor, http, idempotency_key, payload, work)


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
