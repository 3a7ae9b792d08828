"""Password reset through a verified channel: a one-time code to the phone number the account verified; a new
password ends every session of the account. The answer never says whether the username or number matched."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from chengzhi.db import get_sessionmaker
from chengzhi.deps import SessionDep, SettingsDep
from chengzhi.errors import ChengzhiError
from chengzhi.i18n import message
from chengzhi.identity import verification
from chengzhi.org import service as org
from chengzhi.org.queries import user_by_username
from chengzhi.ratelimit import check_rate
from chengzhi.web.i18n import N_, gettext
from chengzhi.web.templating import FormErrors, chrome, csrf_ok, page_actor, page_language, render

router = APIRouter(include_in_schema=False)


@dataclass
class ResetPage:
    username: str = ""
    sent: bool = False
    demo_code: str | None = None
    errors: FormErrors = field(default_factory=FormErrors)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _digits(text: str | None) -> str:
    return "".join(ch for ch in text or "" if ch.isdigit())


@router.get("/password/reset")
def reset_form(request: Request, session: SessionDep) -> Response:
    return render(request, "account/reset.html", ResetPage(), chrome(request, page_actor(request, session)))


@router.post("/password/reset")
async def reset_send(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    form = await request.form()
    lang = page_language(request)
    page = ResetPage(username=str(form.get("username") or "").strip()[:80])
    phone = str(form.get("phone") or "")[:40]
    if not csrf_ok(request, form):
        page.errors.add("form", message("csrf_failed", lang))
    else:
        try:
            check_rate(settings.rate_limit_storage, settings.login_rate, "login", _client(request))
        except ChengzhiError as exc:
            page.errors.add("form", message(exc.code, lang, exc.params))
    if not page.errors:
        user = user_by_username(session, page.username)
        matches = (
            user is not None
            and user.active
            and user.phone_verified_at is not None
            and len(_digits(phone)) >= 6
            and _digits(user.phone) == _digits(phone)
        )
        if matches and user is not None and user.phone:
            _result, page.demo_code = verification.send_code(
                session, get_sessionmaker(settings.database_url), settings, user, "sms", user.phone
            )
        page.sent = True
    status = 422 if page.errors else 200
    return render(
        request, "account/reset.html", page, chrome(request, page_actor(request, session)), status_code=status
    )


@router.post("/password/reset/confirm")
async def reset_confirm(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    form = await request.form()
    lang = page_language(request)
    page = ResetPage(username=str(form.get("username") or "").strip()[:80], sent=True)
    password = str(form.get("password") or "")[:200]
    user = user_by_username(session, page.username)
    if not csrf_ok(request, form):
        page.errors.add("form", message("csrf_failed", lang))
    elif len(password) < org.MIN_PASSWORD:  # checked first, for every name: the answer reveals no account
        page.errors.add("password", message("password_too_short", lang, {"min": org.MIN_PASSWORD}))
    elif user is None or not user.active:
        page.errors.add("code", message("verification_code_invalid", lang))
    else:
        try:
            verification.confirm_code(session, settings, user, str(form.get("code") or "")[:10])
            org.set_password(session, user, password)
            session.commit()
            return RedirectResponse("/login?reset=1", status_code=303)
        except ChengzhiError as exc:
            session.commit()  # a wrong code counts
            page.errors.add("code", message(exc.code, lang, exc.params))
    if not page.errors:
        page.errors.add("form", gettext(lang, N_("The password could not be reset.")))
    return render(
        request, "account/reset.html", page, chrome(request, page_actor(request, session)), status_code=422
    )
