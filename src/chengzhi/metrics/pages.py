"""Dashboard pages for leaders and analysts (and supervisors, administrators), scoped to their unit.

Five views share one filter form (unit, received days, category, channel): the three rates, operations (backlog,
overdue, stage times), rankings, categories, and the map. Every number links to `/dashboard/requests`, the list of
the requests it counts; every table downloads as CSV or XLSX through the API (`format=csv|xlsx`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from chengzhi.categories.service import list_categories
from chengzhi.config import Settings
from chengzhi.deps import SessionDep
from chengzhi.errors import ChengzhiError, Forbidden
from chengzhi.i18n import Language, message
from chengzhi.metrics.drill import drill_count, drill_page, drill_query, figure_count, in_area
from chengzhi.metrics.exclusions import NOTE_MAX, ExclusionRow, exclusions, may_exclude, record_exclusion
from chengzhi.metrics.maps import area_counts, area_units
from chengzhi.metrics.measures import MEASURES, STAGES
from chengzhi.metrics.rankings import ranking, top_categories
from chengzhi.metrics.rates import Row, table, totals
from chengzhi.metrics.scope import DASHBOARD_ROLES, Scope, dashboard_units, resolve_scope
from chengzhi.metrics.stages import percentile_90
from chengzhi.org import queries as org_queries
from chengzhi.org.models import UnitKind
from chengzhi.org.service import Actor
from chengzhi.requests import queries as requests_queries
from chengzhi.requests.workflow import STATUS_NAMES
from chengzhi.web.i18n import N_, gettext
from chengzhi.web.templating import Chrome, FormErrors, chrome, csrf_ok, page_actor, render

router = APIRouter(include_in_schema=False)

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


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _duration(seconds: float | None, lang: Language) -> str:
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


def _rate_table(view: View, rows: list[Row], group_by: str, first: str) -> Table:
    w = {k: float(v) for k, v in view.settings.metrics_weights.items()}
    t = view.t
    headers = [
        first,
        t(N_("Requests received")),
        t(N_("Responded on time")),
        t(N_("Response due")),
        t(N_("Response rate")),
        t(N_("Followed up")),
        t(N_("Resolved")),
        t(N_("Resolution rate")),
        t(N_("Satisfied")),
        t(N_("Satisfaction rate")),
        t(N_("Composite score")),
        t(N_("Excluded")),
    ]
    body = []
    for row in rows:
        score = row.composite(w)
        body.append(
            [
                Cell(row.label),
                view.count(row, "received", group_by),
                view.count(row, "response_numerator", group_by),
                view.count(row, "response_denominator", group_by),
                Cell(_percent(row.response_rate)),
                view.count(row, "follow_up_denominator", group_by),
                view.count(row, "resolution_numerator", group_by),
                Cell(_percent(row.resolution_rate)),
                view.count(row, "satisfaction_numerator", group_by),
                Cell(_percent(row.satisfaction_rate)),
                Cell("—" if score is None else f"{score:.1f}"),
                view.count(row, "excluded", group_by),
            ]
        )
    return Table(
        "rates",
        headers,
        body,
        view.export("three-rates", "csv", group_by=group_by),
        view.export("three-rates", "xlsx", group_by=group_by),
    )


# ---------------------------------------------------------------- views


@router.get("/dashboard")
def dashboard_rates(request: Request, session: SessionDep) -> Response:
    view = View(request, session, "rates")
    if view.refused is not None:
        return view.refused
    assert view.scope is not None
    page = view.page(view.t(N_("Three rates")))
    w = {k: float(v) for k, v in view.settings.metrics_weights.items()}
    rows = table(session, view.scope, view.group_by, lang=view.lang)
    total = totals(session, view.scope, view.lang, rows)
    score = total.composite(w)
    page.kpis = [
        (view.t(N_("Requests received")), view.count(total, "received")),
        (view.t(N_("Response rate")), Cell(_percent(total.response_rate), view.drill("response_numerator"))),
        (
            view.t(N_("Resolution rate")),
            Cell(_percent(total.resolution_rate), view.drill("resolution_numerator")),
        ),
        (
            view.t(N_("Satisfaction rate")),
            Cell(_percent(total.satisfaction_rate), view.drill("satisfaction_numerator")),
        ),
        (view.t(N_("Composite score")), Cell("—" if score is None else f"{score:.1f}")),
    ]
    page.tables.append(_rate_table(view, rows, view.group_by, view.t(GROUP_NAMES[view.group_by])))
    days = (view.scope.end - view.scope.start).days
    period = "day" if days <= 62 else ("week" if days <= 200 else "month")
    trend = rows if period == view.group_by else table(session, view.scope, period, lang=view.lang)
    page.chart = {
        "kind": "trend",
        "labels": [r.label for r in trend],
        "series": [
            {
                "name": view.t(N_("Requests received")),
                "type": "bar",
                "yAxisIndex": 1,
                "data": [r.counts["received"] for r in trend],
            },
            *[
                {
                    "name": view.t(name),
                    "type": "line",
                    "data": [
                        None if getattr(r, attr) is None else round(100 * getattr(r, attr), 1) for r in trend
                    ],
                }
                for name, attr in (
                    ("Response rate", "response_rate"),
                    ("Resolution rate", "resolution_rate"),
                    ("Satisfaction rate", "satisfaction_rate"),
                )
            ],
        ],
    }
    return view.render(page, "dashboard/rates.html")


@router.get("/dashboard/operations")
def dashboard_operations(request: Request, session: SessionDep) -> Response:
    view = View(request, session, "operations")
    if view.refused is not None:
        return view.refused
    assert view.scope is not None
    t = view.t
    page = view.page(t(N_("Operations")))
    rows = table(session, view.scope, view.group_by, lang=view.lang)
    total = totals(session, view.scope, view.lang, rows)
    page.kpis = [
        (t(MEASURE_NAMES[m]), view.count(total, m))
        for m in ("received", "open", "overdue", "returned", "reopened", "closed")
    ]
    statuses = [
        "received",
        "dispatched",
        "signed",
        "contacted",
        "replied",
        "reviewed",
        "returned",
        "reopened",
    ]

    def name(s: str) -> str:
        return STATUS_NAMES[s][1 if view.lang == "en" else 0]

    backlog = Table(
        "backlog",
        [t(N_("Stage")), t(N_("Requests"))],
        [[Cell(name(s)), view.count(total, f"status_{s}")] for s in statuses],
        view.export("operations", "csv", group_by="none"),
        view.export("operations", "xlsx", group_by="none"),
    )
    p90 = percentile_90(session, view.scope)
    stages = Table(
        "stages",
        [t(N_("Stage")), t(N_("Average")), t(N_("90th percentile"))],
        [
            [
                Cell(t(STAGE_NAMES[s])),
                Cell(_duration(total.stage_avg.get(s), view.lang)),
                Cell(_duration(p90.get(s), view.lang)),
            ]
            for s in STAGES
        ],
        view.export("stages", "csv"),
        view.export("stages", "xlsx"),
    )
    measures = (
        "received",
        "open",
        "overdue",
        "ever_overdue",
        "returned",
        "reopened",
        "co_handled",
        "extended",
        "merged",
    )
    names = {
        "ever_overdue": N_("Ever overdue"),
        "co_handled": N_("Co-handled"),
        "extended": N_("Extended"),
        "merged": N_("Merged"),
    }
    by_group = Table(
        "operations",
        [t(GROUP_NAMES[view.group_by]), *[t(MEASURE_NAMES.get(m) or names[m]) for m in measures]],
        [[Cell(r.label), *[view.count(r, m, view.group_by) for m in measures]] for r in rows],
        view.export("operations", "csv", group_by=view.group_by),
        view.export("operations", "xlsx", group_by=view.group_by),
    )
    page.tables = [backlog, stages, by_group]
    page.chart = {
        "kind": "bars",
        "labels": [name(s) for s in statuses],
        "series": [
            {
                "name": t(N_("Requests")),
                "type": "bar",
                "data": [total.counts[f"status_{s}"] for s in statuses],
            }
        ],
    }
    return view.render(page, "dashboard/rates.html")


@router.get("/dashboard/rankings")
def dashboard_rankings(request: Request, session: SessionDep) -> Response:
    view = View(request, session, "rankings")
    if view.refused is not None:
        return view.refused
    assert view.scope is not None
    t = view.t
    page = view.page(t(N_("Rankings")))
    w = {k: float(v) for k, v in view.settings.metrics_weights.items()}
    for kind, title in ((UnitKind.street, N_("Streets")), (UnitKind.department, N_("Departments"))):
        ranked = ranking(session, view.scope, kind, w, view.lang)
        body = []
        for position, (unit, row) in enumerate(ranked, 1):
            unit_scope = {**view.params(), "unit": str(unit.id)}
            link = lambda m, u=unit_scope: "/dashboard/requests?" + urlencode({**u, "measure": m})  # noqa: E731
            score = row.composite(w)
            body.append(
                [
                    Cell(str(position)),
                    Cell(unit.name(view.lang), "/dashboard?" + urlencode(unit_scope)),
                    Cell("—" if score is None else f"{score:.1f}"),
                    Cell(_percent(row.response_rate)),
                    Cell(_percent(row.resolution_rate)),
                    Cell(_percent(row.satisfaction_rate)),
                    Cell(str(row.counts["received"]), link("received")),
                    Cell(str(row.counts["overdue"]), link("overdue")),
                ]
            )
        page.tables.append(
            Table(
                t(title),
                [
                    t(N_("Rank")),
                    t(title),
                    t(N_("Composite score")),
                    t(N_("Response rate")),
                    t(N_("Resolution rate")),
                    t(N_("Satisfaction rate")),
                    t(N_("Requests received")),
                    t(N_("Overdue now")),
                ],
                body,
                view.export("rankings", "csv", kind=kind.value),
                view.export("rankings", "xlsx", kind=kind.value),
            )
        )
    return view.render(page, "dashboard/rates.html")


@router.get("/dashboard/categories")
def dashboard_categories(request: Request, session: SessionDep) -> Response:
    view = View(request, session, "categories")
    if view.refused is not None:
        return view.refused
    assert view.scope is not None
    t = view.t
    page = view.page(t(N_("Categories")))
    top = top_categories(session, view.scope, 10, view.lang)
    body = []
    for c in top:
        params = {**view.params(), "measure": "received"}
        if c.code:
            params["category"] = c.code
        change = "—" if c.change is None else f"{c.change * 100:+.1f}%"
        body.append(
            [
                Cell(c.label),
                Cell(str(c.now), "/dashboard/requests?" + urlencode(params)),
                Cell(str(c.before)),
                Cell(change),
            ]
        )
    page.tables.append(
        Table(
            "categories",
            [t(N_("Category")), t(N_("This span")), t(N_("Span before")), t(N_("Change"))],
            body,
            view.export("categories", "csv"),
            view.export("categories", "xlsx"),
        )
    )
    page.chart = {
        "kind": "bars",
        "labels": [c.label for c in top],
        "series": [
            {"name": t(N_("This span")), "type": "bar", "data": [c.now for c in top]},
            {"name": t(N_("Span before")), "type": "bar", "data": [c.before for c in top]},
        ],
    }
    return view.render(page, "dashboard/rates.html")


@router.get("/dashboard/map")
def dashboard_map(request: Request, session: SessionDep) -> Response:
    view = View(request, session, "map")
    if view.refused is not None:
        return view.refused
    assert view.scope is not None
    t = view.t
    page = view.page(t(N_("Map")))
    measure = request.query_params.get("measure", "received")[:40]
    if measure not in MEASURES:
        measure = "received"
    level = request.query_params.get("level", "street")[:10]
    if level not in ("district", "street", "community"):
        level = "street"
    counts = area_counts(session, view.scope, level, measure)
    units = area_units(session, view.scope, UnitKind(level))
    body = [
        [Cell(u.name(view.lang)), Cell(str(counts.get(u.id, 0)), view.drill(measure) + f"&area={u.id}")]
        for u in units
    ]
    page.tables.append(
        Table(
            "areas",
            [t(N_("Area")), t(MEASURE_NAMES.get(measure, N_("Requests")))],
            body,
            view.export("map", "csv", level=level, measure=measure),
            view.export("map", "xlsx", level=level, measure=measure),
        )
    )
    page.map_url = "/api/v1/metrics/map?" + urlencode(view.params(level=level, measure=measure))
    page.points_url = "/api/v1/metrics/points?" + urlencode(view.params(measure=measure))
    return view.render(page, "dashboard/rates.html")


@router.get("/dashboard/requests")
def dashboard_requests(request: Request, session: SessionDep) -> Response:
    view = View(request, session, "requests")
    if view.refused is not None:
        return view.refused
    assert view.scope is not None
    t = view.t
    q = request.query_params
    measure = q.get("measure", "received")[:40]
    group_by = q.get("group_by", "none")[:10]
    key = q.get("key")
    key = key[:40] if key is not None else None
    error = view.error
    area = q.get("area", "")[:9]
    by_area = area.isascii() and area.isdigit()
    try:
        query = drill_query(view.scope, measure, group_by, key)
        if by_area:
            query = in_area(query, int(area))
    except ChengzhiError as exc:
        error = message(exc.code, view.lang, exc.params)
        measure, group_by, key, by_area = "received", "none", None, False
        query = drill_query(view.scope, measure)
    raw = q.get("before", "")
    before = int(raw) if raw.isascii() and raw.isdigit() and 0 < int(raw) < 2**31 else None
    found = drill_page(session, query, before, 50)
    items = found[:50]
    status = lambda s: STATUS_NAMES.get(s, (s, s))[1 if view.lang == "en" else 0]  # noqa: E731
    base = {k: v for k, v in q.items() if k not in ("before", "lang")}
    page = DrillPage(
        title=t(N_("Requests behind the figure")),
        description=t(MEASURE_NAMES.get(measure, N_("Requests")))
        + f" · {view.scope.unit.name(view.lang)} · {view.scope.start.isoformat()} – {view.scope.end.isoformat()}",
        count=drill_count(session, query)
        if by_area
        else figure_count(session, view.scope, measure, group_by, key),
        items=[
            DrillRow(r.tracking_number, r.title, status(r.status), r.received_at, r.overdue_stage is not None)
            for r in items
        ],
        back_url="/dashboard?" + urlencode(view.params()),
        next_url="/dashboard/requests?" + urlencode({**base, "before": str(items[-1].id)})
        if len(found) > 50
        else None,
        csv_url="/api/v1/metrics/requests?" + urlencode({**base, "format": "csv"}),
        xlsx_url="/api/v1/metrics/requests?" + urlencode({**base, "format": "xlsx"}),
        error=error,
    )
    return view.render(page, "dashboard/requests.html")


# ---------------------------------------------------------------- exclusions

REASON_NAMES = {
    "refused_to_rate": N_("The resident refused to rate"),
    "unreasonable": N_("Unreasonable request"),
    "none": N_("None: count it again"),
}


@dataclass
class ExclusionsPage(DashboardPage):
    rows: list[ExclusionRow] = field(default_factory=list)
    count: int = 0
    drill_url: str = ""
    can_exclude: bool = False
    action_url: str = ""
    reasons: list[Choice] = field(default_factory=list)
    form_request: str = ""
    form_reason: str = ""
    form_note: str = ""
    errors: FormErrors = field(default_factory=FormErrors)
    notice: str | None = None


def _exclusions_page(view: View, errors: FormErrors | None = None, **form: str) -> ExclusionsPage:
    assert view.scope is not None
    t = view.t
    base = view.page(t(N_("Exclusions")))
    page = ExclusionsPage(**{f: getattr(base, f) for f in DashboardPage.__dataclass_fields__})
    page.rows = exclusions(view.session, view.scope)
    for row in page.rows:
        row.reason = t(REASON_NAMES.get(row.reason, row.reason))
    # Counted from the facts, like the list (no roll-up catch-up: a POST's session may hold SQLite's write lock).
    page.count = drill_count(view.session, drill_query(view.scope, "excluded"))
    page.drill_url = view.drill("excluded")
    page.can_exclude = may_exclude(view.actor)
    page.action_url = "/dashboard/exclusions?" + urlencode(view.params())
    page.reasons = [Choice(k, t(v)) for k, v in REASON_NAMES.items()]
    page.form_request = form.get("request", "")
    page.form_reason = form.get("reason", "")
    page.form_note = form.get("note", "")
    page.errors = errors or FormErrors()
    return page


@router.get("/dashboard/exclusions")
def dashboard_exclusions(request: Request, session: SessionDep) -> Response:
    view = View(request, session, "exclusions")
    if view.refused is not None:
        return view.refused
    page = _exclusions_page(view)
    done = request.query_params.get("done", "")[:20]
    if done:
        page.notice = view.t(N_("The exclusion of %(number)s was recorded."), number=done)
    return view.render(page, "dashboard/exclusions.html")


@router.post("/dashboard/exclusions")
async def dashboard_exclude(request: Request, session: SessionDep) -> Response:
    """Record an exclusion by request number (the API's POST /api/v1/metrics/exclusions, as a form)."""
    view = View(request, session, "exclusions")
    if view.refused is not None:
        return view.refused
    t = view.t
    if not may_exclude(view.actor):
        text = t(N_("Only supervisors and administrators can exclude requests from the rates."))
        return render(request, "forbidden.html", ForbiddenPage(text), view.frame, status_code=403)
    form = await request.form(max_files=0, max_fields=20)
    values = {
        name: str(form.get(name) or "")[:limit]
        for name, limit in (("request", 40), ("reason", 20), ("note", NOTE_MAX + 1))
    }
    values["request"] = values["request"].strip()
    errors = FormErrors()
    if not csrf_ok(request, form):
        errors.add("form", message("csrf_failed", view.lang))
    if not values["request"]:
        errors.add("request", t(N_("Enter the request's tracking number.")))
    elif len(values["request"]) > 20:
        errors.add("request", t(N_("At most %(limit)s characters."), limit=20))
    if values["reason"] not in REASON_NAMES:
        errors.add("reason", t(N_("Choose one of the options.")))
    if not values["note"].strip():
        errors.add("note", t(N_("Say why (kept with the exclusion).")))
    elif len(values["note"]) > NOTE_MAX:
        errors.add("note", t(N_("At most %(limit)s characters."), limit=NOTE_MAX))
    number = ""
    if not errors:
        try:
            row = record_exclusion(session, view.actor, values["request"], values["reason"], values["note"])
        except Forbidden:
            session.rollback()
            errors.add(
                "request",
                t(N_("Only supervisors and administrators of a unit holding this request can exclude it.")),
            )
        except ChengzhiError as exc:
            session.rollback()
            field_name = {"reason_required": "note", "validation_failed": "reason"}.get(exc.code, "request")
            errors.add(field_name, message(exc.code, view.lang, exc.params))
        else:
            number = requests_queries.tracking_numbers(session, [row.request_id]).get(row.request_id) or ""
            session.commit()
    if errors:
        page = _exclusions_page(view, errors, **values)
        return render(request, "dashboard/exclusions.html", page, view.frame, status_code=422)
    return RedirectResponse(
        "/dashboard/exclusions?" + urlencode({**view.params(), "done": number}), status_code=303
    )
