"""The webhooks page for administrators (`/staff/webhooks`): the subscriptions (add one: its signing secret is shown
once; stop one), the delivery log with each try, and a replay button on each delivery (docs/channels.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from chengzhi.db import MAX_ID, utcnow
from chengzhi.deps import SessionDep, SettingsDep
from chengzhi.errors import ChengzhiError, Invalid
from chengzhi.i18n import N_, message
from chengzhi.org.models import Role
from chengzhi.web.i18n import gettext
from chengzhi.web.templating import Chrome, chrome, not_found, page_actor, posted_form, render
from chengzhi.webhooks import service

router = APIRouter(include_in_schema=False)
PAGE = "/staff/webhooks"
DONE = {
    "replayed": N_("The event is sent again as a new delivery (same event id)."),
    "stopped": N_("The subscription is stopped: nothing more is sent to it."),
}


@dataclass
class WebhooksPage:
    subscriptions: list[dict[str, Any]]
    deliveries: list[dict[str, Any]]
    names: dict[int, str]  # subscription id -> name
    events: tuple[str, ...] = service.EVENT_TYPES
    notice: str | None = None
    error: str | None = None
    secret: str | None = None  # a new subscription's signing secret, shown once
    form: dict[str, Any] = field(default_factory=dict)


@dataclass
class NotAllowedPage:
    message: str


def _page(session: SessionDep, **more: Any) -> WebhooksPage:
    subscriptions = [service.subscription_out(s) for s in service.subscriptions(session)]
    names = {s["id"]: s["name"] for s in subscriptions}
    return WebhooksPage(subscriptions, service.deliveries(session, None, 100), names, **more)


def _gate(request: Request, session: SessionDep) -> tuple[Chrome, Response | None]:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    if actor.user_id is None:
        return frame, RedirectResponse(f"/login?next={PAGE}", status_code=303)
    if not actor.has_role(Role.admin):
        text = gettext(frame.lang, N_("Webhooks are managed by administrators."))
        return frame, render(request, "forbidden.html", NotAllowedPage(text), frame, status_code=403)
    return frame, None


def _id(value: str) -> int:
    return int(value) if value.isdigit() and 0 < int(value) <= MAX_ID else 0


@router.get(PAGE)
def webhooks_page(request: Request, session: SessionDep) -> Response:
    frame, refused = _gate(request, session)
    if refused is not None:
        return refused
    done = request.query_params.get("done", "")
    notice = gettext(frame.lang, DONE[done]) if done in DONE else None
    return render(request, "staff_webhooks.html", _page(session, notice=notice), frame)


@router.post(PAGE)
async def add_subscription(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """A new subscription: the page comes back with its signing secret, shown this once."""
    frame, refused = _gate(request, session)
    if refused is not None:
        return refused
    form = await posted_form(request)
    if form is None:
        raise ChengzhiError("csrf_failed")
    name, url = (str(form.get(k) or "").strip()[:500] for k in ("name", "url"))
    events = [e for e in form.getlist("events") if isinstance(e, str)]
    entered = {"name": name, "url": url, "events": events}
    try:
        if not name:
            raise Invalid(details="name: a name for the subscription")
        subscription, secret = service.subscribe(session, settings, name[:120], url, events, utcnow())
        session.commit()
    except ChengzhiError as exc:
        session.rollback()
        page = _page(session, error=message(exc.code, frame.lang, exc.params), form=entered)
        return render(request, "staff_webhooks.html", page, frame, status_code=exc.status_code)
    added = gettext(frame.lang, N_("Subscription %(name)s added."), name=subscription.name)
    page = _page(session, notice=added, secret=secret)
    return render(request, "staff_webhooks.html", page, frame, status_code=201)


@router.post(PAGE + "/subscriptions/{subscription_id}/stop")
async def stop_subscription(subscription_id: str, request: Request, session: SessionDep) -> Response:
    frame, refused = _gate(request, session)
    if refused is not None:
        return refused
    if await posted_form(request) is None:
        raise ChengzhiError("csrf_failed")
    try:
        service.deactivate(session, _id(subscription_id))
    except ChengzhiError:
        return not_found(request, frame, gettext(frame.lang, N_("This subscription does not exist.")))
    session.commit()
    return RedirectResponse(f"{PAGE}?done=stopped", status_code=303)


@router.post(PAGE + "/deliveries/{delivery_id}/replay")
async def replay_delivery(delivery_id: str, request: Request, session: SessionDep) -> Response:
    """The replay button: the delivery's event again, as a new delivery due now."""
    frame, refused = _gate(request, session)
    if refused is not None:
        return refused
    if await posted_form(request) is None:
        raise ChengzhiError("csrf_failed")
    try:
        service.replay(session, _id(delivery_id), utcnow())
    except ChengzhiError:
        return not_found(request, frame, gettext(frame.lang, N_("This delivery does not exist.")))
    session.commit()
    return RedirectResponse(f"{PAGE}?done=replayed#deliveries", status_code=303)
