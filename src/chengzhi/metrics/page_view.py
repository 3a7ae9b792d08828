"""What every dashboard page shares: the view of a request (the actor, the scope, the filter form), the pages'
typed contexts, the names of views, groupings, stages and measures, and how numbers are shown."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from chengzhi.categories.service import list_categories
from chengzhi.config import Settings
from chengzhi.deps import SessionDep
from chengzhi.errors import ChengzhiError
from chengzhi.i18n import Language, message
from chengzhi.metrics.rates import Row
from chengzhi.metrics.scope import DASHBOARD_ROLES, Scope, dashboard_units, resolve_scope
from chengzhi.org import queries as org_queries
from chengzhi.org.service import Actor
from chengzhi.web.i18n import N_, gettext
from chengzhi.web.templating import Chrome, chrome, page_actor, render

VIEWS = [
    ("rates", "/dashboard", N_("Three rates")),
    ("operations", "/dashboard/operations", N_("Operations")),
    ("rankings", "/dashboard/rankings", N_("Rankings")),
    ("categories", "/dashboard/categories", N_("Categories")),
    ("map", "/dashboard/map", N_("Map")),
    ("exclusions", "/dashboard/exclusions", N_("Exclusions")),
]
GROUP_NAMES = {
    "unit": N_("Unit"),
    "category": N_("Category"),
    "channel": N_("Channel"),
    "day": N_("Day"),
    "week": N_("Week"),
    "month": N_("Month"),
}
STAGE_NAMES = {
    "wait": N_("Waiting for dispatch"),
    "sign": N_("Dispatch to sign"),
    "contact": N_("Sign to first contact"),
    "reply": N_("Contact to reply"),
    "review": N_("Reply to follow-up"),
}
MEASURE_NAMES = {
    "received": N_("Requests received"),
    "response_numerator": N_("Responded on time"),
    "response_denominator": N_("Response due"),
    "follow_up_denominator": N_("Followed up"),
    "resolution_numerator": N_("Resolved"),
    "satisfaction_numerator": N_("Satisfied"),
    "excluded": N_("Excluded"),
    "open": N_("Open"),
    "overdue": N_("Overdue now"),
    "returned": N_("Returned"),
    "reopened": N_("Reopened"),
    "closed": N_("Closed"),
}
CHANNELS = ("web", "phone", "app", "email", "import", "open311")


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


@dataclass(frozen=True)
class Cell:
    """A number and the link to the requests it counts (None: not a count, e.g. a rate)."""

    text: str
    href: str | None = None


@dataclass
class Filters:
    unit: str
    start: str
    end: str
    category: str
    channel: str
    group_by: str
    units: list[Choice]
    categories: list[Choice]
    channels: list[Choice]
    groups: list[Choice]


@dataclass
class Table:
    name: str
    headers: list[str]
    rows: list[list[Cell]]
    csv_url: str
    xlsx_url: str


@dataclass
class DashboardPage:
    view: str
    title: str
    tabs: list[tuple[str, str, bool]]
    filters: Filters
    scope_name: str
    kpis: list[tuple[str, Cell]] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    chart: dict[str, Any] | None = None
    map_url: str | None = None
    points_url: str | None = None
    error: str | None = None


@dataclass
class DrillRow:
    tracking_number: str
    title: str
    status: str
    received_at: dt.datetime
    overdue: bool


@dataclass
class DrillPage:
    title: str
    description: str
    count: int
    items: list[DrillRow]
    back_url: str
    next_url: str | None
    csv_url: str
    xlsx_url: str
    error: str | None = None


@dataclass
class ForbiddenPage:
    message: str


# ---------------------------------------------------------------- helpers


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def duration(seconds: float | None, lang: Language) -> str:
    if seconds is None:
        return "—"
    hours = seconds / 3600
    if hours < 48:
        return gettext(lang, N_("%(n)s h"), n=f"{hours:.1f}")
    return gettext(lang, N_("%(n)s d"), n=f"{hours / 24:.1f}")


def _refuse(request: Request, actor: Actor, frame: Chrome) -> Response | None:
    if actor.is_anonymous:
        return RedirectResponse(f"/login?next={quote(request.url.path, safe='/')}", status_code=303)
    if not actor.has_role(*DASHBOARD_ROLES):
        text = gettext(
            frame.lang, N_("The dashboards are for leaders, analysts, supervisors and administrators.")
        )
        return render(request, "forbidden.html", ForbiddenPage(text), frame, status_code=403)
    return None


class View:
    """What every dashboard view reads from the request: the actor, the scope, the filter form."""

    def __init__(self, request: Request, session: SessionDep, name: str) -> None:
        self.request = request
        self.session = session
        self.actor = page_actor(request, session)
        self.frame = chrome(request, self.actor)
        self.lang: Language = self.frame.lang
        self.refused = _refuse(request, self.actor, self.frame)
        self.name = name
        self.scope: Scope | None = None
        self.error: str | None = None
        q = request.query_params
        self.group_by = q.get("group_by", "unit")[:10]
        if self.group_by not in GROUP_NAMES:
            self.group_by = "unit"
        if self.refused is None:
            try:
                self.scope = resolve_scope(
                    session,
                    self.actor,
                    unit=q.get("unit", "")[:12] or None,
                    start=q.get("start", "")[:32] or None,
                    end=q.get("end", "")[:32] or None,
                    category=q.get("category", "")[:40] or None,
                    channel=q.get("channel", "")[:20] or None,
                    zone=self.settings.timezone,
                )
            except ChengzhiError as exc:
                self.error = message(exc.code, self.lang, exc.params)
                self.scope = resolve_scope(session, self.actor, zone=self.settings.timezone)

    @property
    def settings(self) -> Settings:
        settings: Settings = self.request.app.state.settings
        return settings

    def t(self, text: str, **params: object) -> str:
        return gettext(self.lang, text, **params)

    def params(self, **extra: str | None) -> dict[str, str]:
        assert self.scope is not None
        out = self.scope.params()
        out.update({k: v for k, v in extra.items() if v is not None})
        return out

    def drill(self, measure: str, group_by: str = "none", key: Any = None) -> str:
        extra: dict[str, str | None] = {"measure": measure}
        if group_by != "none":
            extra["group_by"] = group_by
            extra["key"] = "" if key is None else (key.isoformat() if hasattr(key, "isoformat") else str(key))
        return "/dashboard/requests?" + urlencode(self.params(**extra))

    def export(self, api: str, fmt: str, **extra: str | None) -> str:
        return f"/api/v1/metrics/{api}?" + urlencode(self.params(format=fmt, **extra))

    def count(self, row: Row, measure: str, group_by: str = "none") -> Cell:
        return Cell(str(row.counts.get(measure, 0)), self.drill(measure, group_by, row.key))

    def page(self, title: str) -> DashboardPage:
        assert self.scope is not None
        units = [
            org_queries.unit_by_id(self.session, uid) for uid in dict.fromkeys(dashboard_units(self.actor))
        ]
        choices = []
        for top in units:
            if top is None:
                continue
            choices.append(Choice(str(top.id), top.name(self.lang)))
            children = org_queries.active_children(self.session, top.id)
            choices += [Choice(str(u.id), "— " + u.name(self.lang)) for u in children]
        if str(self.scope.unit.id) not in {c.value for c in choices}:
            choices.append(Choice(str(self.scope.unit.id), self.scope.unit.name(self.lang)))
        filters = Filters(
            unit=str(self.scope.unit.id),
            start=self.scope.start.isoformat(),
            end=self.scope.end.isoformat(),
            category=self.scope.category_code or "",
            channel=self.scope.channel or "",
            group_by=self.group_by,
            units=choices,
            categories=[Choice(c.code, c.name(self.lang)) for c in list_categories(self.session)],
            channels=[Choice(c, c) for c in CHANNELS],
            groups=[Choice(k, self.t(v)) for k, v in GROUP_NAMES.items()],
        )
        query = urlencode({k: v for k, v in self.params().items()})
        tabs = [(self.t(label), f"{path}?{query}", key == self.name) for key, path, label in VIEWS]
        # The knowledge base's use (share of consultations answered at intake, articles used and rejected).
        tabs.append((self.t(N_("Knowledge base")), "/staff/knowledge/report", False))
        return DashboardPage(
            view=self.name,
            title=title,
            tabs=tabs,
            filters=filters,
            scope_name=self.scope.unit.name(self.lang),
            error=self.error,
        )

    def render(self, page: Any, template: str) -> Response:
        return render(self.request, template, page, self.frame)
