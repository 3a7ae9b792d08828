"""Staff pages of early warning: `/dashboard/hot`, the ranked hot issues of the viewer's unit with their heat terms
and weekly trends, and `/dashboard/hot/{id}`, one issue with its requests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from chengzhi.db import MAX_ID, utcnow
from chengzhi.deps import SessionDep, SettingsDep
from chengzhi.errors import ChengzhiError
from chengzhi.i18n import N_, Text, message
from chengzhi.org.service import Actor
from chengzhi.warning import alerts, hot, labels, maps, request_merge, service
from chengzhi.web.i18n import gettext
from chengzhi.web.templating import Chrome, chrome, csrf_ok, page_actor, render

router = APIRouter(include_in_schema=False)

TERM_NAMES: dict[str, Text] = {
    "messages": N_("messages"),
    "people": N_("people"),
    "likes": N_("supports"),
    "dislikes": N_("opposes"),
    "intensity": N_("intensity"),
    "recency": N_("recency"),
    "growth": N_("growth"),
    "negativity": N_("negativity"),
    "spread": N_("spread"),
}


@dataclass
class Refused:
    message: str


@dataclass
class HotPage:
    title: str
    unit_name: str
    issues: list[dict[str, Any]] = field(default_factory=list)
    term_names: dict[str, str] = field(default_factory=dict)
    csv_url: str = ""
    alerts_url: str = ""
    open_alerts: int = 0
    error: str | None = None
    chart: dict[str, Any] | None = None  # the top issues' weekly trends (ECharts)
    map: dict[str, Any] | None = None  # the streets with the hot issues' requests (GeoJSON)


LABEL_NAMES: dict[str, Text] = {
    "negative": N_("negative"),
    "neutral": N_("neutral"),
    "positive": N_("positive"),
    "suggestion": N_("suggestion"),
    "complaint": N_("complaint or request for help"),
    "consultation": N_("consultation"),
}


@dataclass
class HotIssuePage:
    title: str
    issue: dict[str, Any]
    requests: list[service.MemberView]
    back_url: str
    # (label, count) of the requests' sentiments and types; empty without a text model
    sentiments: list[tuple[str, int]] = field(default_factory=list)
    types: list[tuple[str, int]] = field(default_factory=list)
    posts: list[service.PostView] = field(default_factory=list)
    chart: dict[str, Any] | None = None
    map: dict[str, Any] | None = None
    # request id -> whether this dispatcher may merge it (empty for anyone who is not a dispatcher)
    merge: dict[int, request_merge.MergeChoice] = field(default_factory=dict)
    merge_url: str = ""
    merge_error: str | None = None
    merged: int | None = None  # requests just merged (after the redirect)


def _refuse(request: Request, actor: Actor, frame: Chrome) -> Response | None:
    if actor.is_anonymous:
        return RedirectResponse(f"/login?next={quote(request.url.path, safe='/')}", status_code=303)
    if not actor.has_role(*service.READ_ROLES):
        text = gettext(frame.lang, N_("Hot issues are for leaders, analysts, supervisors and dispatchers."))
        return render(request, "forbidden.html", Refused(text), frame, status_code=403)
    return None


def _unit_param(request: Request) -> int | None:
    raw = request.query_params.get("unit", "")[:12]
    return int(raw) if raw.isdigit() and 0 < int(raw) <= MAX_ID else None


def sparkline(values: list[int], width: int = 96, height: int = 20) -> str:
    """The points of an SVG polyline for a weekly trend."""
    top = max(values, default=0) or 1
    step = width / max(1, len(values) - 1)
    return " ".join(f"{i * step:.1f},{height - 1 - (height - 2) * v / top:.1f}" for i, v in enumerate(values))


def _chart(lang: str, views: list[service.HotIssueView]) -> dict[str, Any] | None:
    if not views:
        return None
    label = gettext(lang, N_("%(n)s weeks ago"))
    return maps.trend_chart([v.name for v in views], [v.trend for v in views], label)


@router.get("/dashboard/hot")
def dashboard_hot(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
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
    views = service.hot_issues(session, settings, unit, utcnow(), limit=30)
    names = {k: gettext(frame.lang, v) for k, v in TERM_NAMES.items()}
    issues = []
    for view in views:
        row = view.as_dict()
        row["terms"] = [
            (names[k], round(view.contributions[k], 1))
            for k in hot.HEAT_TERMS
            if view.contributions[k] >= 0.05
        ]
        row["spark"] = sparkline(view.trend)
        row["url"] = f"/dashboard/hot/{view.id}?" + urlencode({"unit": unit.id})
        issues.append(row)
    page = HotPage(
        title=gettext(frame.lang, N_("Hot issues")),
        unit_name=unit.name_en if frame.lang == "en" else unit.name_zh,
        issues=issues,
        term_names=names,
        csv_url="/api/v1/warning/hot-issues?" + urlencode({"unit": unit.id, "format": "csv", "limit": 200}),
        alerts_url="/dashboard/hot/alerts?" + urlencode({"unit": unit.id}),
        open_alerts=alerts.open_count(session, unit),
        error=error,
        chart=_chart(frame.lang, views[:5]) if views else None,
        map=maps.street_map(session, unit, [v.id for v in views], utcnow(), frame.lang),
    )
    return render(request, "warning/hot.html", page, frame)


def _issue_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    issue_id: int,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    refused = _refuse(request, actor, frame)
    if refused is not None:
        return refused
    unit = service.viewer_unit(session, actor, _unit_param(request))
    issue = service.get_issue(session, unit, min(max(issue_id, 1), MAX_ID))
    members = service.issue_members(session, unit, issue.id)
    views = service.hot_issues(session, settings, unit, utcnow(), limit=200)
    counts = labels.label_counts(session, [m.request_id for m in members])

    def named(found: Any) -> list[tuple[str, int]]:
        return [(gettext(frame.lang, LABEL_NAMES.get(k, N_("unknown"))), n) for k, n in found.most_common()]

    merged = request.query_params.get("merged", "")[:6]
    page = HotIssuePage(
        title=issue.name,
        issue={"id": issue.id, "place_or_group": issue.place_or_group, "top_words": issue.top_words},
        requests=members,
        back_url="/dashboard/hot?" + urlencode({"unit": unit.id}),
        sentiments=named(counts["sentiment"]),
        types=named(counts["type"]),
        posts=service.issue_posts(session, unit, issue.id),
        chart=_chart(frame.lang, [v for v in views if v.id == issue.id]),
        map=maps.street_map(session, unit, [issue.id], utcnow(), frame.lang),
        merge=request_merge.merge_choices(session, actor, [m.request_id for m in members]),
        merge_url=f"/dashboard/hot/{issue.id}/merge-requests?" + urlencode({"unit": unit.id}),
        merge_error=error,
        merged=int(merged) if merged.isdigit() else None,
    )
    return render(request, "warning/hot_issue.html", page, frame, status_code=status_code)


@router.get("/dashboard/hot/{issue_id}")
def dashboard_hot_issue(
    issue_id: int, request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    return _issue_page(request, session, settings, issue_id)


def _ids(values: list[Any]) -> list[int]:
    raw = [str(v)[:12] for v in values[: request_merge.MAX_REQUESTS + 1]]
    return [int(v) for v in raw if v.isdigit() and 0 < int(v) <= MAX_ID]


@router.post("/dashboard/hot/{issue_id}/merge-requests")
async def merge_requests_page(
    issue_id: int, request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    """Dispatchers: the ticked requests merged into the chosen primary request's workflow issue, in one step."""
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    refused = _refuse(request, actor, frame)
    if refused is not None:
        return refused
    if not actor.has_role(request_merge.MERGE_ROLE):
        text = gettext(frame.lang, N_("Only dispatchers merge requests."))
        return render(request, "forbidden.html", Refused(text), frame, status_code=403)
    form = await request.form()
    if not csrf_ok(request, form):
        return _issue_page(request, session, settings, issue_id)
    issue_id = min(max(issue_id, 1), MAX_ID)
    primary = _ids([form.get("primary") or ""])
    try:
        unit = service.viewer_unit(session, actor, _unit_param(request))
        done = request_merge.merge_requests(
            session,
            actor,
            unit,
            issue_id,
            primary[0] if primary else 0,
            _ids(form.getlist("request_ids")),
            str(form.get("note") or "").strip()[:2000] or None,
        )
        session.commit()
    except ChengzhiError as exc:
        session.rollback()
        text = message(exc.code, frame.lang, exc.params)
        return _issue_page(request, session, settings, issue_id, text, exc.status_code)
    query = urlencode({"unit": unit.id, "merged": len(done.merged)})
    return RedirectResponse(f"/dashboard/hot/{issue_id}?{query}", status_code=303)
