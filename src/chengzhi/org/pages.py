"""Sign-in and sign-out pages: the session cookie that the API's POST /api/v1/auth/session also sets."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.responses import Response

from chengzhi.config import Settings
from chengzhi.deps import SessionDep, SettingsDep
from chengzhi.errors import ChengzhiError
from chengzhi.i18n import message
from chengzhi.org import service as svc
from chengzhi.org import signin
from chengzhi.org.models import UnitKind, User
from chengzhi.org.sessions import HowSignedIn
from chengzhi.ratelimit import check_rate
from chengzhi.web.i18n import N_, gettext
from chengzhi.web.templating import FormErrors, chrome, csrf_ok, page_actor, page_language, render

router = APIRouter(include_in_schema=False)


@dataclass
class LoginPage:
    username: str = ""
    next: str = ""
    errors: FormErrors = field(default_factory=FormErrors)
    # OpenID Connect providers offered: (short name, label in the page's language).
    providers: list[tuple[str, str]] = field(default_factory=list)
    refusal: str = ""  # the error code of a refused provider sign-in


def providers_of(settings: Settings, lang: str) -> list[tuple[str, str]]:
    return [
        (name, (p.name_en if lang == "en" else p.name_zh) or name)
        for name, p in settings.oidc_providers.items()
    ]


# The id of a session from an identity provider that was just ended: /auth/oidc/logout ends the provider's too.
RP_LOGOUT_KEY = "rp_logout"


@dataclass
class LogoutPage:
    signed_in: bool


def safe_next(target: str | None) -> str:
    """Only a path of this site: never another host (an open redirect)."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")) and len(target) < 500:
        return target
    return ""


def default_landing(user: User) -> str:
    """Where a sign-in without a `next` lands: staff on the home page, residents on their requests."""
    return "/" if svc.actor_for(user).is_staff else "/track"


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/login")
def login_form(request: Request, session: SessionDep) -> Response:
    actor = page_actor(request, session)
    page = LoginPage(
        next=safe_next(request.query_params.get("next")),
        providers=providers_of(request.app.state.settings, page_language(request)),
    )
    return render(request, "login.html", page, chrome(request, actor))


@router.post("/login")
async def login(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    lang = page_language(request)
    form = await request.form()
    username = str(form.get("username") or "").strip()[:150]
    password = str(form.get("password") or "")[:1000]
    page = LoginPage(
        username=username,
        next=safe_next(str(form.get("next") or "")),
        providers=providers_of(settings, lang),
    )
    if not csrf_ok(request, form):
        page.errors.add("form", message("csrf_failed", lang))
    if not username:
        page.errors.add("username", gettext(lang, N_("Enter your username.")))
    if not password:
        page.errors.add("password", gettext(lang, N_("Enter your password.")))
    if not page.errors:
        try:
            check_rate(settings.rate_limit_storage, settings.login_rate, "login", _client(request))
            user = svc.authenticate(session, username, password, signin.lockout(settings))
            session.commit()
        except ChengzhiError as exc:
            session.commit()  # the failed attempt counts towards the lock-out
            field_name = "password" if exc.code == "bad_credentials" else "form"
            page.errors.add(field_name, message(exc.code, lang, exc.params))
        else:
            owed = signin.start(request, session, settings, user, HowSignedIn(), next_url=page.next)
            if owed is not None:
                return RedirectResponse("/login/second-factor", status_code=303)
            return RedirectResponse(page.next or default_landing(user), status_code=303)
    actor = page_actor(request, session)
    return render(request, "login.html", page, chrome(request, actor), status_code=422)


@router.get("/logout")
def logout_form(request: Request, session: SessionDep) -> Response:
    actor = page_actor(request, session)
    return render(
        request, "logout.html", LogoutPage(signed_in=not actor.is_anonymous), chrome(request, actor)
    )


@router.post("/logout")
async def logout(request: Request, session: SessionDep) -> Response:
    form = await request.form()
    if csrf_ok(request, form):
        ended = signin.sign_out(request, session)
        if ended is not None and ended.method.startswith("oidc:"):
            request.session[RP_LOGOUT_KEY] = ended.id
            return RedirectResponse("/auth/oidc/logout", status_code=303)
    return RedirectResponse("/", status_code=303)


@router.get("/map/areas.geojson")
def areas(session: SessionDep) -> Response:
    """The districts' areas (or, for a city without districts, its own) for the pages' maps."""
    units = [u for u in svc.list_units(session, UnitKind.district, with_areas=True) if u.area]
    if not units:
        units = [u for u in svc.list_units(session, UnitKind.city, with_areas=True) if u.area]
    features = [
        {
            "type": "Feature",
            "properties": {"id": u.id, "name_zh": u.name_zh, "name_en": u.name_en},
            "geometry": json.loads(u.area),
        }
        for u in units
        if u.area
    ]
    return JSONResponse(
        {"type": "FeatureCollection", "features": features}, headers={"Cache-Control": "public, max-age=300"}
    )
