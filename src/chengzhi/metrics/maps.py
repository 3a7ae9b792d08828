"""The map: counts per district, street or community (by the request's point), the areas' polygons as GeoJSON,
and the points of the newest requests a measure counts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from chengzhi.metrics.measures import MEASURES
from chengzhi.metrics.models import RequestFact as F
from chengzhi.metrics.scope import Scope, where
from chengzhi.org import queries as org_queries
from chengzhi.org.models import Unit, UnitKind

AREA_LEVELS = {"district": F.area_district_id, "street": F.area_street_id, "community": F.area_community_id}


def area_counts(session: Session, scope: Scope, level: str, measure: str = "received") -> dict[int, int]:
    column = AREA_LEVELS[level]
    query = (
        select(column, func.sum(case((MEASURES[measure], 1), else_=0)))
        .where(*where(scope), column.is_not(None))
        .group_by(column)
    )
    return {int(k): int(v or 0) for k, v in session.execute(query)}


def area_units(session: Session, scope: Scope, kind: UnitKind) -> list[Unit]:
    """Units of a territorial kind in the scope (with their polygons), or around it when the scope is a department."""
    root = (
        scope.unit.path
        if scope.unit.kind != UnitKind.department
        else "/" + scope.unit.path.strip("/").split("/")[0] + "/"
    )
    return org_queries.active_units_under(session, root, kind, with_area=True, by_path=True)


def area_geojson(units: Sequence[Unit], counts: dict[int, int], lang: str) -> dict[str, Any]:
    features = []
    for unit in units:
        if not unit.area:
            continue
        features.append(
            {
                "type": "Feature",
                "geometry": json.loads(unit.area),
                "properties": {
                    "id": unit.id,
                    "code": unit.code,
                    "name": unit.name(lang),
                    "count": counts.get(unit.id, 0),
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


def points(session: Session, scope: Scope, measure: str, limit: int = 2000) -> list[tuple[float, float, int]]:
    """(lat, lon, request id) of the newest requests a measure counts, at most `limit`."""
    query = (
        select(F.lat, F.lon, F.request_id)
        .where(*where(scope), MEASURES[measure], F.lat.is_not(None))
        .order_by(F.received_day.desc(), F.request_id.desc())
        .limit(limit)
    )
    return [(float(a or 0.0), float(b or 0.0), int(c)) for a, b, c in session.execute(query)]


# ---------------------------------------------------------------- drill-down
