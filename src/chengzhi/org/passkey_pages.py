"""Passkeys in the pages: registering one on `/account`, removing it, and using it at the second-factor step of a
sign-in. The browser side is `static/passkeys.js` (`navigator.credentials`); these routes exchange JSON with it,
with the CSRF token in the `X-CSRF-Token` header. The relying party's state between the two calls of each
ceremony stays in the signed session cookie."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.responses import Response

from chengzhi.deps import SessionDep, SettingsDep
from chengzhi.errors import ChengzhiError, Invalid, NotAuthenticated
from chengzhi.i18n import message
from chengzhi.org import mfa, passkeys, sessions, signin
from chengzhi.org.models import User
from chengzhi.org.pages import default_landing, safe_next
from chengzhi.web.templating import csrf_ok, page_actor, page_language

router = APIRouter(include_in_schema=False)
STATE_KEY = "passkey_state"


def _csrf_header(request: Request) -> bool:
    expected = request.session.get("csrf")
    given = request.headers.get("X-CSRF-Token", "")
    return bool(expected) and secrets.compare_digest(str(expected), given)


async def _csrf_given(request: Request) -> bool:
    """The CSRF token in the header (passkeys.js), or in a form field (a form posted without the script)."""
    if _csrf_header(request):
        return True
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return csrf_ok(request, await request.form(max_files=0, max_fields=5))
    return False


def _stranger() -> JSONResponse:
    return JSONResponse({"error": {"code": "not_authenticated"}}, status_code=401)


def _forged(request: Request) -> JSONResponse:
    text = message("csrf_failed", page_language(request))
    return JSONResponse({"error": {"code": "csrf_failed", "message": text}}, status_code=403)


def _refusal(request: Request, exc: ChengzhiError, status: int) -> JSONResponse:
    text = message(exc.code, page_language(request), exc.params)
    return JSONResponse({"error": {"code": exc.code, "message": text}}, status_code=status)


async def _answer(request: Request) -> dict[str, Any] | None:
    try:
        body = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) and isinstance(body.get("credential"), dict) else None


def _signed_in_user(request: Request, session: SessionDep) -> User | None:
    actor = page_actor(request, session)
    return session.get(User, actor.user_id) if actor.user_id is not None else None


@router.post("/account/passkeys/options")
async def register_options(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    user = _signed_in_user(request, session)
    if user is None:
        return _stranger()
    if not await _csrf_given(request):
        return _forged(request)
    try:
        options, state = passkeys.register_begin(session, user, settings)
    except ChengzhiError as exc:
        return _refusal(request, exc, 422)
    request.session[STATE_KEY] = {"register": user.id, **state}
    return JSONResponse(options)


@router.post("/account/passkeys")
async def register(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    user = _signed_in_user(request, session)
    if user is None:
        return _stranger()
    body = await _answer(request)
    if body is not None and not _csrf_header(request):
        return _forged(request)
    state = request.session.pop(STATE_KEY, None)
    try:
        if body is None or not isinstance(state, dict) or state.get("register") != user.id:
            raise Invalid("passkey_refused", reason="no registration under way")
        row = passkeys.register_complete(
            session, user, settings, state, body["credential"], str(body.get("name") or "")
        )
        session.commit()
    except ChengzhiError as exc:
        session.rollback()
        return _refusal(request, exc, 422)
    return JSONResponse({"id": row.id, "name": row.name}, status_code=201)


@router.post("/account/passkeys/{passkey_id}/delete")
async def remove(passkey_id: int, request: Request, session: SessionDep) -> Response:
    form = await request.form()
    user = _signed_in_user(request, session)
    if user is None or not csrf_ok(request, form):
        return RedirectResponse("/login?next=/account", status_code=303)
    try:
        passkeys.remove(session, user.id, passkey_id)
        session.commit()
    except ChengzhiError:
        session.rollback()
    return RedirectResponse("/account#passkeys", status_code=303)


@router.post("/login/passkey/options")
async def sign_in_options(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    waiting = signin.pending(request, session)
    if waiting is None:
        return _stranger()
    if not await _csrf_given(request):
        return _forged(request)
    user = waiting[0]
    try:
        options, state = passkeys.authenticate_begin(session, user, settings)
    except ChengzhiError as exc:
        return _refusal(request, exc, 404)
    request.session[STATE_KEY] = {"sign_in": user.id, **state}
    return JSONResponse(options)


@router.post("/login/passkey")
async def sign_in(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """The second factor by passkey: a refusal counts towards the lock-out, as a wrong code does."""
    waiting = signin.pending(request, session)
    if waiting is None:
        return _stranger()
    if not _csrf_header(request):
        return _forged(request)
    state = request.session.pop(STATE_KEY, None)
    user, how, next_url = waiting
    body = await _answer(request)
    try:
        if body is None or not isinstance(state, dict) or state.get("sign_in") != user.id:
            raise NotAuthenticated("passkey_refused", reason="no sign-in under way")
        mfa.verify_passkey(session, user, settings, state, body["credential"], signin.lockout(settings))
    except ChengzhiError as exc:
        session.commit()  # a refused passkey counts towards the lock-out
        return _refusal(request, exc, 401)
    done = sessions.HowSignedIn(
        method=how.method, acr=how.acr, amr=how.amr, second_factor="passkey", id_token=how.id_token
    )
    signin.finish(request, session, settings, user, done)
    return JSONResponse({"next": safe_next(next_url) or default_landing(user)})
