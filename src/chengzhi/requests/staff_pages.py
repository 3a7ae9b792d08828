"""Staff pages: the inbox of the signed-in user's scope and the request page with a form for every step the user
may take (the forms are handled in staff_actions).

Both read through the requests domain's functions (lists.list_requests and get_request, access.sees_contact,
steps.allowed_for and routing_suggestion), so they show exactly what the API would: the same scope, the same masking.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from chengzhi.categories.service import list_categories
from chengzhi.categories.timelimits import STAGE_NAMES
from chengzhi.deps import SessionDep, SettingsDep
from chengzhi.errors import ChengzhiError
from chengzhi.i18n import Language, message
from chengzhi.open311.delivery import DeliveryPanel, page_panel
from chengzhi.org import queries as org_queries
from chengzhi.org.models import Role
from chengzhi.org.service import Actor
from chengzhi.requests import access, contact_views
from chengzhi.requests.lists import RequestFilters, count_requests_by_status, get_request, list_requests
from chengzhi.requests.models import Request as RequestRow
from chengzhi.requests.people import PersonRequest, channel_name, linked_requests, person_rows
from chengzhi.requests.photos import photos_of
from chengzhi.requests.staff_common import (
    DONE_NAMES,
    ActionForms,
    UnitGroup,
    button_name,
    staff_only,
    unit_groups,
)
from chengzhi.requests.steps import allowed_for, routing_suggestion
from chengzhi.requests.track_pages import TimelineEntry, tracked
from chengzhi.requests.workflow import Status, status_name
from chengzhi.routing import service as routing_service
from chengzhi.routing import triage
from chengzhi.web.i18n import N_, gettext
from chengzhi.web.templating import chrome, not_found, page_actor, render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 20
CHANNELS = ("web", "phone", "app", "email", "open311", "import")
# Workflow stages of the inbox filter: the statuses each one covers.
STAGES: dict[str, tuple[str, tuple[Status, ...]]] = {
    "intake": (N_("Waiting for dispatch"), (Status.received, Status.returned, Status.reopened)),
    "handling": (N_("Being handled"), (Status.dispatched, Status.signed, Status.contacted)),
    "review": (N_("Waiting for the resident's rating"), (Status.replied,)),
    "done": (N_("Done"), (Status.reviewed, Status.closed)),
}
DISPATCHABLE = frozenset({Status.received.value, Status.returned.value, Status.reopened.value})
# Deadline stages (steps.dispatch_request and friends): what must happen by then.


# ---------------------------------------------------------------- contexts


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


@dataclass
class InboxFilters:
    status: str = ""
    stage: str = ""
    overdue: str = ""  # "", "yes", "no"
    category: str = ""
    channel: str = ""
    received_from: str = ""  # a date, in the city's time zone
    received_to: str = ""  # a date, inclusive
    lead_unit: str = ""  # a unit id (drill-down from the overdue board)


@dataclass(frozen=True)
class Count:
    status: str
    label: str
    count: int
    url: str


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
    # Without a category: the category model's first choice at intake ("name 92%"), if it made one.
    suggested: str | None = None


@dataclass
class InboxPage:
    items: list[InboxRow]
    filters: InboxFilters
    statuses: list[Choice]
    categories: list[Choice]
    channels: list[Choice]
    stages: list[Choice]
    counts: list[Count]
    total: int
    next_url: str | None
    first_url: str | None
    error: str | None = None
    can_dispatch: bool = False
    dispatchable: set[str] = field(default_factory=set)
    unit_groups: list[UnitGroup] = field(default_factory=list)
    notice: str | None = None


@dataclass(frozen=True)
class Deadline:
    stage: str
    name: str
    due_at: dt.datetime


@dataclass(frozen=True)
class AllowedAction:
    code: str
    name: str


@dataclass(frozen=True)
class PagePhoto:
    """A photo on the staff request page: private until published (moderation); staff attachments never public."""

    id: int
    url: str
    public: bool
    by_staff: bool


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
    suggested_unit_id: int | None = None
    category_code: str | None = None
    supports: int = 0
    photo_urls: list[str] = field(default_factory=list)
    photos: list[PagePhoto] = field(default_factory=list)
    can_moderate: bool = False
    open311: DeliveryPanel | None = None  # deliveries to a unit's own Open311 system
    duplicates: list[DuplicateRow] = field(default_factory=list)  # shown when the user may merge
    # The same person's other requests from any channel (requests/people.py), for those who see the contact.
    linked: list[PersonRequest] = field(default_factory=list)
    actions: list[AllowedAction] = field(default_factory=list)
    forms: ActionForms = field(default_factory=ActionForms)
    unit_groups: list[UnitGroup] = field(default_factory=list)
    categories: list[Choice] = field(default_factory=list)
    # The category model's top 3 at intake, its version, and whether its first choice reached the threshold.
    model_guesses: list[ModelGuess] = field(default_factory=list)
    model_version: int | None = None
    model_sure: bool = False


@dataclass(frozen=True)
class ModelGuess:
    code: str
    name: str
    percent: int


@dataclass(frozen=True)
class DuplicateRow:
    """A request that may be about the same problem (routing.duplicates), with one button to merge into it."""

    tracking_number: str
    title: str
    status: str
    score: int  # percent
    reasons: str
    issue_size: int | None


# ---------------------------------------------------------------- helpers


def _status(code: str, lang: Language) -> str:
    return status_name(code, lang)


def _channel(code: str, lang: Language) -> str:
    return channel_name(code, lang)


def category_name(row: RequestRow, lang: Language) -> str:
    return row.category.name(lang) if row.category else gettext(lang, N_("Not yet classified"))


def _date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def _read_filters(request: Request, timezone: str) -> tuple[InboxFilters, RequestFilters | None]:
    """The filters as shown on the page, and as the query runs them (None: nothing can match)."""
    query = request.query_params
    shown = InboxFilters(
        status=query.get("status", "")[:20],
        stage=query.get("stage", "")[:20],
        overdue=query.get("overdue", "")[:3],
        category=query.get("category", "")[:40],
        channel=query.get("channel", "")[:20],
        received_from=query.get("from", "")[:10],
        received_to=query.get("to", "")[:10],
        lead_unit=query.get("lead_unit", "")[:10],
    )
    if shown.status not in {s.value for s in Status}:
        shown.status = ""
    if shown.stage not in STAGES:
        shown.stage = ""
    if shown.overdue not in ("yes", "no"):
        shown.overdue = ""
    if shown.channel not in CHANNELS:
        shown.channel = ""
    if not (shown.lead_unit.isascii() and shown.lead_unit.isdigit() and 0 < int(shown.lead_unit) < 2**31):
        shown.lead_unit = ""
    zone = ZoneInfo(timezone)
    start, end = _date(shown.received_from), _date(shown.received_to)
    shown.received_from = start.isoformat() if start else ""
    shown.received_to = end.isoformat() if end else ""
    statuses = [shown.status] if shown.status else []
    if shown.stage:
        in_stage = [s.value for s in STAGES[shown.stage][1]]
        statuses = [s for s in statuses if s in in_stage] if statuses else in_stage
        if not statuses:  # a status outside the chosen stage: nothing can match
            return shown, None
    filters = RequestFilters(
        statuses=statuses,
        category=shown.category or None,
        channel=shown.channel or None,
        lead_unit_id=int(shown.lead_unit) if shown.lead_unit else None,
        overdue={"yes": True, "no": False}.get(shown.overdue),
        received_from=dt.datetime.combine(start, dt.time(), zone) if start else None,
        received_to=dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), zone) if end else None,
    )
    return shown, filters


_QUERY_NAMES = {"received_from": "from", "received_to": "to"}


def _inbox_url(shown: InboxFilters, before: int | None = None, **changes: str) -> str:
    values = {**vars(shown), **changes}
    params = {_QUERY_NAMES.get(k, k): v for k, v in values.items() if v}
    if before is not None:
        params["before"] = str(before)
    return f"/staff?{urlencode(params)}" if params else "/staff"


def model_firsts(session: Session, rows: Sequence[RequestRow], lang: Language) -> dict[int, str]:
    """Request id -> "category name NN%": the model's first choice for the rows without a category (one query)."""
    ids = [r.id for r in rows if r.category_id is None]
    if not ids:
        return {}
    found = triage.stored_suggestions(session, ids)
    names = {c.code: c for c in list_categories(session)} if found else {}
    firsts = {}
    for request_id, suggestions in found:
        first = (suggestions or [{}])[0]
        if first.get("code") in names:
            percent = round(float(first.get("probability") or 0) * 100)
            firsts[request_id] = f"{names[first['code']].name(lang)} {percent}%"
    return firsts


def inbox_row(
    row: RequestRow, lang: Language, suggested: str | None = None, *, masked: bool = False
) -> InboxRow:
    """`masked`: the viewer has no contact rights, so personal data typed into the title is masked."""
    return InboxRow(
        tracking_number=row.tracking_number,
        title=(access.mask_text(row.title) or "") if masked else row.title,
        category=category_name(row, lang),
        status=_status(row.status, lang),
        status_code=row.status,
        lead_unit=row.lead_unit.name(lang) if row.lead_unit else None,
        received_at=row.received_at,
        due_at=row.due_at,
        overdue=row.overdue_stage is not None,
        suggested=suggested,
    )


# ---------------------------------------------------------------- pages


@router.get("/staff")
def staff_inbox(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    refused = staff_only(request, actor, frame)
    if refused is not None:
        return refused
    lang = frame.lang
    shown, filters = _read_filters(request, settings.timezone)
    raw = request.query_params.get("before", "")
    before = int(raw) if raw.isascii() and raw.isdigit() and 0 < int(raw) < 2**31 else None
    error = None
    counts: list[Count] = []
    rows: list[RequestRow] = []
    by_status: dict[str, int] = {}
    try:
        if filters is not None:
            rows = list_requests(session, actor, filters, before=before, limit=PAGE_SIZE)
            by_status = count_requests_by_status(session, actor, filters)
    except ChengzhiError as exc:
        rows, by_status, error = [], {}, message(exc.code, lang, exc.params)
    for status in Status:
        if by_status.get(status.value):
            url = _inbox_url(shown, status=status.value)
            counts.append(Count(status.value, _status(status.value, lang), by_status[status.value], url))
    items = rows[:PAGE_SIZE]
    can_dispatch = actor.has_role(Role.dispatcher)
    done = request.query_params.get("done", "")
    firsts = model_firsts(session, items, lang)
    contact_roles = any(actor.has_role(r) for r in (Role.operator, Role.supervisor, Role.handler))
    page = InboxPage(
        # Per row would cost a query each; the roles that ever read contacts (operator, supervisor, handler) see
        # titles as typed, the others (dispatcher, leader, analyst, admin) see them masked.
        items=[inbox_row(r, lang, firsts.get(r.id), masked=not contact_roles) for r in items],
        filters=shown,
        statuses=[Choice(s.value, _status(s.value, lang)) for s in Status],
        categories=[Choice(c.code, c.name(lang)) for c in list_categories(session)],
        channels=[Choice(c, _channel(c, lang)) for c in CHANNELS],
        stages=[Choice(code, gettext(lang, name)) for code, (name, _s) in STAGES.items()],
        counts=counts,
        total=sum(by_status.values()),
        next_url=_inbox_url(shown, items[-1].id) if len(rows) > PAGE_SIZE else None,
        first_url=_inbox_url(shown) if before is not None else None,
        error=error,
        can_dispatch=can_dispatch,
        dispatchable={r.tracking_number for r in items if r.status in DISPATCHABLE}
        if can_dispatch
        else set(),
        unit_groups=unit_groups(session, lang) if can_dispatch else [],
        notice=gettext(lang, DONE_NAMES[done]) if done in DONE_NAMES else None,
    )
    return render(request, "staff_inbox.html", page, frame)


def request_page(
    session: Session,
    actor: Actor,
    row: RequestRow,
    lang: Language,
    forms: ActionForms | None = None,
    timezone: str = "Asia/Shanghai",
) -> StaffRequestPage:
    """The request page's content for this actor: what the API would show, and a form per allowed step."""
    paths = access.unit_paths_of(session, row)
    reason = access.contact_reason(session, actor, row, paths=paths)
    sees = reason is not None
    contact_views.note(session, actor, row, reason, "page")  # the audit of unmasked contacts
    seen = tracked(session, row, lang)
    if not sees:
        names = (row.contact_name,)
        seen = replace(
            seen,
            title=access.mask_text(seen.title, names=names) or "",
            text=access.mask_text(seen.text, names=names) or "",
            timeline=[replace(e, note=access.mask_text(e.note, names=names)) for e in seen.timeline],
        )
    suggestion = routing_suggestion(session, row)
    suggested = None
    if suggestion.unit_id is not None:
        unit = org_queries.unit_by_id(session, suggestion.unit_id)
        suggested = unit.name(lang) if unit else None
    deadlines = []
    for stage, when in sorted((row.deadlines or {}).items(), key=lambda item: item[1]):
        try:
            at = dt.datetime.fromisoformat(when)
        except (TypeError, ValueError):
            continue
        name = gettext(lang, STAGE_NAMES[stage]) if stage in STAGE_NAMES else stage
        deadlines.append(Deadline(stage, name, at if at.tzinfo else at.replace(tzinfo=dt.UTC)))
    actions = allowed_for(session, actor, row, paths=paths)
    stored_photos = photos_of(session, row)
    candidates = (
        routing_service.find_duplicates(
            session, actor, row, limit=5, min_score=routing_service.DUPLICATES_MIN_SCORE
        )
        if "merge" in actions
        else []
    )
    picks_units = bool({"dispatch", "co_handle"} & set(actions))
    triaged = triage.triage_of(session, row)
    guesses = [
        ModelGuess(c.code, c.name(lang), round(p * 100)) for c, p in triage.stored_top(session, triaged)
    ]
    return StaffRequestPage(
        tracking_number=row.tracking_number,
        title=seen.title,
        text=seen.text,
        category=category_name(row, lang),
        status=_status(row.status, lang),
        status_code=row.status,
        channel=row.channel,
        channel_name=_channel(row.channel, lang),
        received_at=row.received_at,
        address=row.address,
        lat=row.lat,
        lon=row.lon,
        sees_contact=sees,
        contact_name=row.contact_name if sees else access.mask_name(row.contact_name),
        contact_phone=row.contact_phone if sees else access.mask_phone(row.contact_phone),
        contact_email=row.contact_email if sees else access.mask_email(row.contact_email),
        lead_unit=row.lead_unit.name(lang) if row.lead_unit else None,
        due_at=row.due_at,
        deadlines=deadlines,
        overdue=row.overdue_stage is not None,
        overdue_stage=row.overdue_stage,
        timeline=seen.timeline,
        suggested_unit=suggested,
        suggestion_reason=suggestion.reason(lang),
        suggested_unit_id=suggestion.unit_id,
        # The dispatch form preselects the request's category or, without one, the model's first choice.
        category_code=row.category.code if row.category else (guesses[0].code if guesses else None),
        model_guesses=guesses,
        model_version=triaged.model_version if triaged and guesses else None,
        model_sure=bool(triaged and triaged.category_sure),
        supports=row.support_count or 0,
        open311=page_panel(session, row, lang, ZoneInfo(timezone)),
        duplicates=[
            DuplicateRow(
                tracking_number=c.request.tracking_number,
                title=access.mask_text(c.request.title) or "",
                status=_status(c.request.status, lang),
                score=round(c.score * 100),
                reasons=c.reasons_text(lang),
                issue_size=c.issue_size,
            )
            for c in candidates
        ],
        linked=person_rows(linked_requests(session, actor, row), lang) if sees else [],
        photo_urls=[f"/api/v1/requests/{row.tracking_number}/photos/{photo.id}" for photo in stored_photos],
        photos=[
            PagePhoto(p.id, f"/api/v1/requests/{row.tracking_number}/photos/{p.id}", p.public, p.by_staff)
            for p in stored_photos
        ],
        can_moderate=access.acts_on(session, actor, row, paths=paths),
        actions=[AllowedAction(code, button_name(code, lang)) for code in actions],
        forms=forms or ActionForms(),
        unit_groups=unit_groups(session, lang) if picks_units else [],
        categories=[Choice(c.code, c.name(lang)) for c in list_categories(session)]
        if "dispatch" in actions
        else [],
    )


@router.get("/staff/requests/{number}")
def staff_request(number: str, request: Request, session: SessionDep) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    refused = staff_only(request, actor, frame)
    if refused is not None:
        return refused
    lang = frame.lang
    ref = number[:20]
    try:
        row = get_request(session, actor, ref)
    except ChengzhiError:
        return not_found(request, frame, message("request_not_found", lang, {"ref": ref}))
    done = request.query_params.get("done", "")
    forms = ActionForms(notice=gettext(lang, DONE_NAMES[done]) if done in DONE_NAMES else None)
    page = request_page(session, actor, row, lang, forms, frame.timezone)
    contact_views.save(session)
    return render(request, "staff_request.html", page, frame)
