"""Server-rendered pages: one Jinja2 environment per language, the shared page chrome, sessions and CSRF.

Every page handler builds a dataclass (its typed context, STYLE habit 8) and calls `render`; tests read it back
as `response.context["page"]`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from chengzhi.config import Settings
from chengzhi.i18n import LANGUAGES, Language, negotiate_language
from chengzhi.org.models import Role
from chengzhi.org.service import Actor
from chengzhi.org.signin import cookie_actor
from chengzhi.web.i18n import gettext, local_time, translations

TEMPLATE_DIR = Path(__file__).parent / "templates"
LANG_COOKIE = "lang"


@lru_cache(maxsize=4)
def templates(lang: Language) -> Jinja2Templates:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    return Jinja2Templates(env=env)


@dataclass(frozen=True)
class Chrome:
    """What every page's frame needs: language, the switch to the other one, who is signed in, the CSRF token."""

    lang: Language
    html_lang: str
    path: str
    switch_lang: Language
    switch_url: str
    csrf_token: str
    user_name: str | None = None
    is_staff: bool = False
    is_admin: bool = False
    sees_dashboard: bool = False  # leaders, analysts, supervisors, administrators (metrics DASHBOARD_ROLES)
    moderates: bool = False  # supervisors and administrators: residents' comments (participate)
    leads: bool = False  # leaders and administrators: monthly focus topics (participate)
    timezone: str = "Asia/Shanghai"


@dataclass
class FormErrors:
    """Field name -> message, already in the page's language; `form` is the key for the whole form."""

    messages: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, message: str) -> None:
        self.messages.setdefault(name, message)

    def __bool__(self) -> bool:
        return bool(self.messages)

    def get(self, name: str) -> str | None:
        return self.messages.get(name)


def page_language(request: Request) -> Language:
    settings: Settings = request.app.state.settings
    return negotiate_language(request, settings.default_language)


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use (anonymous forms need one too)."""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return str(token)


async def posted_form(request: Request, max_fields: int = 30) -> FormData | None:
    """A page's posted form (no files) when it carries the session's CSRF token; None otherwise (or unreadable)."""
    try:
        form = await request.form(max_files=0, max_fields=max_fields)
    except StarletteHTTPException:
        return None
    return form if csrf_ok(request, form) else None


def csrf_ok(request: Request, form: FormData) -> bool:
    expected = request.session.get("csrf")
    given = form.get("csrf_token")
    return bool(expected) and isinstance(given, str) and secrets.compare_digest(str(expected), given)


def page_actor(request: Request, session: Session) -> Actor:
    """The signed-in user of the session cookie, or anonymous. Page forms check their own `csrf_token` field."""
    return cookie_actor(request, session, request.app.state.settings)


def chrome(request: Request, actor: Actor) -> Chrome:
    settings: Settings = request.app.state.settings
    lang = page_language(request)
    other: Language = next(code for code in LANGUAGES if code != lang)
    query = {k: v for k, v in request.query_params.items() if k != "lang"}
    query["lang"] = other
    return Chrome(
        lang=lang,
        html_lang="zh-Hans" if lang == "zh" else "en",
        path=request.url.path,
        switch_lang=other,
        switch_url=f"{request.url.path}?{urlencode(query)}",
        csrf_token=csrf_token(request),
        user_name=None if actor.is_anonymous else (actor.display_name or actor.username),
        is_staff=actor.is_staff,
        is_admin=actor.has_role(Role.admin),
        sees_dashboard=actor.has_role(Role.leader, Role.analyst, Role.supervisor, Role.admin),
        moderates=actor.has_role(Role.supervisor, Role.admin),
        leads=actor.has_role(Role.leader, Role.admin),
        timezone=settings.timezone,
    )


def render(
    request: Request,
    template: str,
    page: Any,
    frame: Chrome,
    *,
    status_code: int = 200,
) -> Response:
    lang = frame.lang
    context = {
        "page": page,
        "chrome": frame,
        "when": lambda value, style="medium": local_time(value, frame.timezone, lang, style),
        "t": lambda message, **params: gettext(lang, message, **params),
    }
    response = templates(lang).TemplateResponse(request, template, context, status_code=status_code)
    remember_language(request, response)
    return response


def remember_language(request: Request, response: Response) -> None:
    """`?lang=` chosen by the switch is kept in a cookie for the next pages."""
    chosen = (request.query_params.get("lang") or "").lower()[:2]
    if chosen in LANGUAGES and request.cookies.get(LANG_COOKIE) != chosen:
        secure = bool(getattr(request.app.state.settings, "session_cookie_secure", False))
        response.set_cookie(
            LANG_COOKIE, chosen, max_age=365 * 24 * 3600, samesite="lax", httponly=True, secure=secure
        )


@dataclass
class NotFoundPage:
    message: str


def not_found(request: Request, frame: Chrome, text: str) -> Response:
    """The 404 page, in the visitor's language, with the frame (navigation) of the page that asked."""
    return render(request, "not_found.html", NotFoundPage(text), frame, status_code=404)
