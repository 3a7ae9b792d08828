"""Staff pages: the inbox of the signed-in user's scope and a read-only request page.

Both read through requests.service (list_requests, get_request, sees_contact, allowed_for, routing_suggestion), so
they show exactly what the API would: the same scope, the same masking. The actions are listed, not yet taken here:
each links to the API documentation.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from chengzhi.categories.service import list_categories
from chengzhi.deps import SessionDep
from chengzhi.errors import ChengzhiError
from chengzhi.i18n import Language, message
from chengzhi.org.models import Unit
from chengzhi.org.service import Actor
from chengzhi.requests import service as svc
from chengzhi.requests.models import Request as RequestRow
from chengzhi.requests.pages import TimelineEntry, not_found, tracked
from chengzhi.requests.workflow import ACTION_NAMES, STATUS_NAMES, Status
from chengzhi.web.i18n import N_, gettext
from chengzhi.web.templating import Chrome, chrome, page_actor, render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 20
CHANNELS = ("web", "phone", "app", "email", "import")
CHANNEL_NAMES = {
    "web": N_("Web"),
    "phone": N_("Phone call"),
    "app": N_("App"),
    "email": N_("E-mail"),
    "import": N_("Imported"),
}
# Deadline stages (requests.service dispatch_request and friends): what must happen by then.
STAGE_NAMES = {
    "sign": N_("Sign for it"),
    "contact": N_("Contact the resident"),
    "reply": N_("Reply"),
    "review": N_("Review with the resident"),
    "return": N_("Return a wrong dispatch"),
}


# ---------------------------------------------------------------- contexts


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


@dataclass
class InboxFilters:
    status: str = ""
    overdue: str = ""  # "", "yes", "no"
    category: str = ""
    channel: str = ""


@dataclass(frozen=True)
class InboxRow:
    tracking_number: str
    title: str
    category: str
    status: str
    status_code: str
    lead_unit: str | None
    received_at: dt.datetime
    due_at: dt.datetime | None
    overdue: bool


@dataclass
class InboxPage:
    items: list[InboxRow]
    filters: InboxFilters
    statuses: list[Choice]
    categories: list[Choice]
    channels: list[Choice]
    next_url: str | None
    first_url: str | None
    error: str | None = None


@dataclass(frozen=True)
class Deadline:
    stage: str
    name: str
    due_at: dt.datetime


@dataclass(frozen=True)
class AllowedAction:
    code: str
    name: str


@dataclass
class StaffRequestPage:
    tracking_number: str
    title: str
    text: str
    category: str
    status: str
    status_code: str
    channel: str
    channel_name: str
    received_at: dt.datetime
    address: str | None
    lat: float | None
    lon: float | None
    sees_contact: bool
    contact_name: str | None
    contact_phone: str | None
    contact_email: str | None
    lead_unit: str | None
    due_at: dt.datetime | None
    deadlines: list[Deadline]
    overdue: bool
    overdue_stage: str | None
    timeline: list[TimelineEntry]
    suggested_unit: str | None
    suggestion_reason: str
    actions: list[AllowedAction] = field(default_factory=list)


@dataclass
class ForbiddenPage:
    message: str


# ---------------------------------------------------------------- helpers


def _status(code: str, lang: Language) -> str:
    names = STATUS_NAMES.get(code, (code, code))
    return names[1] if lang == "en" else names[0]


def _channel(code: str, lang: Language) -> str:
    return gettext(lang, CHANNEL_NAMES[code]) if code in CHANNEL_NAMES else code


def _category(row: RequestRow, lang: Language) -> str:
    return row.category.name(lang) if row.category else gettext(lang, N_("Not yet classified"))


def _staff_or_refuse(request: Request, actor: Actor, frame: Chrome) -> Response | None:
    """Anonymous -> the sign-in page (and back); signed in but not staff -> a 403 page."""
    if actor.is_anonymous:
        return RedirectResponse(f"/login?next={quote(request.url.path, safe='/')}", status_code=303)
    if not actor.is_staff:
        text = gettext(frame.lang, N_("These pages are for the city's staff."))
        return render(request, "forbidden.html", ForbiddenPage(text), frame, status_code=403)
    return None


def _read_filters(request: Request) -> tuple[InboxFilters, svc.RequestFilters]:
    query = request.query_params
    shown = InboxFilters(
        status=query.get("status", "")[:20],
        overdue=query.get("overdue", "")[:3],
        category=query.get("category", "")[:40],
        channel=query.get("channel", "")[:20],
    )
    if shown.status not in {s.value for s in Status}:
        shown.status = ""
    if shown.overdue not in ("yes", "no"):
        shown.overdue = ""
    if shown.channel not in CHANNELS:
        shown.channel = ""
    filters = svc.RequestFilters(
        statuses=[shown.status] if shown.status else [],
        category=shown.category or None,
        channel=shown.channel or None,
        overdue={"yes": True, "no": False}.get(shown.overdue),
    )
    return shown, filters


def _inbox_url(shown: InboxFilters, before: int | None = None) -> str:
    params = {k: v for k, v in vars(shown).items() if v}
    if before is not None:
        params["before"] = str(before)
    return f"/staff?{urlencode(params)}" if params else "/staff"


def inbox_row(row: RequestRow, lang: Language) -> InboxRow:
    return InboxRow(
        tracking_number=row.tracking_number,
        title=row.title,
        category=_category(row, lang),
        status=_status(row.status, lang),
        status_code=row.status,
        lead_unit=row.lead_unit.name(lang) if row.lead_unit else None,
        received_at=row.received_at,
        due_at=row.due_at,
        overdue=row.overdue_stage is not None,
    )


# ---------------------------------------------------------------- pages


@router.get("/staff")
def staff_inbox(request: Request, session: SessionDep) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    refused = _staff_or_refuse(request, actor, frame)
    if refused is not None:
        return refused
    lang = frame.lang
    shown, filters = _read_filters(request)
    raw = request.query_params.get("before", "")
    before = int(raw) if raw.isascii() and raw.isdigit() and 0 < int(raw) < 2**31 else None
    error = None
    try:
        rows = svc.list_requests(session, actor, filters, before=before, limit=PAGE_SIZE)
    except ChengzhiError as exc:
        rows, error = [], message(exc.code, lang, exc.params)
    items = rows[:PAGE_SIZE]
    page = InboxPage(
        items=[inbox_row(r, lang) for r in items],
        filters=shown,
        statuses=[Choice(s.value, _status(s.value, lang)) for s in Status],
        categories=[Choice(c.code, c.name(lang)) for c in list_categories(session)],
        channels=[Choice(c, _channel(c, lang)) for c in CHANNELS],
        next_url=_inbox_url(shown, items[-1].id) if len(rows) > PAGE_SIZE else None,
        first_url=_inbox_url(shown) if before is not None else None,
        error=error,
    )
    return render(request, "staff_inbox.html", page, frame)


@router.get("/staff/requests/{number}")
def staff_request(number: str, request: Request, session: SessionDep) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    refused = _staff_or_refuse(request, actor, frame)
    if refused is not None:
        return refused
    lang = frame.lang
    ref = number[:20]
    try:
        row = svc.get_request(session, actor, ref)
    except ChengzhiError:
        return not_found(request, frame, message("request_not_found", lang, {"ref": ref}))
    paths = svc.unit_paths_of(session, row)
    sees = svc.sees_contact(session, actor, row, paths=paths)
    seen = tracked(session, row, lang)
    suggestion = svc.routing_suggestion(session, row)
    suggested = None
    if suggestion.unit_id is not None:
        unit = session.get(Unit, suggestion.unit_id)
        suggested = unit.name(lang) if unit else None
    deadlines = []
    for stage, when in sorted((row.deadlines or {}).items(), key=lambda item: item[1]):
        try:
            at = dt.datetime.fromisoformat(when)
        except (TypeError, ValueError):
            continue
        name = gettext(lang, STAGE_NAMES[stage]) if stage in STAGE_NAMES else stage
        deadlines.append(Deadline(stage, name, at if at.tzinfo else at.replace(tzinfo=dt.UTC)))
    page = StaffRequestPage(
        tracking_number=row.tracking_number,
        title=row.title,
        text=row.text,
        category=_category(row, lang),
        status=_status(row.status, lang),
        status_code=row.status,
        channel=row.channel,
        channel_name=_channel(row.channel, lang),
        received_at=row.received_at,
        address=row.address,
        lat=row.lat,
        lon=row.lon,
        sees_contact=sees,
        contact_name=row.contact_name if sees else svc.mask_name(row.contact_name),
        contact_phone=row.contact_phone if sees else svc.mask_phone(row.contact_phone),
        contact_email=row.contact_email if sees else svc.mask_email(row.contact_email),
        lead_unit=row.lead_unit.name(lang) if row.lead_unit else None,
        due_at=row.due_at,
        deadlines=deadlines,
        overdue=row.overdue_stage is not None,
        overdue_stage=row.overdue_stage,
        timeline=seen.timeline,
        suggested_unit=suggested,
        suggestion_reason=suggestion.reason(lang),
        actions=[
            AllowedAction(code, (ACTION_NAMES.get(code, (code, code)))[1 if lang == "en" else 0])
            for code in svc.allowed_for(session, actor, row, paths=paths)
        ],
    )
    return render(request, "staff_request.html", page, frame)
