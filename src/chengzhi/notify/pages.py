"""Pages: my notifications (in-app inbox), and the delivery log for administrators and supervisors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from chengzhi.deps import SessionDep, SettingsDep
from chengzhi.i18n import N_
from chengzhi.notify import service
from chengzhi.notify.texts import KIND_NAMES
from chengzhi.org.models import Role
from chengzhi.web.i18n import gettext
from chengzhi.web.templating import chrome, page_actor, render

router = APIRouter(include_in_schema=False)
LOG_ROLES = (Role.admin, Role.supervisor)


@dataclass
class NotificationsPage:
    items: list[dict[str, Any]] = field(default_factory=list)
    unread: int = 0
    kinds: dict[str, str] = field(default_factory=dict)


@dataclass
class DeliveryLogPage:
    items: list[dict[str, Any]] = field(default_factory=list)
    kinds: dict[str, str] = field(default_factory=dict)
    state: str = ""


@dataclass
class NotAllowedPage:
    message: str


def _to_login(request: Request) -> Response:
    return RedirectResponse(f"/login?next={quote(request.url.path, safe='/')}", status_code=303)


@router.get("/notifications")
def my_notifications(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    actor = page_actor(request, session)
    if actor.user_id is None:
        return _to_login(request)
    frame = chrome(request, actor)
    inbox = service.inbox(session, settings, actor.user_id, frame.lang)
    kinds = {k: gettext(frame.lang, v) for k, v in KIND_NAMES.items()}
    page = NotificationsPage(items=inbox["items"], unread=inbox["unread"], kinds=kinds)
    return render(request, "notifications.html", page, frame)


@router.get("/staff/notifications")
def delivery_log(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    actor = page_actor(request, session)
    if actor.user_id is None:
        return _to_login(request)
    frame = chrome(request, actor)
    if not actor.has_role(*LOG_ROLES):
        text = gettext(frame.lang, N_("The delivery log is for supervisors and administrators."))
        return render(request, "forbidden.html", NotAllowedPage(text), frame, status_code=403)
    state = (request.query_params.get("state") or "").strip()[:10]
    items = service.delivery_log(session, settings, frame.lang, state=state or None, limit=200)
    kinds = {k: gettext(frame.lang, v) for k, v in KIND_NAMES.items()}
    return render(request, "staff_notifications.html", DeliveryLogPage(items, kinds, state), frame)
