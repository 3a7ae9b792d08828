"""The contact-view audit for supervisors and administrators: who was shown which resident's contact details, when
and why, for the requests in their scope (/staff/contact-views), and the same as a CSV file for auditors."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from chengzhi.db import utcnow
from chengzhi.deps import SessionDep
from chengzhi.org.service import Actor
from chengzhi.requests import contact_views
from chengzhi.requests.staff_common import ForbiddenPage, staff_only
from chengzhi.web.i18n import N_, gettext
from chengzhi.web.templating import Chrome, chrome, page_actor, render

router = APIRouter(include_in_schema=False)

REASONS = {
    "handler": N_("handler of a unit handling it"),
    "operator": N_("operator"),
    "supervisor": N_("supervisor (follow-up)"),
}
PLACES = {"api": N_("API"), "page": N_("staff page")}


@dataclass
class ContactViewsPage:
    rows: list[contact_views.ViewRow] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)
    places: dict[str, str] = field(default_factory=dict)
    viewer: str = ""
    days: int = 30
    csv_url: str = ""


def _filters(request: Request) -> tuple[str, int]:
    viewer = (request.query_params.get("viewer") or "").strip()[:80]
    raw = request.query_params.get("days", "30")
    days = int(raw) if raw.isascii() and raw.isdigit() and 0 < int(raw) <= 3660 else 30
    return viewer, days


def _auditor(request: Request, session: Session) -> tuple[Actor, Chrome] | Response:
    """The signed-in supervisor or administrator and the page's frame, or the page that refuses everyone else."""
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    refused = staff_only(request, actor, frame)
    if refused is not None:
        return refused
    if not actor.has_role(*contact_views.AUDIT_ROLES):
        text = gettext(frame.lang, N_("The contact-view audit is for supervisors and administrators."))
        return render(request, "forbidden.html", ForbiddenPage(text), frame, status_code=403)
    return actor, frame


def _since(days: int) -> dt.datetime:
    return utcnow() - dt.timedelta(days=days)


@router.get("/staff/contact-views")
def contact_views_page(request: Request, session: SessionDep) -> Response:
    opened = _auditor(request, session)
    if isinstance(opened, Response):
        return opened
    actor, frame = opened
    viewer, days = _filters(request)
    rows = contact_views.views_in_scope(session, actor, since=_since(days), viewer=viewer)
    page = ContactViewsPage(
        rows=rows,
        reasons={k: gettext(frame.lang, v) for k, v in REASONS.items()},
        places={k: gettext(frame.lang, v) for k, v in PLACES.items()},
        viewer=viewer,
        days=days,
        csv_url=f"/staff/contact-views.csv?days={days}" + (f"&viewer={viewer}" if viewer else ""),
    )
    return render(request, "staff_contact_views.html", page, frame)


@router.get("/staff/contact-views.csv")
def contact_views_csv(request: Request, session: SessionDep) -> Response:
    opened = _auditor(request, session)
    if isinstance(opened, Response):
        return opened
    actor, _frame = opened
    viewer, days = _filters(request)
    rows = contact_views.views_in_scope(session, actor, since=_since(days), viewer=viewer, limit=100_000)
    return Response(
        "\ufeff" + contact_views.as_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="contact-views.csv"'},
    )
