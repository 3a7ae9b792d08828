"""Pages of one's own account: the staff second factor at sign-in (enrolment with recovery codes, then a code at
each sign-in), the list of one's signed-in browsers with a way to end each or all of them."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from chengzhi.deps import SessionDep, SettingsDep
from chengzhi.errors import ChengzhiError
from chengzhi.i18n import message
from chengzhi.org import mfa, passkeys, sessions, signin
from chengzhi.org.models import Passkey, User, UserSession
from chengzhi.org.pages import default_landing, safe_next
from chengzhi.web.i18n import N_, gettext
from chengzhi.web.templating import FormErrors, chrome, csrf_ok, page_actor, page_language, render

router = APIRouter(include_in_schema=False)


@dataclass
class SecondFactorPage:
    mode: str  # "verify", "enrol" or "codes" (enrolled: the recovery codes, shown once)
    username: str
    secret: str = ""
    uri: str = ""
    codes: list[str] = field(default_factory=list)
    next: str = "/"
    passkeys: bool = False  # the account has passkeys: the page offers them next to the code
    errors: FormErrors = field(default_factory=FormErrors)


def _grouped(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def _enrol_page(request: Request, session: SessionDep, user: User) -> SecondFactorPage:
    _factor, secret = mfa.begin_enrolment(session, user, request.app.state.settings)
    session.commit()
    return SecondFactorPage(
        mode="enrol",
        username=user.username,
        secret=_grouped(secret),
        uri=mfa.provisioning_uri(secret, user),
    )


@router.get("/login/second-factor")
def second_factor_form(request: Request, session: SessionDep) -> Response:
    waiting = signin.pending(request, session)
    if waiting is None:
        return RedirectResponse("/login", status_code=303)
    user, _how, _next = waiting
    with_passkeys = passkeys.has_passkey(session, user.id)
    if mfa.has_factor(session, user) or with_passkeys:
        page = SecondFactorPage(mode="verify", username=user.username, passkeys=with_passkeys)
    else:
        page = _enrol_page(request, session, user)
    return render(request, "account/second_factor.html", page, chrome(request, page_actor(request, session)))


@router.post("/login/second-factor")
async def second_factor(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    lang = page_language(request)
    form = await request.form()
    waiting = signin.pending(request, session)
    if waiting is None:
        return RedirectResponse("/login", status_code=303)
    user, how, next_url = waiting
    code = str(form.get("code") or "").strip()[:20]
    enrolled = mfa.has_factor(session, user)
    with_passkeys = passkeys.has_passkey(session, user.id)
    page = SecondFactorPage(
        mode="verify" if enrolled or with_passkeys else "enrol",
        username=user.username,
        passkeys=with_passkeys,
    )
    if not csrf_ok(request, form):
        page.errors.add("form", message("csrf_failed", lang))
    elif not code:
        page.errors.add("code", gettext(lang, N_("Enter the 6-digit code from your authenticator app.")))
    else:
        try:
            if enrolled:
                used = mfa.verify(session, user, code, settings, lockout=signin.lockout(settings))
            else:
                page.codes = mfa.confirm_enrolment(session, user, code, settings)
                used = "totp"
        except ChengzhiError as exc:
            session.commit()  # a wrong code counts towards the lock-out
            page.errors.add("code", message(exc.code, lang, exc.params))
        else:
            done = sessions.HowSignedIn(
                method=how.method, acr=how.acr, amr=how.amr, second_factor=used, id_token=how.id_token
            )
            signin.finish(request, session, settings, user, done)
            landing = safe_next(next_url) or default_landing(user)
            if page.codes:
                page.mode, page.next = "codes", landing
                actor = page_actor(request, session)
                return render(request, "account/second_factor.html", page, chrome(request, actor))
            return RedirectResponse(landing, status_code=303)
    if page.mode == "enrol":
        factor = mfa.factor_of(session, user)
        if factor is not None:
            secret = mfa.secret_of(factor, settings)
            page.secret, page.uri = _grouped(secret), mfa.provisioning_uri(secret, user)
    actor = page_actor(request, session)
    return render(request, "account/second_factor.html", page, chrome(request, actor), status_code=422)


@dataclass
class AccountPage:
    username: str
    level: int
    sessions: list[UserSession]
    current: int | None
    has_factor: bool
    recovery_left: int
    passkeys: list[Passkey] = field(default_factory=list)
    notice: str = ""


@router.get("/account")
def account(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    actor = page_actor(request, session)
    if actor.is_anonymous or actor.user_id is None:
        return RedirectResponse("/login?next=/account", status_code=303)
    user = session.get(User, actor.user_id)
    assert user is not None
    page = AccountPage(
        username=user.username,
        level=actor.level,
        sessions=sessions.sessions_of(session, user.id, settings),
        current=actor.session_id,
        has_factor=mfa.has_factor(session, user),
        recovery_left=mfa.recovery_codes_left(session, user),
        passkeys=passkeys.passkeys_of(session, user.id),
        notice=str(request.query_params.get("ended", ""))[:3],
    )
    return render(request, "account/account.html", page, chrome(request, actor))


@router.post("/account/sessions/end")
async def end_sessions(request: Request, session: SessionDep) -> Response:
    """End one session (`session_id`) or every session (`all`), this one included."""
    form = await request.form()
    actor = page_actor(request, session)
    if actor.is_anonymous or actor.user_id is None or not csrf_ok(request, form):
        return RedirectResponse("/login?next=/account", status_code=303)
    if form.get("all"):
        sessions.revoke_all(session, actor.user_id, "signed_out_everywhere")
        session.commit()
        request.session.clear()
        return RedirectResponse("/login", status_code=303)
    try:
        chosen = int(str(form.get("session_id") or "0"))
        sessions.revoke_one(session, actor.user_id, chosen, "ended_by_user")
    except (ValueError, ChengzhiError):
        return RedirectResponse("/account", status_code=303)
    session.commit()
    if chosen == actor.session_id:
        request.session.clear()
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse("/account?ended=1", status_code=303)
