"""REST API of the dashboards: the three rates, operations, rankings, categories, the map, the drill-down list and
exclusions. Every table answers in JSON, or as a CSV or XLSX download with `format=csv|xlsx`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.db import MAX_ID
from chengzhi.deps import LanguageDep, SessionDep, SettingsDep, UserDep
from chengzhi.errors import Invalid
from chengzhi.metrics.drill import drill_count, drill_page, drill_query, figure_count, in_area, stream
from chengzhi.metrics.exclusions import record_exclusion
from chengzhi.metrics.export import download
from chengzhi.metrics.maps import area_counts, area_geojson, area_units, points
from chengzhi.metrics.measures import MEASURES, STAGES
from chengzhi.metrics.models import RequestFact
from chengzhi.metrics.rankings import ranking, top_categories
from chengzhi.metrics.rates import Row, table, totals
from chengzhi.metrics.scope import Scope, resolve_scope
from chengzhi.metrics.stages import percentile_90
from chengzhi.org.models import UnitKind
from chengzhi.org.service import Actor
from chengzhi.requests import queries as requests_queries
from chengzhi.security.masking import mask_text

router = APIRouter(prefix="/api/v1/metrics", tags=["metrics"])

UnitQ = Annotated[str | None, Query(max_length=12, description="Unit id (default: your dashboard unit)")]
StartQ = Annotated[str | None, Query(max_length=32, description="First received day, YYYY-MM-DD")]
EndQ = Annotated[str | None, Query(max_length=32, description="Last received day, YYYY-MM-DD (inclusive)")]
CategoryQ = Annotated[str | None, Query(max_length=40, description="Category code")]
ChannelQ = Annotated[str | None, Query(max_length=20)]
FormatQ = Annotated[Literal["json", "csv", "xlsx"], Query(description="json, or a csv / xlsx download")]
GroupQ = Annotated[
    Literal["none", "unit", "category", "channel", "day", "week", "month"], Query(description="Rows by")
]


def weights(settings: Settings) -> dict[str, float]:
    return {k: float(v) for k, v in settings.metrics_weights.items()}


def scope_of(
    session: Session,
    settings: Settings,
    actor: Actor,
    unit: str | None,
    start: str | None,
    end: str | None,
    category: str | None = None,
    channel: str | None = None,
) -> Scope:
    return resolve_scope(
        session,
        actor,
        unit=unit,
        start=start,
        end=end,
        category=category,
        channel=channel,
        zone=settings.timezone,
    )


def _pct(value: float | None) -> float | None:
    return round(value, 6) if value is not None else None


RATE_HEADERS = [
    "key",
    "label",
    "received",
    "response_numerator",
    "response_denominator",
    "response_rate",
    "follow_up_denominator",
    "resolution_numerator",
    "resolution_rate",
    "satisfaction_numerator",
    "satisfaction_rate",
    "composite_score",
    "excluded",
    "response_pending",
]


def rate_record(row: Row, w: dict[str, float]) -> dict[str, Any]:
    c = row.counts
    return {
        "key": row.key.isoformat() if hasattr(row.key, "isoformat") else row.key,
        "label": row.label,
        "received": c.get("received", 0),
        "response_numerator": c.get("response_numerator", 0),
        "response_denominator": c.get("response_denominator", 0),
        "response_rate": _pct(row.response_rate),
        "follow_up_denominator": c.get("follow_up_denominator", 0),
        "resolution_numerator": c.get("resolution_numerator", 0),
        "resolution_rate": _pct(row.resolution_rate),
        "satisfaction_numerator": c.get("satisfaction_numerator", 0),
        "satisfaction_rate": _pct(row.satisfaction_rate),
        "composite_score": _pct(row.composite(w)),
        "excluded": c.get("excluded", 0),
        "response_pending": c.get("response_pending", 0),
    }


def _scope_json(scope: Scope, lang: str) -> dict[str, Any]:
    return {
        "unit": {"id": scope.unit.id, "code": scope.unit.code, "name": scope.unit.name(lang)},
        "start": scope.start.isoformat(),
        "end": scope.end.isoformat(),
        "category": scope.category_code,
        "channel": scope.channel,
    }


def _table_out(
    name: str, fmt: str, headers: list[str], records: list[dict[str, Any]], extra: dict[str, Any]
) -> Any:
    if fmt != "json":
        return download(name, fmt, headers, ([r.get(h) for h in headers] for r in records))
    return {**extra, "rows": records}


@router.get(
    "/three-rates", summary="Response, resolution and satisfaction rates with numerators and denominators"
)
def three_rates(
    session: SessionDep,
    actor: UserDep,
    lang: LanguageDep,
    settings: SettingsDep,
    unit: UnitQ = None,
    start: StartQ = None,
    end: EndQ = None,
    group_by: GroupQ = "unit",
    category: CategoryQ = None,
    channel: ChannelQ = None,
    format: FormatQ = "json",
) -> Any:
    scope = scope_of(session, settings, actor, unit, start, end, category, channel)
    w = weights(settings)
    rows = table(session, scope, group_by, lang=lang)
    total = totals(session, scope, lang, rows)
    extra = {
        "scope": _scope_json(scope, lang),
        "group_by": group_by,
        "weights": w,
        "total": rate_record(total, w),
    }
    return _table_out("three-rates", format, RATE_HEADERS, [rate_record(r, w) for r in rows], extra)


OPERATION_HEADERS = [
    "key",
    "label",
    "received",
    "open",
    "overdue",
    "ever_overdue",
    "returned",
    "returns",
    "reopened",
    "reopenings",
    "co_handled",
    "extended",
    "merged",
    "closed",
    *[
        f"status_{s}"
        for s in (
            "received",
            "dispatched",
            "signed",
            "contacted",
            "replied",
            "reviewed",
            "returned",
            "reopened",
        )
    ],
]


def operation_record(row: Row) -> dict[str, Any]:
    record: dict[str, Any] = {
        "key": row.key.isoformat() if hasattr(row.key, "isoformat") else row.key,
        "label": row.label,
        "returns": row.returns,
        "reopenings": row.reopenings,
    }
    for header in OPERATION_HEADERS:
        if header not in record:
            record[header] = row.counts.get(header, 0)
    return record


@router.get("/operations", summary="Volumes, backlog by stage, overdue, returns, reopenings; stage times")
def operations(
    session: SessionDep,
    actor: UserDep,
    settings: SettingsDep,
    lang: LanguageDep,
    unit: UnitQ = None,
    start: StartQ = None,
    end: EndQ = None,
    group_by: GroupQ = "none",
    category: CategoryQ = None,
    channel: ChannelQ = None,
    format: FormatQ = "json",
) -> Any:
    scope = scope_of(session, settings, actor, unit, start, end, category, channel)
    rows = table(session, scope, group_by, lang=lang)
    if format != "json":
        return download(
            "operations",
            format,
            OPERATION_HEADERS,
            ([operation_record(r).get(h) for h in OPERATION_HEADERS] for r in rows),
        )
    total = totals(session, scope, lang, rows)
    p90 = percentile_90(session, scope)
    stages = [
        {"stage": s, "average_seconds": total.stage_avg.get(s), "p90_seconds": p90.get(s)} for s in STAGES
    ]
    return {
        "scope": _scope_json(scope, lang),
        "group_by": group_by,
        "total": operation_record(total),
        "stages": stages,
        "rows": [operation_record(r) for r in rows],
    }


@router.get("/stages", summary="Average and 90th percentile time in each stage")
def stages(
    session: SessionDep,
    actor: UserDep,
    settings: SettingsDep,
    lang: LanguageDep,
    unit: UnitQ = None,
    start: StartQ = None,
    end: EndQ = None,
    category: CategoryQ = None,
    channel: ChannelQ = None,
    format: FormatQ = "json",
) -> Any:
    scope = scope_of(session, settings, actor, unit, start, end, category, channel)
    total = totals(session, scope, lang)
    p90 = percentile_90(session, scope)
    records = [
        {"stage": s, "average_seconds": total.stage_avg.get(s), "p90_seconds": p90.get(s)} for s in STAGES
    ]
    return _table_out(
        "stages",
        format,
        ["stage", "average_seconds", "p90_seconds"],
        records,
        {"scope": _scope_json(scope, lang)},
    )


@router.get("/rankings", summary="Streets or departments ranked by composite score")
def rankings(
    session: SessionDep,
    actor: UserDep,
    lang: LanguageDep,
    settings: SettingsDep,
    kind: Annotated[Literal["street", "department", "district", "community"], Query()] = "street",
    unit: UnitQ = None,
    start: StartQ = None,
    end: EndQ = None,
    category: CategoryQ = None,
    channel: ChannelQ = None,
    format: FormatQ = "json",
) -> Any:
    scope = scope_of(session, settings, actor, unit, start, end, category, channel)
    w = weights(settings)
    ranked = ranking(session, scope, UnitKind(kind), w, lang)
    records = []
    for position, (u, row) in enumerate(ranked, 1):
        record = rate_record(row, w)
        record.update(rank=position, key=u.id, code=u.code, overdue=row.counts.get("overdue", 0))
        records.append(record)
    headers = ["rank", "code", *RATE_HEADERS, "overdue"]
    return _table_out("rankings", format, headers, records, {"scope": _scope_json(scope, lang), "kind": kind})


@router.get("/categories", summary="Top categories and their change against the span before")
def categories(
    session: SessionDep,
    actor: UserDep,
    settings: SettingsDep,
    lang: LanguageDep,
    unit: UnitQ = None,
    start: StartQ = None,
    end: EndQ = None,
    channel: ChannelQ = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    format: FormatQ = "json",
) -> Any:
    scope = scope_of(session, settings, actor, unit, start, end, None, channel)
    top = top_categories(session, scope, limit, lang)
    records = [
        {"code": c.code, "label": c.label, "now": c.now, "before": c.before, "change": _pct(c.change)}
        for c in top
    ]
    return _table_out(
        "categories",
        format,
        ["code", "label", "now", "before", "change"],
        records,
        {"scope": _scope_json(scope, lang)},
    )


MeasureQ = Annotated[str, Query(max_length=40, description="What to count (docs/metrics.md)")]


@router.get("/map", summary="Requests per area as GeoJSON (the city's own polygons)")
def area_map(
    session: SessionDep,
    actor: UserDep,
    settings: SettingsDep,
    lang: LanguageDep,
    level: Annotated[Literal["district", "street", "community"], Query()] = "street",
    measure: MeasureQ = "received",
    unit: UnitQ = None,
    start: StartQ = None,
    end: EndQ = None,
    category: CategoryQ = None,
    channel: ChannelQ = None,
    format: FormatQ = "json",
) -> Any:
    scope = scope_of(session, settings, actor, unit, start, end, category, channel)
    if measure not in MEASURES:
        raise Invalid("validation_failed", details=f"measure: one of {', '.join(MEASURES)}")
    counts = area_counts(session, scope, level, measure)
    units = area_units(session, scope, UnitKind(level))
    if format != "json":
        rows = ([u.id, u.code, u.name(lang), counts.get(u.id, 0)] for u in units)
        return download("map", format, ["unit_id", "code", "name", "count"], rows)
    return area_geojson(units, counts, lang)


@router.get("/points", summary="Points of the newest requests a measure counts (at most 2,000)")
def map_points(
    session: SessionDep,
    actor: UserDep,
    settings: SettingsDep,
    measure: MeasureQ = "received",
    unit: UnitQ = None,
    start: StartQ = None,
    end: EndQ = None,
    category: CategoryQ = None,
    channel: ChannelQ = None,
) -> Any:
    scope = scope_of(session, settings, actor, unit, start, end, category, channel)
    if measure not in MEASURES:
        raise Invalid("validation_failed", details=f"measure: one of {', '.join(MEASURES)}")
    return {"points": [{"lat": a, "lon": b, "id": c} for a, b, c in points(session, scope, measure)]}


LIST_HEADERS = ["tracking_number", "title", "status", "channel", "received_at", "overdue_stage"]


@router.get("/requests", summary="The requests a figure counts (drill-down)")
def drill_down(
    session: SessionDep,
    actor: UserDep,
    settings: SettingsDep,
    measure: MeasureQ = "received",
    group_by: GroupQ = "none",
    key: Annotated[str | None, Query(max_length=40, description="The row's key in the grouped table")] = None,
    unit: UnitQ = None,
    start: StartQ = None,
    end: EndQ = None,
    category: CategoryQ = None,
    channel: ChannelQ = None,
    area: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only requests located in this area")
    ] = None,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    format: FormatQ = "json",
) -> Any:
    scope = scope_of(session, settings, actor, unit, start, end, category, channel)
    query = drill_query(scope, measure, group_by, key)
    if area is not None:
        query = in_area(query, area)
    if format != "json":
        rows: Iterator[list[Any]] = (
            [r.tracking_number, mask_text(r.title), r.status, r.channel, r.received_at, r.overdue_stage]
            for r in stream(session, query)
        )
        return download("requests", format, LIST_HEADERS, rows)
    found = drill_page(session, query, before, limit)
    items = found[:limit]
    return {
        "count": drill_count(session, query)
        if area is not None
        else figure_count(session, scope, measure, group_by, key),
        "items": [
            {
                "tracking_number": r.tracking_number,
                "title": mask_text(r.title),
                "status": r.status,
                "channel": r.channel,
                "received_at": r.received_at.isoformat(),
                "overdue_stage": r.overdue_stage,
            }
            for r in items
        ],
        "next_before": items[-1].id if len(found) > limit else None,
    }


class ExclusionIn(BaseModel):
    request: str = Field(min_length=1, max_length=20, description="Tracking number or id")
    reason: Literal["refused_to_rate", "unreasonable", "none"]
    note: str = Field(min_length=1, max_length=2000, description="Why (kept with the exclusion)")


@router.post(
    "/exclusions", status_code=201, summary="Take a request out of the rates' denominators, with a reason"
)
def exclude(body: ExclusionIn, session: SessionDep, actor: UserDep) -> dict[str, Any]:
    row = record_exclusion(session, actor, body.request, body.reason, body.note)
    fact = session.scalar(select(RequestFact.excluded).where(RequestFact.request_id == row.request_id))
    number = requests_queries.tracking_numbers(session, [row.request_id]).get(row.request_id)
    session.commit()
    return {
        "request": number,
        "reason": body.reason,
        "excluded": fact,
        "at": row.at.isoformat(),
    }
