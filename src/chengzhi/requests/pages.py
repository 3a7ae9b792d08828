"""Residents' pages: home, the report form and its confirmation, public issues (tracking: track_pages.py).

Every handler builds a typed page context (a dataclass) and renders it; writes go through requests.service, the
same functions the API uses, with the same rate limit and idempotency. Bad input comes back as the form with the
message next to the field, in the page's language, and the values the person typed.
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from chengzhi import idempotency
from chengzhi.categories.models import Category
from chengzhi.categories.service import list_categories
from chengzhi.config import Settings
from chengzhi.deps import SessionDep, SettingsDep
from chengzhi.errors import ChengzhiError
from chengzhi.i18n import Language, message
from chengzhi.org import levels
from chengzhi.org.service import Actor
from chengzhi.ratelimit import check_rate
from chengzhi.requests import service as svc
from chengzhi.requests import support
from chengzhi.requests.models import Request as RequestRow
from chengzhi.requests.public import PublicIssue, public_issue, supporter_of
from chengzhi.requests.workflow import IllegalTransition
from chengzhi.routing import triage
from chengzhi.web.i18n import N_, gettext
from chengzhi.web.templating import (
    Chrome,
    FormErrors,
    chrome,
    csrf_ok,
    not_found,
    page_actor,
    page_language,
    render,
)

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 20
PHONE = re.compile(r"^\+?[0-9][0-9 \-]{3,18}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
LAST4 = re.compile(r"^[0-9]{4}$")
# Where a service error belongs on the report form.
SUBMIT_ERROR_FIELDS = {
    "category_not_found": "category",
    "attribute_invalid": "category",
    "attribute_required": "category",
    "location_outside_city": "location",
    "location_required": "location",
    "contact_required": "contact_phone",
    "payload_too_large": "photos",
    "unsupported_media_type": "photos",
    "too_many_photos": "photos",
}


# ---------------------------------------------------------------- contexts


@dataclass(frozen=True)
class MapConfig:
    areas_url: str
    tile_url: str | None


@dataclass(frozen=True)
class CategoryChoice:
    code: str
    name: str
    group: str
    keywords: str


@dataclass(frozen=True)
class CategoryGroup:
    name: str
    categories: list[CategoryChoice]


@dataclass
class HomePage:
    groups: list[CategoryGroup]
    recent: list[PublicIssue]
    map: MapConfig


@dataclass
class IssuesPage:
    items: list[PublicIssue]
    next_before: int | None
    first_page: bool


@dataclass
class SubmitForm:
    category: str = ""
    text: str = ""
    lat: str = ""
    lon: str = ""
    address: str = ""
    contact_name: str = ""
    contact_phone: str = ""
    contact_email: str = ""
    consent: bool = False
    idempotency_key: str = ""


@dataclass
class SubmitPage:
    form: SubmitForm
    groups: list[CategoryGroup]
    map: MapConfig
    max_photos: int
    max_photo_mb: float
    signed_in: bool
    errors: FormErrors = field(default_factory=FormErrors)


@dataclass
class SuggestionFragment:
    category: CategoryChoice | None


@dataclass
class SubmittedPage:
    tracking_number: str
    phone_last4: str | None


# ---------------------------------------------------------------- helpers


def form_text(form: FormData, name: str, limit: int) -> str:
    """A form field as text: missing -> "", a file where text was expected -> "", NUL characters dropped."""
    value = form.get(name)
    if not isinstance(value, str):
        return ""
    return value.replace("\x00", "").strip()[: limit + 1]


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def map_config(settings: Settings) -> MapConfig:
    return MapConfig(areas_url="/map/areas.geojson", tile_url=settings.map_tile_url or None)


def category_groups(session: Session, lang: Language) -> list[CategoryGroup]:
    groups: dict[str, list[CategoryChoice]] = {}
    for category in list_categories(session):
        choice = _choice(category, lang)
        groups.setdefault(choice.group, []).append(choice)
    return [CategoryGroup(name, choices) for name, choices in groups.items()]


def _choice(category: Category, lang: Language) -> CategoryChoice:
    group = (category.group_en if lang == "en" else category.group_zh) or gettext(lang, N_("Other"))
    return CategoryChoice(category.code, category.name(lang), group, category.keywords or "")


def recent_requests(session: Session, *, before: int | None, limit: int) -> list[RequestRow]:
    query = select(RequestRow).order_by(RequestRow.id.desc()).limit(limit + 1)
    if before is not None:
        query = query.where(RequestRow.id < before)
    return list(session.scalars(query))


# ---------------------------------------------------------------- home and public issues


@router.get("/")
def home(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    recent = recent_requests(session, before=None, limit=8)[:8]
    mine = support.supported_among(session, supporter_of(request, settings, actor), [r.id for r in recent])
    page = HomePage(
        groups=category_groups(session, frame.lang),
        recent=[public_issue(r, frame.lang, mine) for r in recent],
        map=map_config(settings),
    )
    return render(request, "home.html", page, frame)


@router.get("/issues")
def issues(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    raw = request.query_params.get("before", "")
    before = int(raw) if raw.isdigit() and 0 < int(raw) < 2**31 else None
    rows = recent_requests(session, before=before, limit=PAGE_SIZE)
    items = rows[:PAGE_SIZE]
    mine = support.supported_among(session, supporter_of(request, settings, actor), [r.id for r in items])
    page = IssuesPage(
        items=[public_issue(r, frame.lang, mine) for r in items],
        next_before=items[-1].id if len(rows) > PAGE_SIZE else None,
        first_page=before is None,
    )
    return render(request, "issues.html", page, frame)


@router.post("/issues/{request_id}/support")
async def support_issue(
    request_id: str, request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    """ "Me too". With htmx the card's support line is swapped in place; without, back to the list."""
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    lang = frame.lang
    error = None
    try:
        form = await request.form(max_files=0, max_fields=10)
    except StarletteHTTPException:
        form = None
    back = form_text(form, "next", 200) if form is not None else ""
    if not (back.startswith("/") and not back.startswith("//") and "\\" not in back):
        back = "/issues"
    ident = (
        int(request_id) if request_id.isascii() and request_id.isdigit() and int(request_id) < 2**31 else 0
    )
    row = session.get(RequestRow, ident) if ident else None
    if row is None:
        return not_found(request, frame, message("request_not_found", lang, {"ref": request_id[:20]}))
    if not levels.allowed(actor, settings, "support"):
        # The city asks for a verified phone (or more) before a "me too": through the step-up and back.
        target = levels.step_up_url(levels.level_needed(settings, "support"), f"{back}#issue-{row.id}")
        if request.headers.get("HX-Request") == "true":
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)
    if form is None or not csrf_ok(request, form):
        error = message("csrf_failed", lang)
    else:
        try:
            check_rate(settings.rate_limit_storage, "30/minute", "support", client_of(request))
            key = supporter_of(request, settings, actor, create=True)
            assert key is not None
            row, _new = support.support(session, ident, key)
            session.commit()
        except ChengzhiError as exc:
            session.rollback()
            error = message(exc.code, lang, exc.params)
    session.refresh(row)
    key = supporter_of(request, settings, actor)
    issue = replace(public_issue(row, lang, support.supported_among(session, key, [row.id])), error=error)
    if request.headers.get("HX-Request") == "true":
        return render(request, "_support.html", issue, frame, status_code=200 if error is None else 422)
    if error is not None:
        return render(request, "support_refused.html", issue, frame, status_code=422)
    return RedirectResponse(f"{back}#issue-{row.id}", status_code=303)


# ---------------------------------------------------------------- report form


def _submit_page(
    request: Request, session: Session, settings: Settings, actor: Actor, frame: Chrome, form: SubmitForm
) -> SubmitPage:
    return SubmitPage(
        form=form,
        groups=category_groups(session, frame.lang),
        map=map_config(settings),
        max_photos=settings.max_photos_per_request,
        max_photo_mb=round(settings.max_photo_bytes / 1048576, 1),
        signed_in=not actor.is_anonymous,
    )


@router.get("/submit")
def submit_form(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    actor = page_actor(request, session)
    if not actor.is_staff and not levels.allowed(actor, settings, "submit"):
        return RedirectResponse(levels.step_up_url(levels.level_needed(settings, "submit"), "/submit"), 303)
    frame = chrome(request, actor)
    form = SubmitForm(
        category=request.query_params.get("category", "")[:40], idempotency_key=uuid.uuid4().hex
    )
    return render(request, "submit.html", _submit_page(request, session, settings, actor, frame, form), frame)


@router.get("/submit/suggest")
def suggest(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """The active category model's first choice for the text or, without a model, the category whose keywords
    the text mentions most (an htmx fragment under the text field)."""
    lang = page_language(request)
    text = request.query_params.get("text", "")[:4000]
    frame = chrome(request, page_actor(request, session))
    classified = triage.classify(session, settings, text) if text.strip() else None
    if classified is not None:
        return render(request, "_suggestion.html", SuggestionFragment(_choice(classified.first, lang)), frame)
    best: tuple[int, Category] | None = None
    for category in list_categories(session):
        words = [w.strip() for w in (category.keywords or "").replace("，", ",").split(",") if w.strip()]
        hits = sum(1 for w in words if w in text)
        if hits and (best is None or hits > best[0]):
            best = (hits, category)
    page = SuggestionFragment(_choice(best[1], lang) if best else None)
    return render(request, "_suggestion.html", page, frame)


def _read_submit_form(form: FormData, lang: Language) -> tuple[SubmitForm, FormErrors, list[UploadFile]]:
    values = SubmitForm(
        category=form_text(form, "category", 40),
        text=form_text(form, "text", 4000),
        lat=form_text(form, "lat", 30),
        lon=form_text(form, "lon", 30),
        address=form_text(form, "address", 300),
        contact_name=form_text(form, "contact_name", 120),
        contact_phone=form_text(form, "contact_phone", 20),
        contact_email=form_text(form, "contact_email", 200),
        consent=form.get("consent") in ("on", "true", "1", "yes"),
        idempotency_key=form_text(form, "idempotency_key", 200),
    )
    errors = FormErrors()

    def too_long(name: str, limit: int) -> None:
        if len(getattr(values, name)) > limit:
            errors.add(name, gettext(lang, N_("At most %(limit)s characters."), limit=limit))
            setattr(values, name, getattr(values, name)[:limit])

    for name, limit in (("text", 4000), ("address", 300), ("contact_name", 120), ("contact_email", 200)):
        too_long(name, limit)
    if not values.text:
        errors.add("text", gettext(lang, N_("Describe the problem.")))
    if values.lat or values.lon:
        try:
            lat, lon = float(values.lat), float(values.lon)
            if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
                raise ValueError
        except ValueError:
            errors.add("location", gettext(lang, N_("The map point is not valid; pick it again on the map.")))
            values.lat = values.lon = ""
    if not (values.lat or values.address):
        errors.add("location", message("location_required", lang))
    if values.contact_phone and not PHONE.match(values.contact_phone):
        errors.add("contact_phone", gettext(lang, N_("Enter a phone number of digits, e.g. 13800138000.")))
    if values.contact_email and not EMAIL.match(values.contact_email):
        errors.add("contact_email", gettext(lang, N_("Enter an e-mail address such as name@example.cn.")))
    photos = [f for f in form.getlist("photos") if isinstance(f, UploadFile) and (f.filename or f.size)]
    return values, errors, photos


@router.post("/submit")
async def submit(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    lang = frame.lang
    photos: list[UploadFile] = []
    try:
        form = await request.form(max_files=settings.max_photos_per_request + 5, max_fields=200)
    except StarletteHTTPException:
        values, errors = SubmitForm(idempotency_key=uuid.uuid4().hex), FormErrors()
        errors.add("form", gettext(lang, N_("The form could not be read; fill it in again.")))
    else:
        values, errors, photos = _read_submit_form(form, lang)
        if not csrf_ok(request, form):
            errors.add("form", message("csrf_failed", lang))
    if len(photos) > settings.max_photos_per_request:
        errors.add("photos", message("too_many_photos", lang, {"limit": settings.max_photos_per_request}))
    if actor.is_anonymous:
        if not values.consent:
            errors.add("consent", gettext(lang, N_("Agree to the use of your contact details to send it.")))
        if not (values.contact_phone or values.contact_email):
            errors.add("contact_phone", message("contact_required", lang))
    if not errors:
        try:
            number = await _submit(request, session, settings, actor, values, photos)
        except (ChengzhiError, IllegalTransition) as exc:
            session.rollback()
            code = exc.code if isinstance(exc, ChengzhiError) else "conflict"
            params = exc.params if isinstance(exc, ChengzhiError) else {}
            errors.add(SUBMIT_ERROR_FIELDS.get(code, "form"), message(code, lang, params))
        else:
            submitted = [n for n in request.session.get("submitted", []) if n != number][-9:]
            request.session["submitted"] = [*submitted, number]
            return RedirectResponse(f"/submit/done/{number}", status_code=303)
    if photos and "photos" not in errors.messages:
        errors.add("photos", gettext(lang, N_("Choose the photos again: a browser cannot keep them.")))
    page = _submit_page(request, session, settings, actor, frame, values)
    page.errors = errors
    if not values.idempotency_key:
        values.idempotency_key = uuid.uuid4().hex
    return render(request, "submit.html", page, frame, status_code=422)


async def _submit(
    request: Request,
    session: Session,
    settings: Settings,
    actor: Actor,
    values: SubmitForm,
    photos: list[UploadFile],
) -> str:
    """Submit once per form (the form's idempotency key): a second post of the same form gets the same number."""
    principal = (
        f"user:{actor.user_id}" if actor.user_id is not None else f"anonymous:{client_of(request)}"[:80]
    )
    body: dict[str, Any] = {k: v for k, v in vars(values).items() if k != "idempotency_key"}
    slot = idempotency.slot_for(values.idempotency_key or None, principal, "POST", "/submit", body)
    saved = idempotency.replay(session, slot)
    if saved is not None:
        return str(saved[1]["tracking_number"])
    if actor.is_anonymous:
        check_rate(settings.rate_limit_storage, settings.anonymous_submit_rate, "submit", client_of(request))
    data = svc.Submission(
        text=values.text,
        channel="web",
        category_code=values.category or None,
        lat=float(values.lat) if values.lat else None,
        lon=float(values.lon) if values.lon else None,
        address=values.address or None,
        contact_name=values.contact_name or None,
        contact_phone=values.contact_phone or None,
        contact_email=values.contact_email or None,
        language=page_language(request),
    )
    created = svc.submit_request(session, actor, data, settings)
    for photo in photos:
        content = await photo.read(settings.max_photo_bytes + 1)
        svc.add_photo(session, created, content, settings)
    number = created.tracking_number
    idempotency.save(session, slot, 303, {"tracking_number": number})
    raced = idempotency.commit_or_replay(session, slot)
    return str(raced[1]["tracking_number"]) if raced is not None else number


@router.get("/submit/done/{number}")
def submitted(number: str, request: Request, session: SessionDep) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    if number not in request.session.get("submitted", []):
        return not_found(request, frame, gettext(frame.lang, N_("This confirmation is not available.")))
    row = session.scalar(select(RequestRow).where(RequestRow.tracking_number == number))
    if row is None:
        return not_found(request, frame, message("request_not_found", frame.lang, {"ref": number}))
    page = SubmittedPage(tracking_number=number, phone_last4=row.phone_last4)
    return render(request, "submitted.html", page, frame)
