"""Hot issues on the city's own map: the streets of the viewer's scope, each with how many requests of the chosen
hot issues lie in it (from the memberships' unit paths), as GeoJSON for the page's ECharts choropleth (vendored,
no tiles: the map works on a closed network). Residents' own points are not shown."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chengzhi.org import queries as org_queries
from chengzhi.org.models import Unit, UnitKind
from chengzhi.warning.live import WINDOW_DAYS
from chengzhi.warning.models import HotIssueMember


def street_map(
    session: Session, unit: Unit, issue_ids: list[int], now: dt.datetime, lang: str
) -> dict[str, Any] | None:
    """A FeatureCollection of the streets under `unit` with their counts; None when no street has a polygon."""
    streets = [s for s in org_queries.active_units_under(session, unit.path, UnitKind.street, with_area=True)]
    streets = [s for s in streets if s.area]
    if not streets or not issue_ids:
        return None
    rows = session.execute(
        select(HotIssueMember.unit_path, func.count())
        .where(
            HotIssueMember.issue_id.in_(issue_ids),
            HotIssueMember.received_at >= now - dt.timedelta(days=WINDOW_DAYS),
        )
        .group_by(HotIssueMember.unit_path)
    ).all()
    counts = {s.id: sum(n for path, n in rows if path.startswith(s.path)) for s in streets}
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": json.loads(s.area or "null"),
                "properties": {"id": s.id, "code": s.code, "name": s.name(lang), "count": counts[s.id]},
            }
            for s in streets
        ],
    }


def trend_chart(names: list[str], trends: list[list[int]], week_label: str) -> dict[str, Any]:
    """The weekly trends of some issues as the page's ECharts line chart (oldest week first)."""
    weeks = len(trends[0]) if trends else 0
    return {
        "kind": "lines",
        "labels": [week_label % {"n": weeks - 1 - i} if i < weeks - 1 else "0" for i in range(weeks)],
        "series": [
            {"name": name[:24], "type": "line", "data": trend}
            for name, trend in zip(names, trends, strict=True)
        ],
    }
