"""Residents' tracking pages: a request found by its number and the phone's last four digits (or, signed in, among
one's own), its timeline, and rating or reopening it.

Writes go through requests.service, as the API's do (steps taken by tracking number are the platform's, `SYSTEM`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from chengzhi.config import Settings
from chengzhi.deps import SessionDep, SettingsDep
from chengzhi.errors import ChengzhiError
from chengzhi.i18n import Language, message
from chengzhi.org import queries as org_queries
from chengzhi.org.service import Actor
from chengzhi.ratelimit import check_rate
from chengzhi.requests import access
from chengzhi.requests import service as svc
from chengzhi.requests.lists import get_by_tracking
from chengzhi.requests.log import SYSTEM, events_of, state_of
from chengzhi.requests.models import Request as RequestRow
from chengzhi.requests.pages import LAST4, client_of, form_text
from chengzhi.requests.workflow import Action, IllegalTransition, action_name, allowed_actions, status_name
from chengzhi.web.i18n import N_, NC_, gettext
from chengzhi.web.templating import Chrome, FormErrors, chrome, csrf_ok, not_found, page_actor, render

router = APIRouter(include_in_schema=False)


# ---------------------------------------------------------------- contexts


@dataclass(frozen=True)
class TimelineEntry:
    at: dt.datetime
    action: str
    action_name: str
    unit: str | None
    note: str | None


@dataclass
class TrackedRequest:
    tracking_number: str
    title: str
    text: str
    category: str
    status: str
    status_code: str
    received_at: dt.datetime
    address: str | None
    contact_phone: str | None
    timeline: list[TimelineEntry]
    can_review: bool
    can_reopen: bool
    resolved: bool | None
    satisfaction: int | None


@dataclass(frozen=True)
class MyRequest:
    tracking_number: str
    title: str
    status: str
    status_code: str
    received_at: dt.datetime


@dataclass
class TrackForm:
    tracking_number: str = ""
    phone_last4: str = ""


@dataclass
class ReviewForm:
    resolved: str = ""
    satisfaction: str = ""
    comment: str = ""


@dataclass
class TrackPage:
    form: TrackForm
    request: TrackedRequest | None = None
    mine: list[MyRequest] = field(default_factory=list)
    signed_in: bool = False
    by_account: bool = False
    review: ReviewForm = field(default_factory=ReviewForm)
    reopen_reason: str = ""
    notice: str | None = None
    errors: FormErrors = field(default_factory=FormErrors)


# ---------------------------------------------------------------- tracking


def tracked(session: Session, request: RequestRow, lang: Language) -> TrackedRequest:
    events = events_of(session, request)
    units = org_queries.units_by_id(session, (e.actor_unit_id for e in events if e.actor_unit_id))
    timeline = []
    for event in events:
        name = action_name(event.action, lang)
        if event.action == "dispatch" and (event.payload or {}).get("auto"):
            name = gettext(lang, NC_("request action", "Dispatched automatically"))
        unit = units.get(event.actor_unit_id) if event.actor_unit_id else None
        timeline.append(
            TimelineEntry(
                at=event.at,
                action=event.action,
                action_name=name,
                unit=unit.name(lang) if unit else None,
                note=event.note,
            )
        )
    possible = allowed_actions(state_of(request))
    return TrackedRequest(
        tracking_number=request.tracking_number,
        title=request.title,
        text=request.text,
        category=request.category.name(lang) if request.category else gettext(lang, N_("Not yet classified")),
        status=status_name(request.status, lang),
        status_code=request.status,
        received_at=request.received_at,
        address=request.address,
        contact_phone=access.mask_phone(request.contact_phone),
        timeline=timeline,
        can_review=Action.review in possible,
        can_reopen=Action.reopen in possible,
        resolved=request.resolved,
        satisfaction=request.satisfaction,
    )


def _mine(session: Session, actor: Actor, lang: Language) -> list[MyRequest]:
    if actor.user_id is None:
        return []
    query = (
        select(RequestRow)
        .where(RequestRow.submitter_id == actor.user_id)
        .order_by(RequestRow.id.desc())
        .limit(50)
    )
    return [
        MyRequest(r.tracking_number, r.title, status_name(r.status, lang), r.status, r.received_at)
        for r in session.scalars(query)
    ]


def _own(session: Session, actor: Actor, number: str) -> RequestRow | None:
    if actor.user_id is None:
        return None
    row = session.scalar(select(RequestRow).where(RequestRow.tracking_number == number))
    return row if row is not None and access.is_submitter(actor, row) else None


@router.get("/track")
def track_form(request: Request, session: SessionDep) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    page = TrackPage(
        form=TrackForm(tracking_number=request.query_params.get("number", "")[:20]),
        mine=_mine(session, actor, frame.lang),
        signed_in=not actor.is_anonymous,
    )
    return render(request, "track.html", page, frame)


@router.get("/track/{number}")
def track_mine(number: str, request: Request, session: SessionDep) -> Response:
    """A signed-in resident's own request, without typing the phone digits."""
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    row = _own(session, actor, number[:20])
    if row is None:
        if actor.is_anonymous:
            return RedirectResponse(f"/login?next=/track/{number[:20]}", status_code=303)
        return not_found(request, frame, message("request_not_found", frame.lang, {"ref": number[:20]}))
    page = TrackPage(
        form=TrackForm(tracking_number=row.tracking_number),
        request=tracked(session, row, frame.lang),
        signed_in=True,
        by_account=True,
    )
    return render(request, "track.html", page, frame)


def _read_track(form: FormData, lang: Language, errors: FormErrors) -> TrackForm:
    values = TrackForm(form_text(form, "tracking_number", 20), form_text(form, "phone_last4", 4))
    if not values.tracking_number or len(values.tracking_number) < 6:
        errors.add("tracking_number", gettext(lang, N_("Enter the tracking number you were given.")))
    if not LAST4.match(values.phone_last4):
        errors.add("phone_last4", gettext(lang, N_("Enter the last four digits of your phone number.")))
    return values


async def _locate(
    request: Request, session: Session, settings: Settings, actor: Actor, frame: Chrome, *, for_update: bool
) -> tuple[FormData | None, TrackPage, RequestRow | None]:
    """Read a tracking form and find its request: by number and phone digits, or as the signed-in owner."""
    lang = frame.lang
    page = TrackPage(form=TrackForm(), signed_in=not actor.is_anonymous)
    try:
        form = await request.form(max_files=0, max_fields=50)
    except StarletteHTTPException:
        page.errors.add("form", gettext(lang, N_("The form could not be read; fill it in again.")))
        return None, page, None
    if not csrf_ok(request, form):
        page.errors.add("form", message("csrf_failed", lang))
    number = form_text(form, "tracking_number", 20)
    own = _own(session, actor, number) if form.get("by_account") == "1" else None
    if own is not None:
        page.form, page.by_account = TrackForm(number), True
        return form, page, own if not page.errors else None
    page.form = _read_track(form, lang, page.errors)
    if page.errors:
        return form, page, None
    try:
        check_rate(settings.rate_limit_storage, "30/minute", "track", client_of(request))
        row = get_by_tracking(
            session, page.form.tracking_number, page.form.phone_last4, for_update=for_update
        )
    except ChengzhiError as exc:
        page.errors.add(
            "phone_last4" if exc.code == "tracking_mismatch" else "form", message(exc.code, lang, exc.params)
        )
        return form, page, None
    return form, page, row


@router.post("/track")
async def track(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    _form, page, row = await _locate(request, session, settings, actor, frame, for_update=False)
    page.mine = _mine(session, actor, frame.lang)
    if row is None:
        return render(request, "track.html", page, frame, status_code=422)
    page.request = tracked(session, row, frame.lang)
    return render(request, "track.html", page, frame)


@router.post("/track/review")
async def track_review(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    lang = frame.lang
    form, page, row = await _locate(request, session, settings, actor, frame, for_update=True)
    if form is None or row is None:
        return render(request, "track.html", page, frame, status_code=422)
    page.review = ReviewForm(
        resolved=form_text(form, "resolved", 5),
        satisfaction=form_text(form, "satisfaction", 1),
        comment=form_text(form, "comment", 2000),
    )
    if page.review.resolved not in ("yes", "no"):
        page.errors.add("resolved", gettext(lang, N_("Say whether the problem was solved.")))
    if page.review.satisfaction not in ("1", "2", "3", "4", "5"):
        page.errors.add("satisfaction", gettext(lang, N_("Choose how satisfied you are, from 1 to 5.")))
    if len(page.review.comment) > 2000:
        page.errors.add("comment", gettext(lang, N_("At most %(limit)s characters."), limit=2000))
    if not page.errors:
        try:
            svc.review_request(
                session,
                actor if page.by_account else SYSTEM,
                row,
                page.review.resolved == "yes",
                int(page.review.satisfaction),
                page.review.comment or None,
                by_tracking=not page.by_account,
            )
            session.commit()
        except (ChengzhiError, IllegalTransition) as exc:
            session.rollback()
            page.errors.add("review", _service_message(exc, lang))
        else:
            page.notice = gettext(lang, N_("Thank you: your rating was recorded."))
            page.review = ReviewForm()
    page.request = tracked(session, row, lang)
    return render(request, "track.html", page, frame, status_code=422 if page.errors else 200)


@router.post("/track/reopen")
async def track_reopen(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    lang = frame.lang
    form, page, row = await _locate(request, session, settings, actor, frame, for_update=True)
    if form is None or row is None:
        return render(request, "track.html", page, frame, status_code=422)
    page.reopen_reason = form_text(form, "reason", 2000)
    if not page.reopen_reason:
        page.errors.add("reason", message("reason_required", lang))
    elif len(page.reopen_reason) > 2000:
        page.errors.add("reason", gettext(lang, N_("At most %(limit)s characters."), limit=2000))
    if not page.errors:
        try:
            svc.reopen_request(
                session,
                actor if page.by_account else SYSTEM,
                row,
                page.reopen_reason,
                by_tracking=not page.by_account,
            )
            session.commit()
        except (ChengzhiError, IllegalTransition) as exc:
            session.rollback()
            page.errors.add("reason", _service_message(exc, lang))
        else:
            page.notice = gettext(
                lang, N_("Your request was reopened; the handling unit will take it up again.")
            )
            page.reopen_reason = ""
    page.request = tracked(session, row, lang)
    return render(request, "track.html", page, frame, status_code=422 if page.errors else 200)


def _service_message(exc: ChengzhiError | IllegalTransition, lang: Language) -> str:
    if isinstance(exc, IllegalTransition):
        return message("illegal_transition", lang, svc.illegal_to_message(exc))
    return message(exc.code, lang, exc.params)
