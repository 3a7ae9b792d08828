"""Pages for residents taking part (docs/participation.md): an issue's own page with its comments, the comment
form, following and reports of abuse; the moderators' queue. Monthly focus topics: topic_pages.py.

Every form works without JavaScript (post, then back to the page with a notice); writes go through
participate.service, the functions the API uses, so the identity levels, the moderation setting and the word list
apply alike. An action that needs a higher identity level sends the person through the step-up and back.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import cast

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from chengzhi.config import Settings
from chengzhi.db import utcnow
from chengzhi.deps import SessionDep, SettingsDep
from chengzhi.errors import ChengzhiError, Invalid
from chengzhi.i18n import Language, message
from chengzhi.org import levels
from chengzhi.org.service import Actor
from chengzhi.participate import service
from chengzhi.participate.models import Comment
from chengzhi.requests import queries as requests_queries
from chengzhi.web.i18n import N_, gettext
from chengzhi.web.templating import Chrome, chrome, csrf_ok, not_found, page_actor, render

router = APIRouter(include_in_schema=False)

DONE = {
    "published": N_("Your comment is published."),
    "pending": N_("Thank you: your comment will appear once a moderator has read it."),
    "followed": N_("You follow this issue: its steps will come to your notifications."),
    "unfollowed": N_("You no longer follow this issue."),
    "reported": N_("Thank you: the moderators will look at this comment."),
}
MODERATED = {
    "publish": N_("The comment is published."),
    "hide": N_("The comment is hidden."),
    "reject": N_("The comment is rejected."),
}


@dataclass(frozen=True)
class CommentView:
    id: int
    author: str
    text: str
    created_at: dt.datetime
    reported: bool = False  # this person reported it already
    own: bool = False


@dataclass
class IssuePage:
    issue: requests_queries.PublicIssue
    comments: list[CommentView]
    signed_in: bool
    following: bool
    comment_level_ok: bool
    follow_level_ok: bool
    step_up_url: str  # where a person whose identity level is too low verifies and comes back
    pre_moderation: bool
    notice: str | None = None
    error: str | None = None
    text: str = ""


@dataclass(frozen=True)
class WaitingView:
    id: int
    request_id: int
    issue_title: str
    author: str
    text: str
    reason: str
    reports: int
    created_at: dt.datetime


@dataclass
class ModerationPage:
    items: list[WaitingView] = field(default_factory=list)
    notice: str | None = None
    error: str | None = None


@dataclass
class NotAllowedPage:
    message: str


# ---------------------------------------------------------------- helpers


def ident(raw: str) -> int:
    """A path id as the pages take it: digits below 2**31, else 0 (no such thing: a 404 page, never a 500)."""
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 11 and int(raw) < 2**31 else 0


async def read_form(request: Request) -> FormData | None:
    try:
        return await request.form(max_files=0, max_fields=20)
    except StarletteHTTPException:
        return None


def form_text(form: FormData | None, name: str, limit: int) -> str:
    value = form.get(name) if form is not None else None
    return value.replace("\x00", "").strip()[: limit + 1] if isinstance(value, str) else ""


def to_login(path: str) -> Response:
    return RedirectResponse(f"/login?next={path}", status_code=303)


def held_reason(held_for: str | None, lang: Language) -> str:
    """Why a comment waits, in the moderator's language (the stored reason is a code, or "words: a, b", or both
    joined by "; ")."""
    return " ".join(_one_reason(part, lang) for part in (held_for or "").split("; ") if part)


def _one_reason(reason: str, lang: Language) -> str:
    if reason == "pre-moderation":
        return gettext(lang, N_("Every comment is read first (pre-moderation)."))
    if reason == "reports":
        return gettext(lang, N_("Hidden by residents' reports."))
    if reason.startswith("words: "):
        return gettext(
            lang, N_("Holds a word of the sensitive-word list: %(words)s"), words=reason[len("words: ") :]
        )
    return reason


def _issue_page(
    session: Session,
    settings: Settings,
    actor: Actor,
    issue: requests_queries.PublicIssue,
    *,
    notice: str | None = None,
    error: str | None = None,
    text: str = "",
) -> IssuePage:
    comments = service.comments_of(session, issue.id)
    names = service.author_names(session, comments)
    reported = service.reported_by(session, actor.user_id, [c.id for c in comments])
    views = [
        CommentView(
            c.id,
            service.masked_name(names[c.id]),
            service.public_text(c),
            c.created_at,
            reported=c.id in reported,
            own=c.user_id is not None and c.user_id == actor.user_id,
        )
        for c in comments
    ]
    needed = max(levels.level_needed(settings, "comment"), levels.level_needed(settings, "follow"))
    return IssuePage(
        issue=issue,
        comments=views,
        signed_in=not actor.is_anonymous,
        following=service.follows(session, actor.user_id, issue.id),
        comment_level_ok=levels.allowed(actor, settings, "comment"),
        follow_level_ok=levels.allowed(actor, settings, "follow"),
        step_up_url=levels.step_up_url(needed, f"/issues/{issue.id}"),
        pre_moderation=settings.comment_moderation == "pre",
        notice=notice,
        error=error,
        text=text,
    )


# ---------------------------------------------------------------- an issue's page


@router.get("/issues/{request_id}")
def issue_page(request_id: str, request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    issue = requests_queries.public_card(session, request, settings, actor, ident(request_id), frame.lang)
    if issue is None:
        return not_found(request, frame, message("request_not_found", frame.lang, {"ref": request_id[:20]}))
    done = request.query_params.get("done", "")
    notice = gettext(frame.lang, DONE[done]) if done in DONE else None
    page = _issue_page(session, settings, actor, issue, notice=notice)
    return render(request, "participate/issue.html", page, frame)


def _refused(
    request: Request,
    session: Session,
    settings: Settings,
    actor: Actor,
    frame: Chrome,
    issue: requests_queries.PublicIssue,
    exc: ChengzhiError,
    text: str = "",
) -> Response:
    session.rollback()
    if isinstance(exc, levels.LevelRequired):
        target = levels.step_up_url(int(str(exc.params.get("level", 1))), f"/issues/{issue.id}")
        return RedirectResponse(target, status_code=303)
    error = message(exc.code, frame.lang, exc.params)
    page = _issue_page(session, settings, actor, issue, error=error, text=text)
    return render(request, "participate/issue.html", page, frame, status_code=exc.status_code)


@router.post("/issues/{request_id}/comments")
async def comment(request_id: str, request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    issue = requests_queries.public_card(session, request, settings, actor, ident(request_id), frame.lang)
    if issue is None:
        return not_found(request, frame, message("request_not_found", frame.lang, {"ref": request_id[:20]}))
    if actor.is_anonymous:
        return to_login(f"/issues/{issue.id}")
    form = await read_form(request)
    text = form_text(form, "text", service.MAX_COMMENT)
    if form is not None and csrf_ok(request, form) and not 0 < len(text) <= service.MAX_COMMENT:
        error = gettext(frame.lang, N_("Write a comment of 1 to 2,000 characters."))
        page = _issue_page(session, settings, actor, issue, error=error, text=text[: service.MAX_COMMENT])
        return render(request, "participate/issue.html", page, frame, status_code=422)
    try:
        if form is None or not csrf_ok(request, form):
            raise ChengzhiError("csrf_failed")
        made = service.add_comment(session, actor, settings, issue.id, text, utcnow())
        state = made.state
        session.commit()
    except ChengzhiError as exc:
        return _refused(request, session, settings, actor, frame, issue, exc, text)
    done = "published" if state == "published" else "pending"
    return RedirectResponse(f"/issues/{issue.id}?done={done}#comments", status_code=303)


@router.post("/issues/{request_id}/follow")
async def follow(request_id: str, request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    issue = requests_queries.public_card(session, request, settings, actor, ident(request_id), frame.lang)
    if issue is None:
        return not_found(request, frame, message("request_not_found", frame.lang, {"ref": request_id[:20]}))
    if actor.is_anonymous:
        return to_login(f"/issues/{issue.id}")
    form = await read_form(request)
    on = form_text(form, "on", 1) != "0"
    try:
        if form is None or not csrf_ok(request, form):
            raise ChengzhiError("csrf_failed")
        service.follow(session, actor, settings, issue.id, utcnow(), on=on)
        session.commit()
    except ChengzhiError as exc:
        return _refused(request, session, settings, actor, frame, issue, exc)
    return RedirectResponse(
        f"/issues/{issue.id}?done={'followed' if on else 'unfollowed'}#follow", status_code=303
    )


@router.post("/comments/{comment_id}/report")
async def report(comment_id: str, request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    found = session.get(Comment, ident(comment_id)) if ident(comment_id) else None
    issue = (
        requests_queries.public_card(session, request, settings, actor, found.request_id, frame.lang)
        if found is not None
        else None
    )
    if found is None or issue is None:
        return not_found(request, frame, gettext(frame.lang, N_("This comment does not exist.")))
    if actor.is_anonymous:
        return to_login(f"/issues/{issue.id}")
    form = await read_form(request)
    try:
        if form is None or not csrf_ok(request, form):
            raise ChengzhiError("csrf_failed")
        service.report_comment(session, actor, settings, found.id, form_text(form, "reason", 300), utcnow())
        session.commit()
    except ChengzhiError as exc:
        return _refused(request, session, settings, actor, frame, issue, exc)
    return RedirectResponse(f"/issues/{issue.id}?done=reported#comments", status_code=303)


# ---------------------------------------------------------------- the moderators' queue


def _moderation_page(
    session: Session, actor: Actor, lang: Language, notice: str | None = None, error: str | None = None
) -> ModerationPage:
    waiting = service.waiting_comments(session, actor)
    names = service.author_names(session, waiting)
    rows = {
        r.id: r for r in requests_queries.requests_by_ids(session, sorted({c.request_id for c in waiting}))
    }
    items = [
        WaitingView(
            id=c.id,
            request_id=c.request_id,
            issue_title=requests_queries.public_title(rows[c.request_id]) if c.request_id in rows else "",
            author=service.masked_name(names[c.id]),
            text=c.text,
            reason=held_reason(c.held_for, lang),
            reports=c.reports,
            created_at=c.created_at,
        )
        for c in waiting
    ]
    return ModerationPage(items, notice, error)


@router.get("/staff/comments")
def moderation(request: Request, session: SessionDep) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    if actor.is_anonymous:
        return to_login("/staff/comments")
    if not actor.has_role(*service.MODERATORS):
        text = gettext(frame.lang, N_("Comments are moderated by supervisors and administrators."))
        return render(request, "forbidden.html", NotAllowedPage(text), frame, status_code=403)
    done = request.query_params.get("done", "")
    notice = gettext(frame.lang, MODERATED[done]) if done in MODERATED else None
    page = _moderation_page(session, actor, frame.lang, notice)
    return render(request, "participate/moderation.html", page, frame)


@router.post("/staff/comments/{comment_id}")
async def moderate(comment_id: str, request: Request, session: SessionDep) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    if actor.is_anonymous:
        return to_login("/staff/comments")
    form = await read_form(request)
    decision = form_text(form, "decision", 10)
    try:
        if form is None or not csrf_ok(request, form):
            raise ChengzhiError("csrf_failed")
        if decision not in MODERATED or not ident(comment_id):
            raise Invalid(details="publish, hide or reject")
        service.moderate_comment(session, actor, ident(comment_id), cast(service.Decision, decision))
        session.commit()
    except ChengzhiError as exc:
        session.rollback()
        if not actor.has_role(*service.MODERATORS):
            text = gettext(frame.lang, N_("Comments are moderated by supervisors and administrators."))
            return render(request, "forbidden.html", NotAllowedPage(text), frame, status_code=403)
        page = _moderation_page(session, actor, frame.lang, error=message(exc.code, frame.lang, exc.params))
        return render(request, "participate/moderation.html", page, frame, status_code=exc.status_code)
    return RedirectResponse(f"/staff/comments?done={decision}", status_code=303)
