"""Admin pages of a user's access: ending the sessions where they are signed in (one, or all), and removing their
second factor when they lost their phone (they set up a new one at their next sign-in; their sessions end too).
The user's page (users.py) lists the sessions with these buttons."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.responses import Response

from chengzhi.admin.common import Admin, admin_or_refuse
from chengzhi.admin.users import managed_user
from chengzhi.deps import SessionDep
from chengzhi.errors import ChengzhiError
from chengzhi.i18n import message
from chengzhi.org import mfa, sessions
from chengzhi.org.models import User
from chengzhi.web.templating import csrf_ok, not_found

router = APIRouter(include_in_schema=False)


async def _managed_form(
    request: Request, session: Session, ref: str
) -> tuple[Admin, User, FormData, str] | Response:
    """The administrator, the user they manage, the posted form and the user's page; or the refusal."""
    admin = admin_or_refuse(request, session)
    if not isinstance(admin, Admin):
        return admin
    user = managed_user(session, admin, ref)
    if user is None:
        return not_found(request, admin.frame, message("user_not_found", admin.lang, {"ref": ref[:20]}))
    form = await request.form(max_files=0, max_fields=10)
    return admin, user, form, f"/staff/admin/users/{user.id}"


@router.post("/staff/admin/users/{ref}/sessions/end")
async def end_sessions(ref: str, request: Request, session: SessionDep) -> Response:
    """End one session of the user (`session_id`) or all of them (`all`)."""
    opened = await _managed_form(request, session, ref)
    if isinstance(opened, Response):
        return opened
    admin, user, form, back = opened
    if not csrf_ok(request, form):
        return RedirectResponse(back, status_code=303)
    own = admin.actor.session_id
    if form.get("all"):
        ended_own = user.id == admin.actor.user_id
        sessions.revoke_all(session, user.id, "ended_by_admin")
        done = "sessions_ended"
    else:
        try:
            chosen = int(str(form.get("session_id") or "0")[:12])
            sessions.revoke_one(session, user.id, chosen, "ended_by_admin")
        except (ValueError, ChengzhiError):
            return RedirectResponse(back, status_code=303)
        ended_own = chosen == own
        done = "session_ended"
    session.commit()
    if ended_own:  # the administrator ended the session they are using
        request.session.clear()
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse(f"{back}?done={done}#sessions", status_code=303)


@router.post("/staff/admin/users/{ref}/second-factor/reset")
async def reset_second_factor(ref: str, request: Request, session: SessionDep) -> Response:
    """Remove the user's second factor (a lost phone); their sessions end, they enrol again at next sign-in."""
    opened = await _managed_form(request, session, ref)
    if isinstance(opened, Response):
        return opened
    admin, user, form, back = opened
    if not csrf_ok(request, form) or form.get("confirm") != "yes" or user.id == admin.actor.user_id:
        return RedirectResponse(back, status_code=303)
    mfa.reset(session, user)
    sessions.revoke_all(session, user.id, "second_factor_reset")
    session.commit()
    return RedirectResponse(f"{back}?done=factor_reset#sessions", status_code=303)
