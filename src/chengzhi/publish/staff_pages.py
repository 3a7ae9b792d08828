"""The units' publishing page (`/staff/publications`): publish a notice for a unit, publish a replied request's
reply with the resident's consent (masked), and, for supervisors and administrators, approve or reject what waits
for moderation (`CHENGZHI_PUBLISH_MODERATION`). The API does the same (docs/participation.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.responses import Response

from chengzhi.categories.service import list_categories
from chengzhi.config import Settings
from chengzhi.db import MAX_ID, utcnow
from chengzhi.deps import SessionDep, SettingsDep
from chengzhi.errors import ChengzhiError
from chengzhi.i18n import N_, message
from chengzhi.org import queries as org_queries
from chengzhi.org.service import Actor
from chengzhi.publish import service
from chengzhi.web.i18n import gettext
from chengzhi.web.templating import Chrome, chrome, page_actor, posted_form, render

router = APIRouter(include_in_schema=False)
PAGE = "/staff/publications"
DONE = {
    "published": N_("Published: it is on the public pages, in the feeds and in the API."),
    "pending": N_("Sent for moderation: it appears once a supervisor approves it."),
    "approved": N_("Approved: it is published."),
    "rejected": N_("Rejected: it stays unpublished."),
}


@dataclass(frozen=True)
class Option:
    value: str
    label: str


@dataclass
class PublicationsPage:
    units: list[Option]
    categories: list[Option]
    waiting: list[dict[str, Any]]  # for moderators
    moderates: bool
    notice: str | None = None
    error: str | None = None
    form: dict[str, str] = field(default_factory=dict)


@dataclass
class NotAllowedPage:
    message: str


def _page(session: Session, actor: Actor, frame: Chrome, **more: Any) -> PublicationsPage:
    units = org_queries.active_units_under_any(session, actor.paths_for(*service.PUBLISHERS))
    moderates = actor.has_role(*service.MODERATORS)
    waiting = service.described(session, service.pending(session, actor), frame.lang) if moderates else []
    return PublicationsPage(
        units=[Option(str(u.id), u.name(frame.lang)) for u in units],
        categories=[Option(c.code, c.name(frame.lang)) for c in list_categories(session)],
        waiting=waiting,
        moderates=moderates,
        **more,
    )


def _gate(request: Request, session: Session) -> tuple[Actor, Chrome, Response | None]:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    if actor.user_id is None:
        return actor, frame, RedirectResponse(f"/login?next={PAGE}", status_code=303)
    if not actor.has_role(*service.PUBLISHERS):
        text = gettext(frame.lang, N_("Units' staff publish notices and replies here."))
        return actor, frame, render(request, "forbidden.html", NotAllowedPage(text), frame, status_code=403)
    return actor, frame, None


def _text(form: FormData, name: str, limit: int) -> str:
    value = form.get(name)
    return value.replace("\x00", "").strip()[:limit] if isinstance(value, str) else ""


@router.get(PAGE)
def publications_page(request: Request, session: SessionDep) -> Response:
    actor, frame, refused = _gate(request, session)
    if refused is not None:
        return refused
    done = request.query_params.get("done", "")
    notice = gettext(frame.lang, DONE[done]) if done in DONE else None
    return render(request, "staff_publications.html", _page(session, actor, frame, notice=notice), frame)


async def _step(
    request: Request, session: Session, settings: Settings, action: str, publication_id: str = ""
) -> Response:
    actor, frame, refused = _gate(request, session)
    if refused is not None:
        return refused
    form = await posted_form(request)
    if form is None:
        raise ChengzhiError("csrf_failed")
    entered = {k: _text(form, k, service.MAX_BODY) for k in ("unit", "title", "body", "category", "number")}
    now = utcnow()
    try:
        if action == "notice":
            unit = entered["unit"]
            made = service.publish_notice(
                session,
                actor,
                settings,
                unit_id=int(unit) if unit.isdigit() and int(unit) <= MAX_ID else 0,
                title=entered["title"][: service.MAX_TITLE],
                body=entered["body"],
                category_code=entered["category"] or None,
                language=frame.lang,
                now=now,
            )
            done = made.state
        elif action == "reply":
            consent = _text(form, "consent", 1) == "1"
            done = service.publish_reply(
                session, actor, settings, entered["number"], consent=consent, now=now
            ).state
        else:
            approve = _text(form, "approve", 1) == "1"
            ident = int(publication_id) if publication_id.isdigit() and int(publication_id) <= MAX_ID else 0
            service.moderate(
                session, actor, ident, approve=approve, note=_text(form, "note", 500) or None, now=now
            )
            done = "approved" if approve else "rejected"
        session.commit()
    except ChengzhiError as exc:
        session.rollback()
        error = message(exc.code, frame.lang, exc.params)
        page = _page(session, actor, frame, error=error, form=entered)
        return render(request, "staff_publications.html", page, frame, status_code=exc.status_code)
    return RedirectResponse(f"{PAGE}?done={done}#result", status_code=303)


@router.post(PAGE + "/notices")
async def publish_notice(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    return await _step(request, session, settings, "notice")


@router.post(PAGE + "/replies")
async def publish_reply(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """A replied request's reply, with the resident's consent (the person publishing is recorded as noting it)."""
    return await _step(request, session, settings, "reply")


@router.post(PAGE + "/{publication_id}/moderation")
async def moderate(
    publication_id: str, request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    return await _step(request, session, settings, "moderate", publication_id)
