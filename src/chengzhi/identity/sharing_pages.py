"""The page where a unit handling a request sees the verified details its resident shares (`/staff/requests/{number}/
resident`): which details are offered, a button that shows them and records the viewing, and who saw them before.
The resident chooses what to share in their own space (`POST /me/sharing`)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from chengzhi.deps import SessionDep
from chengzhi.errors import ChengzhiError
from chengzhi.i18n import message
from chengzhi.identity import sharing
from chengzhi.org.service import Actor
from chengzhi.requests import service as requests_service
from chengzhi.requests.models import Request as RequestRow
from chengzhi.web.i18n import N_, gettext
from chengzhi.web.templating import Chrome, FormErrors, chrome, csrf_ok, not_found, page_actor, render

router = APIRouter(include_in_schema=False)

FIELD_NAMES = {"name": N_("Real name"), "phone": N_("Phone"), "email": N_("E-mail")}


@dataclass
class ResidentPage:
    tracking_number: str
    has_account: bool
    offered: list[tuple[str, str]]  # (field, its name)
    level: int
    values: list[tuple[str, str]] = field(default_factory=list)  # (name, value), once viewed
    log: list[sharing.ViewRow] = field(default_factory=list)
    errors: FormErrors = field(default_factory=FormErrors)


@dataclass
class RefusedPage:
    message: str


def _request_or_refuse(
    request: Request, session: SessionDep, number: str
) -> tuple[Actor, Chrome, RequestRow] | Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    if actor.is_anonymous:
        return RedirectResponse(f"/login?next={quote(request.url.path, safe='/')}", status_code=303)
    ref = number[:20]
    try:
        row = requests_service.get_request(session, actor, ref)
    except ChengzhiError:
        return not_found(request, frame, message("request_not_found", frame.lang, {"ref": ref}))
    if not sharing.may_see(session, actor, row):
        text = gettext(frame.lang, N_("Only the people who must reach the resident see their details."))
        return render(request, "forbidden.html", RefusedPage(text), frame, status_code=403)
    return actor, frame, row


def _page(session: SessionDep, frame: Chrome, row: RequestRow, shared: sharing.Shared) -> ResidentPage:
    lang = frame.lang
    return ResidentPage(
        tracking_number=row.tracking_number,
        has_account=shared.resident_id is not None,
        offered=[(f, gettext(lang, FIELD_NAMES[f])) for f in shared.offered],
        level=shared.level,
        values=[(gettext(lang, FIELD_NAMES[f]), v) for f, v in shared.values.items()],
        log=[translated(v, lang) for v in sharing.views_of_request(session, row.id, lang)],
    )


def translated(row: sharing.ViewRow, lang: str) -> sharing.ViewRow:
    """The row with its field names in the reader's language."""
    return replace(
        row, fields=tuple(gettext(lang, FIELD_NAMES[f]) if f in FIELD_NAMES else f for f in row.fields)
    )


@router.get("/staff/requests/{number}/resident")
def resident_details(number: str, request: Request, session: SessionDep) -> Response:
    """What the resident shares, by name only: nothing is shown (or recorded) until the button is pressed."""
    found = _request_or_refuse(request, session, number)
    if isinstance(found, Response):
        return found
    _actor, frame, row = found
    page = _page(session, frame, row, sharing.offered(session, row))
    return render(request, "account/resident_details.html", page, frame)


@router.post("/staff/requests/{number}/resident")
async def show_resident_details(number: str, request: Request, session: SessionDep) -> Response:
    """Show the shared verified details and record who saw them."""
    found = _request_or_refuse(request, session, number)
    if isinstance(found, Response):
        return found
    actor, frame, row = found
    form = await request.form(max_files=0, max_fields=10)
    if not csrf_ok(request, form):
        page = _page(session, frame, row, sharing.offered(session, row))
        page.errors.add("form", message("csrf_failed", frame.lang))
        return render(request, "account/resident_details.html", page, frame, status_code=422)
    shared = sharing.view(session, actor, row)
    session.commit()
    page = _page(session, frame, row, shared)
    response = render(request, "account/resident_details.html", page, frame)
    response.headers["Cache-Control"] = "no-store"
    return response
