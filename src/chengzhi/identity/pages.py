"""Signing in through an OpenID Connect provider: the redirect out, the callback, linking an identity to the
signed-in account, and RP-initiated logout."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from chengzhi.config import OidcProvider, Settings
from chengzhi.deps import SessionDep, SettingsDep
from chengzhi.errors import ChengzhiError, NotFound
from chengzhi.i18n import message
from chengzhi.identity import oidc
from chengzhi.identity import service as identity
from chengzhi.org import signin
from chengzhi.org.pages import RP_LOGOUT_KEY, LoginPage, default_landing, providers_of, safe_next
from chengzhi.org.queries import user_by_id
from chengzhi.org.sessions import HowSignedIn, session_by_id
from chengzhi.web.templating import chrome, page_actor, page_language, render

router = APIRouter(include_in_schema=False)

STATE_KEY = "oidc"
MAX_PENDING = 3


def _provider(settings: Settings, name: str) -> OidcProvider:
    provider = settings.oidc_providers.get(name)
    if provider is None:
        raise NotFound("not_found")
    return provider


def _refused(request: Request, session: SessionDep, exc: ChengzhiError, status: int = 401) -> Response:
    """The sign-in page again with the reason; nothing is signed in."""
    lang = page_language(request)
    page = LoginPage(providers=providers_of(request.app.state.settings, lang), refusal=exc.code)
    page.errors.add("form", message(exc.code, lang, exc.params))
    return render(
        request, "login.html", page, chrome(request, page_actor(request, session)), status_code=status
    )


@router.get("/login/oidc/{name}")
def start(name: str, request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """Send the browser to the provider; `link=1` links the identity to the signed-in account instead."""
    provider = _provider(settings, name)
    link = request.query_params.get("link") == "1"
    if link and page_actor(request, session).is_anonymous:
        return RedirectResponse(f"/login?next=/login/oidc/{name}?link=1", status_code=303)
    try:
        meta = oidc.metadata(provider, settings.oidc_timeout_seconds)
    except ChengzhiError as exc:
        return _refused(request, session, exc, 502)
    redirect_uri = str(request.url_for("oidc_callback", name=name))
    url, auth = oidc.start(
        name, provider, meta, redirect_uri, safe_next(request.query_params.get("next")), link
    )
    pending = dict(request.session.get(STATE_KEY) or {})
    while len(pending) >= MAX_PENDING:
        pending.pop(next(iter(pending)))
    pending[auth.state] = asdict(auth)
    request.session[STATE_KEY] = pending
    return RedirectResponse(url, status_code=303)


@router.get("/auth/oidc/{name}/callback", name="oidc_callback")
def callback(name: str, request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """The provider sends the browser back here with a code; every check must pass before anyone is signed in."""
    provider = _provider(settings, name)
    params = request.query_params
    pending = dict(request.session.get(STATE_KEY) or {})
    saved = pending.pop(str(params.get("state") or ""), None)
    request.session[STATE_KEY] = pending  # a state is used once: a replayed callback finds nothing
    try:
        if params.get("error"):
            raise oidc.OidcRefused("oidc_provider_error", details=str(params.get("error"))[:100])
        if not isinstance(saved, dict) or saved.get("provider") != name:
            raise oidc.OidcRefused("oidc_state_invalid")
        auth = oidc.AuthRequest(**saved)
        code = str(params.get("code") or "")
        if not code:
            raise oidc.OidcRefused("oidc_code_refused", details="no code")
        meta = oidc.metadata(provider, settings.oidc_timeout_seconds)
        raw = oidc.exchange_code(provider, meta, auth, code, settings.oidc_timeout_seconds)
        token = oidc.validate_id_token(
            provider,
            meta,
            raw,
            auth.nonce,
            leeway=settings.oidc_leeway_seconds,
            timeout=settings.oidc_timeout_seconds,
        )
        current = page_actor(request, session) if auth.link else None
        link_to = user_by_id(session, current.user_id) if current and current.user_id else None
        if auth.link and link_to is None:
            raise oidc.OidcRefused("oidc_state_invalid")
        user = identity.signed_in_user(session, name, provider, token, link_to=link_to)
    except (TypeError, ValueError):
        session.rollback()
        return _refused(request, session, oidc.OidcRefused("oidc_state_invalid"))
    except ChengzhiError as exc:
        session.rollback()
        return _refused(request, session, exc, exc.status_code)
    if auth.link:
        session.commit()
        return RedirectResponse(auth.next or "/account", status_code=303)
    said = identity.assurance(provider, token)
    how = HowSignedIn(
        method=f"oidc:{name}",
        acr=said.acr,
        amr=said.amr,
        second_factor="idp" if said.mfa else None,
        id_token=token.raw,
    )
    owed = signin.start(request, session, settings, user, how, next_url=auth.next)
    if owed is not None:
        return RedirectResponse("/login/second-factor", status_code=303)
    return RedirectResponse(auth.next or default_landing(user), status_code=303)


@router.get("/auth/oidc/logout")
def rp_logout(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """After the platform's own sign-out of a session that came from a provider: ask the provider to end its session
    too (OpenID Connect RP-Initiated Logout), then come back to the home page."""
    ended = request.session.pop(RP_LOGOUT_KEY, None)
    record = session_by_id(session, int(ended)) if isinstance(ended, int) else None
    home = str(request.base_url)
    if record is None or record.revoked_at is None or not record.method.startswith("oidc:"):
        return RedirectResponse("/", status_code=303)
    provider = settings.oidc_providers.get(record.method.removeprefix("oidc:"))
    if provider is None:
        return RedirectResponse("/", status_code=303)
    try:
        meta = oidc.metadata(provider, settings.oidc_timeout_seconds)
    except ChengzhiError:
        return RedirectResponse("/", status_code=303)
    url = oidc.end_session_url(meta, provider, record.id_token, home)
    return RedirectResponse(url or "/", status_code=303)
