"""Pages of a resident's own space (`/me`) and of the identity-level step-up (`/verify`): the person is led through
what their action needs and back to it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from chengzhi.db import get_sessionmaker
from chengzhi.deps import SessionDep, SettingsDep
from chengzhi.errors import ChengzhiError
from chengzhi.i18n import message
from chengzhi.identity import service as identity
from chengzhi.identity import sharing, space, verification
from chengzhi.identity.sharing_pages import FIELD_NAMES
from chengzhi.org import levels, signin
from chengzhi.org.pages import safe_next
from chengzhi.org.queries import user_by_id
from chengzhi.org.service import Actor
from chengzhi.org.sessions import HowSignedIn
from chengzhi.ratelimit import check_rate
from chengzhi.web.i18n import gettext
from chengzhi.web.templating import FormErrors, chrome, csrf_ok, page_actor, page_language, render

router = APIRouter(include_in_schema=False)


@dataclass
class VerifyPage:
    level: int
    current: int
    next: str
    signed_in: bool = True
    phone: str = ""
    email: str = ""
    sent_to: str = ""
    demo_code: str | None = None
    providers: list[tuple[str, str]] = field(default_factory=list)
    errors: FormErrors = field(default_factory=FormErrors)


def _level(raw: str | None) -> int:
    return 2 if raw == "2" else 1


def _login_first(path: str) -> Response:
    return RedirectResponse(f"/login?next={path}", status_code=303)


BROWSER_KEY = "verify_browser"


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _real_name_providers(request: Request, lang: str) -> list[tuple[str, str]]:
    settings = request.app.state.settings
    return [
        (name, (p.name_en if lang == "en" else p.name_zh) or name)
        for name, p in settings.oidc_providers.items()
        if p.real_name
    ]


def _verify_page(request: Request, actor: Actor, level: int, next_url: str) -> VerifyPage:
    return VerifyPage(
        level=level,
        current=actor.level,
        next=next_url,
        signed_in=not actor.is_anonymous,
        providers=_real_name_providers(request, page_language(request)),
    )


@router.get("/verify")
def verify(request: Request, session: SessionDep) -> Response:
    """Step-up: what the person's action needs (level 1: a code to their phone; level 2: a real-name provider).
    A visitor without an account verifies a phone number here too and is signed in as a resident (level 1)."""
    actor = page_actor(request, session)
    level = _level(request.query_params.get("level"))
    next_url = safe_next(request.query_params.get("next")) or "/me"
    if not actor.is_anonymous and actor.level >= level:
        return RedirectResponse(next_url, status_code=303)
    page = _verify_page(request, actor, level, next_url)
    user = user_by_id(session, actor.user_id) if actor.user_id else None
    page.phone = (user.phone or "") if user else ""
    page.email = (user.email or "") if user else ""
    return render(request, "account/verify.html", page, chrome(request, actor))


def _browser(request: Request) -> str:
    """The random id of a visitor's browser for their one-time code (kept in the signed session cookie)."""
    token = request.session.get(BROWSER_KEY)
    if not isinstance(token, str) or len(token) < 20:
        token = secrets.token_urlsafe(24)
        request.session[BROWSER_KEY] = token
    return token


@router.post("/verify/send")
async def verify_send(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    actor = page_actor(request, session)
    form = await request.form()
    next_url = safe_next(str(form.get("next") or "")) or "/me"
    page = _verify_page(request, actor, 1, next_url)
    channel = "email" if form.get("channel") == "email" else "sms"
    page.phone = str(form.get("phone") or "").strip()[:40]
    page.email = str(form.get("email") or "").strip()[:200]
    target = page.email if channel == "email" else page.phone
    lang = page_language(request)
    user = user_by_id(session, actor.user_id) if actor.user_id else None
    if not csrf_ok(request, form) or (user is None and not actor.is_anonymous):
        page.errors.add("form", message("csrf_failed", lang))
    else:
        sessions = get_sessionmaker(settings.database_url)
        try:
            check_rate(settings.rate_limit_storage, settings.login_rate, "verify", _client(request))
            if user is None:
                _result, page.demo_code = verification.send_visitor_code(
                    session, sessions, settings, _browser(request), channel, target
                )
            else:
                _result, page.demo_code = verification.send_code(
                    session, sessions, settings, user, channel, target
                )
            page.sent_to = target
        except ChengzhiError as exc:
            session.rollback()
            page.errors.add("email" if channel == "email" else "phone", message(exc.code, lang, exc.params))
    status = 422 if page.errors else 200
    return render(request, "account/verify.html", page, chrome(request, actor), status_code=status)


@router.post("/verify/confirm")
async def verify_confirm(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    actor = page_actor(request, session)
    form = await request.form()
    next_url = safe_next(str(form.get("next") or "")) or "/me"
    lang = page_language(request)
    page = _verify_page(request, actor, 1, next_url)
    page.sent_to = str(form.get("phone") or "")[:40]
    user = user_by_id(session, actor.user_id) if actor.user_id else None
    code = str(form.get("code") or "")[:10]
    if not csrf_ok(request, form) or (user is None and not actor.is_anonymous):
        page.errors.add("form", message("csrf_failed", lang))
    else:
        try:
            if user is not None:
                verification.confirm_code(session, settings, user, code)
                session.commit()
                return RedirectResponse(next_url, status_code=303)
            channel, target = verification.confirm_visitor_code(session, settings, _browser(request), code)
            session.commit()  # the code is used, whatever comes next
            resident = identity.resident_for(session, channel, target)
            owed = signin.start(
                request, session, settings, resident, HowSignedIn(method="phone"), next_url=next_url
            )
            return RedirectResponse("/login/second-factor" if owed else next_url, status_code=303)
        except ChengzhiError as exc:
            session.commit()  # the failed attempt counts
            page.errors.add("code", message(exc.code, lang, exc.params))
    return render(request, "account/verify.html", page, chrome(request, actor), status_code=422)


# ---------------------------------------------------------------- my space


@dataclass
class MySpace:
    data: dict[str, Any]
    level: int
    verified: dict[str, str] = field(default_factory=dict)
    field_names: dict[str, str] = field(
        default_factory=dict
    )  # shared detail -> its name in the page's language
    notice: str = ""
    errors: FormErrors = field(default_factory=FormErrors)


def _space_actor(request: Request, session: SessionDep, settings: SettingsDep) -> Actor | Response:
    actor = page_actor(request, session)
    if actor.is_anonymous:
        return _login_first("/me")
    if not levels.allowed(actor, settings, "history"):
        return RedirectResponse(
            levels.step_up_url(levels.level_needed(settings, "history"), "/me"), status_code=303
        )
    return actor


@router.get("/me")
def my_space(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    actor = _space_actor(request, session, settings)
    if isinstance(actor, Response):
        return actor
    user = user_by_id(session, actor.user_id or 0)
    assert user is not None
    page = MySpace(
        data=space.gather(session, settings, user),
        level=actor.level,
        verified=sharing.verified_details(user),
        field_names={f: gettext(page_language(request), name) for f, name in FIELD_NAMES.items()},
        notice=str(request.query_params.get("done") or "")[:20],
    )
    response = render(request, "account/me.html", page, chrome(request, actor))
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/me/export.{fmt}")
def export(fmt: str, request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    actor = _space_actor(request, session, settings)
    if isinstance(actor, Response):
        return actor
    if fmt not in ("json", "csv"):
        return RedirectResponse("/me", status_code=303)
    user = user_by_id(session, actor.user_id or 0)
    assert user is not None
    data = space.gather(session, settings, user)
    space.record(session, user.id, "export", format=fmt, requests=len(data["requests"]))
    session.commit()
    body = space.export_json(data) if fmt == "json" else space.export_csv(data)
    media = "application/json" if fmt == "json" else "text/csv; charset=utf-8"
    return Response(
        body,
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="chengzhi-my-data.{fmt}"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/me/correct")
async def correct(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    actor = _space_actor(request, session, settings)
    if isinstance(actor, Response):
        return actor
    form = await request.form()
    user = user_by_id(session, actor.user_id or 0)
    if not csrf_ok(request, form) or user is None:
        return RedirectResponse("/me", status_code=303)
    try:
        space.correct(
            session,
            user,
            space.Correction(
                display_name=str(form.get("display_name")) if form.get("display_name") is not None else None,
                language=str(form.get("language")) if form.get("language") else None,
            ),
        )
    except ChengzhiError as exc:
        session.rollback()
        done = "name_verified" if exc.code == "name_verified_by_provider" else "invalid"
        return RedirectResponse(f"/me?done={done}", status_code=303)
    session.commit()
    return RedirectResponse("/me?done=corrected", status_code=303)


@router.post("/me/notifications")
async def notifications(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    actor = _space_actor(request, session, settings)
    if isinstance(actor, Response):
        return actor
    form = await request.form()
    if not csrf_ok(request, form) or actor.user_id is None:
        return RedirectResponse("/me", status_code=303)
    space.set_preferences(session, actor.user_id, {k: form.get(k) == "on" for k in space.DEFAULT_CHOICES})
    session.commit()
    return RedirectResponse("/me?done=saved", status_code=303)


@router.post("/me/sharing")
async def set_sharing(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """Which verified details the units handling the person's requests may see (nothing until chosen)."""
    actor = _space_actor(request, session, settings)
    if isinstance(actor, Response):
        return actor
    form = await request.form()
    if not csrf_ok(request, form) or actor.user_id is None:
        return RedirectResponse("/me", status_code=303)
    chosen = {f: form.get(f) == "on" for f in sharing.FIELDS}
    sharing.set_consent(session, actor.user_id, chosen)
    space.record(session, actor.user_id, "share", fields=[f for f, on in chosen.items() if on])
    session.commit()
    return RedirectResponse("/me?done=saved#sharing", status_code=303)


@router.post("/me/app-accounts/{link_id}/unlink")
async def unlink_app_account(
    link_id: str, request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    """End the link of one of the person's app accounts (Open311): its requests leave "My requests"."""
    actor = _space_actor(request, session, settings)
    if isinstance(actor, Response):
        return actor
    form = await request.form()
    user = user_by_id(session, actor.user_id or 0)
    number = int(link_id) if link_id.isascii() and link_id.isdigit() and len(link_id) < 10 else 0
    if not csrf_ok(request, form) or user is None or number == 0:
        return RedirectResponse("/me?done=not_changed#app-accounts", status_code=303)
    try:
        space.unlink_app_account(session, user, number)
    except ChengzhiError:
        session.rollback()
        return RedirectResponse("/me?done=not_changed#app-accounts", status_code=303)
    session.commit()
    return RedirectResponse("/me?done=unlinked#app-accounts", status_code=303)


@router.post("/me/delete")
async def delete_me(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    actor = _space_actor(request, session, settings)
    if isinstance(actor, Response):
        return actor
    form = await request.form()
    user = user_by_id(session, actor.user_id or 0)
    if not csrf_ok(request, form) or user is None or form.get("confirm") != "yes" or actor.is_staff:
        return RedirectResponse("/me?done=not_deleted", status_code=303)
    space.delete_person(session, user)
    session.commit()
    request.session.clear()
    return RedirectResponse("/?deleted=1", status_code=303)
