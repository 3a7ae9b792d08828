"""Dashboard pages for leaders and analysts (and supervisors, administrators), scoped to their unit.

Five views share one filter form (unit, received days, category, channel): the three rates, operations (backlog,
overdue, stage times), rankings, categories, and the map. Every number links to `/dashboard/requests`, the list of
the requests it counts; every table downloads as CSV or XLSX through the API (`format=csv|xlsx`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from chengzhi.deps import SessionDep
from chengzhi.errors import ChengzhiError, Forbidden
from chengzhi.i18n import message
from chengzhi.metrics.drill import drill_count, drill_page, drill_query, figure_count, in_area
from chengzhi.metrics.exclusions import NOTE_MAX, ExclusionRow, exclusions, may_exclude, record_exclusion
from chengzhi.metrics.maps import area_counts, area_units
from chengzhi.metrics.measures import MEASURES, STAGES
from chengzhi.metrics.page_view import (
    GROUP_NAMES,
    MEASURE_NAMES,
    STAGE_NAMES,
    Cell,
    Choice,
    DashboardPage,
    DrillPage,
    DrillRow,
    ForbiddenPage,
    Table,
    View,
    duration,
    percent,
)
from chengzhi.metrics.rankings import ranking, top_categories
from chengzhi.metrics.rates import Row, table, totals
from chengzhi.metrics.stages import percentile_90
from chengzhi.org.models import UnitKind
from chengzhi.requests import queries as requests_queries
from chengzhi.requests.workflow import status_name
from chengzhi.security.masking import mask_text
from chengzhi.web.i18n import N_
from chengzhi.web.templating import FormErrors, csrf_ok, render

router = APIRouter(include_in_schema=False)


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
                Cell(percent(row.response_rate)),
                view.count(row, "follow_up_denominator", group_by),
                view.count(row, "resolution_numerator", group_by),
                Cell(percent(row.resolution_rate)),
                view.count(row, "satisfaction_numerator", group_by),
                Cell(percent(row.satisfaction_rate)),
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
        (view.t(N_("Response rate")), Cell(percent(total.response_rate), view.drill("response_numerator"))),
        (
            view.t(N_("Resolution rate")),
            Cell(percent(total.resolution_rate), view.drill("resolution_numerator")),
        ),
        (
            view.t(N_("Satisfaction rate")),
            Cell(percent(total.satisfaction_rate), view.drill("satisfaction_numerator")),
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
        return status_name(s, view.lang)

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
                Cell(duration(total.stage_avg.get(s), view.lang)),
                Cell(duration(p90.get(s), view.lang)),
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

            def link(m: str, u: dict[str, str] = unit_scope) -> str:
                return "/dashboard/requests?" + urlencode({**u, "measure": m})

            score = row.composite(w)
            body.append(
                [
                    Cell(str(position)),
                    Cell(unit.name(view.lang), "/dashboard?" + urlencode(unit_scope)),
                    Cell("—" if score is None else f"{score:.1f}"),
                    Cell(percent(row.response_rate)),
                    Cell(percent(row.resolution_rate)),
                    Cell(percent(row.satisfaction_rate)),
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

    def status(s: str) -> str:
        return status_name(s, view.lang)

    base = {k: v for k, v in q.items() if k not in ("before", "lang")}
    page = DrillPage(
        title=t(N_("Requests behind the figure")),
        description=t(MEASURE_NAMES.get(measure, N_("Requests")))
        + f" · {view.scope.unit.name(view.lang)} · {view.scope.start.isoformat()} – {view.scope.end.isoformat()}",
        count=drill_count(session, query)
        if by_area
        else figure_count(session, view.scope, measure, group_by, key),
        items=[
            DrillRow(
                r.tracking_number,
                mask_text(r.title) or "",
                status(r.status),
                r.received_at,
                r.overdue_stage is not None,
            )
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
