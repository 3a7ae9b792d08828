"""Staff pages of the alerts: `/dashboard/hot/alerts` (the alerts of the viewer's unit, acknowledged there) and
`/dashboard/hot/words` (the sensitive-word list, administrators)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from chengzhi.db import MAX_ID, utcnow
from chengzhi.deps import SessionDep, SettingsDep
from chengzhi.errors import ChengzhiError
from chengzhi.i18n import N_, Text, message
from chengzhi.org.models import Role
from chengzhi.warning import alerts, forecast, service
from chengzhi.warning.models import Alert
from chengzhi.warning.pages import _refuse, _unit_param
from chengzhi.web.i18n import gettext
from chengzhi.web.templating import chrome, csrf_ok, page_actor, render

router = APIRouter(include_in_schema=False)

KIND_NAMES: dict[str, Text] = {
    "hot": N_("hot issue"),
    "burst": N_("burst"),
    "repeat": N_("repeated problem"),
    "word": N_("sensitive words"),
}


@dataclass
class AlertsPage:
    title: str
    unit_name: str
    unit_id: int
    alerts: list[dict[str, Any]] = field(default_factory=list)
    open_count: int = 0
    can_acknowledge: bool = False
    words_url: str | None = None
    error: str | None = None


@dataclass
class WordsPage:
    title: str
    words: list[Any]
    error: str | None = None


def _what(alert: Alert, lang: str) -> str:
    """One line saying why the alert was raised, in the viewer's language."""
    d = alert.detail or {}
    if alert.kind == "hot":
        return gettext(lang, N_("%(people)s different people, %(messages)s requests in 90 days"), **d)
    if alert.kind == "burst":
        return gettext(lang, N_("%(count)s requests on %(day)s where %(expected)s were expected"), **d)
    if alert.kind == "repeat":
        text = (
            N_("raised %(times)s times from one place")
            if d.get("by") == "place"
            else N_("raised %(times)s times by one person")
        )
        return gettext(lang, text, **d)
    return gettext(lang, N_("request %(number)s"), number=d.get("number", ""))


def _link(alert: Alert, unit_id: int) -> str:
    if alert.issue_id:
        return f"/dashboard/hot/{alert.issue_id}?" + urlencode({"unit": unit_id})
    number = (alert.detail or {}).get("number")
    return f"/staff/requests/{number}" if number else ""


@router.get("/dashboard/hot/alerts")
def alerts_page(request: Request, session: SessionDep) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    refused = _refuse(request, actor, frame)
    if refused is not None:
        return refused
    error = None
    try:
        unit = service.viewer_unit(session, actor, _unit_param(request))
    except ChengzhiError as exc:
        error = message(exc.code, frame.lang, exc.params)
        unit = service.viewer_unit(session, actor, None)
    rows = []
    for alert in alerts.alerts_for(session, unit, limit=200):
        title = alert.title
        if alert.kind == "burst" and frame.lang == "en":
            title = (alert.detail or {}).get("category_en") or title
        rows.append(
            {
                "id": alert.id,
                "kind": gettext(frame.lang, KIND_NAMES.get(alert.kind, N_("alert"))),
                "title": title,
                "what": _what(alert, frame.lang),
                "link": _link(alert, unit.id),
                "created_at": alert.created_at.isoformat()[:16].replace("T", " "),
                "acknowledged": alert.acknowledged_at is not None,
                "note": alert.note or "",
            }
        )
    page = AlertsPage(
        title=gettext(frame.lang, N_("Alerts")),
        unit_name=unit.name_en if frame.lang == "en" else unit.name_zh,
        unit_id=unit.id,
        alerts=rows,
        open_count=alerts.open_count(session, unit),
        can_acknowledge=actor.has_role(*alerts.ACK_ROLES),
        words_url="/dashboard/hot/words" if actor.has_role(Role.admin) else None,
        error=error,
    )
    return render(request, "warning/alerts.html", page, frame)


@router.post("/dashboard/hot/alerts/{alert_id}/acknowledge")
async def acknowledge_page(alert_id: int, request: Request, session: SessionDep) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    refused = _refuse(request, actor, frame)
    if refused is not None:
        return refused
    form = await request.form()
    unit = service.viewer_unit(session, actor, _unit_param(request))
    if csrf_ok(request, form):
        alerts.acknowledge(
            session, actor, unit, min(max(alert_id, 1), MAX_ID), utcnow(), str(form.get("note") or "")[:500]
        )
        session.commit()
    return RedirectResponse(f"/dashboard/hot/alerts?unit={unit.id}#alert-{alert_id}", status_code=303)


def _words_page(request: Request, session: SessionDep, error: str | None = None) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    refused = _refuse(request, actor, frame)
    if refused is not None:
        return refused
    if not actor.has_role(Role.admin):
        text = gettext(frame.lang, N_("The sensitive-word list is edited by administrators."))
        return render(request, "forbidden.html", _Refused(text), frame, status_code=403)
    page = WordsPage(gettext(frame.lang, N_("Sensitive words")), alerts.sensitive_words(session), error)
    return render(request, "warning/words.html", page, frame, status_code=422 if error else 200)


@dataclass
class _Refused:
    message: str


@router.get("/dashboard/hot/words")
def words_page(request: Request, session: SessionDep) -> Response:
    return _words_page(request, session)


@router.post("/dashboard/hot/words")
async def words_change(request: Request, session: SessionDep) -> Response:
    actor = page_actor(request, session)
    form = await request.form()
    if actor.has_role(Role.admin) and csrf_ok(request, form):
        lang = chrome(request, actor).lang
        try:
            remove = str(form.get("remove") or "")
            if remove.isdigit() and 0 < int(remove) <= MAX_ID:
                alerts.remove_word(session, actor, int(remove))
            else:
                alerts.add_word(session, actor, str(form.get("word") or "")[:60], str(form.get("note") or ""))
            session.commit()
        except ChengzhiError as exc:
            session.rollback()
            return _words_page(request, session, message(exc.code, lang, exc.params))
        return RedirectResponse("/dashboard/hot/words", status_code=303)
    return _words_page(request, session)


REASON_NAMES: dict[str, Text] = {"recurring": N_("recurring"), "seasonal": N_("same month last year")}


@dataclass
class ProactivePage:
    title: str
    unit_name: str
    unit_id: int
    data: dict[str, Any]


@router.get("/dashboard/hot/proactive")
def proactive_page(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    refused = _refuse(request, actor, frame)
    if refused is not None:
        return refused
    try:
        unit = service.viewer_unit(session, actor, _unit_param(request))
    except ChengzhiError:
        unit = service.viewer_unit(session, actor, None)
    data = forecast.proactive_list(session, settings, unit, utcnow(), frame.lang)
    for row in data["expected"]:
        row["reasons"] = [gettext(frame.lang, REASON_NAMES[r]) for r in row["reasons"]]
    page = ProactivePage(
        title=gettext(frame.lang, N_("Fix before asked")),
        unit_name=unit.name_en if frame.lang == "en" else unit.name_zh,
        unit_id=unit.id,
        data=data,
    )
    return render(request, "warning/proactive.html", page, frame)
