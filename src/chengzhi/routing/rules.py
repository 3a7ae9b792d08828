"""Routing by rules: the location gives the street and community, the category gives the kind of unit,
the district government is the fallback (兜底). The dispatcher sees the suggestion and its reason."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field

from shapely import STRtree
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy.orm import Session

from chengzhi.categories.models import Category, HandlerKind
from chengzhi.i18n import N_, PATH_SEPARATOR, Listed, Named, Phrase, Sentences
from chengzhi.org import queries as org_queries
from chengzhi.org.models import UnitKind

REFRESH_SECONDS = 30.0


@dataclass(frozen=True)
class Located:
    district_id: int | None = None
    street_id: int | None = None
    community_id: int | None = None


@dataclass
class AreaIndex:
    """The city's areas in memory: which community, street and district contain a point."""

    built_at: float
    units: dict[
        int, tuple[UnitKind, int | None, str, str | None]
    ]  # id -> (kind, parent_id, name_zh, function)
    trees: dict[UnitKind, tuple[STRtree, list[int], list[BaseGeometry]]] = field(default_factory=dict)
    departments: dict[tuple[int, str], int] = field(default_factory=dict)  # (parent_id, function) -> unit id
    city_id: int | None = None

    def locate(self, lat: float, lon: float) -> Located:
        point = Point(lon, lat)
        found: dict[UnitKind, int | None] = {}
        for kind in (UnitKind.community, UnitKind.street, UnitKind.district):
            found[kind] = None
            entry = self.trees.get(kind)
            if entry is None:
                continue
            tree, ids, geoms = entry
            for index in tree.query(point):
                if geoms[int(index)].covers(point):
                    found[kind] = ids[int(index)]
                    break
        community, street, district = (
            found[UnitKind.community],
            found[UnitKind.street],
            found[UnitKind.district],
        )
        if community and not street:
            street = self.units[community][1]
        if street and not district:
            district = self.units[street][1]
        return Located(district_id=district, street_id=street, community_id=community)

    def inside_city(self, lat: float, lon: float) -> bool:
        if self.city_id is None or UnitKind.city not in self.trees:
            located = self.locate(lat, lon)
            return located.district_id is not None
        _tree, _ids, geoms = self.trees[UnitKind.city]
        return any(g.covers(Point(lon, lat)) for g in geoms)


_lock = threading.Lock()
_indexes: dict[str, AreaIndex] = {}


def invalidate() -> None:
    with _lock:
        _indexes.clear()


def area_index(session: Session) -> AreaIndex:
    """The area index for this database, rebuilt every REFRESH_SECONDS or after `invalidate()`."""
    key = str(session.get_bind().engine.url)
    now = time.monotonic()
    with _lock:
        index = _indexes.get(key)
        if index is not None and now - index.built_at < REFRESH_SECONDS:
            return index
    index = _build(session, now)
    with _lock:
        _indexes[key] = index
    return index


def _build(session: Session, now: float) -> AreaIndex:
    rows = org_queries.active_unit_areas(session)
    index = AreaIndex(built_at=now, units={})
    grouped: dict[UnitKind, tuple[list[int], list[BaseGeometry]]] = {}
    for unit_id, kind, parent_id, name_zh, function, area in rows:
        index.units[unit_id] = (kind, parent_id, name_zh, function)
        if kind == UnitKind.city and index.city_id is None:
            index.city_id = unit_id
        if kind == UnitKind.department and function and parent_id is not None:
            index.departments.setdefault((parent_id, function), unit_id)
        if area:
            ids, geoms = grouped.setdefault(kind, ([], []))
            ids.append(unit_id)
            geoms.append(shape(json.loads(area)))
    for kind, (ids, geoms) in grouped.items():
        index.trees[kind] = (STRtree(geoms), ids, geoms)
    return index


@dataclass(frozen=True)
class RoutingSuggestion:
    """Where a request should go and why (`why`: a composed message, shown in the reader's language)."""

    unit_id: int | None
    why: Phrase | Sentences
    located: Located = Located()

    def reason(self, lang: str) -> str:
        return self.why.render(lang)


def suggest_unit(
    session: Session,
    category: Category | None,
    lat: float | None,
    lon: float | None,
    *,
    located: Located | None = None,
) -> RoutingSuggestion:
    """`located`: the units a place read from the text lies in (routing/places.py), used without a point."""
    index = area_index(session)
    if located is None:
        located = index.locate(lat, lon) if lat is not None and lon is not None else Located()

    def name(unit_id: int | None) -> str:
        return index.units[unit_id][2] if unit_id in index.units else "?"

    if category is None:
        return RoutingSuggestion(None, Phrase(N_("No category yet: choose one first.")), located)
    where = Listed(
        (name(u) for u in (located.district_id, located.street_id, located.community_id) if u), PATH_SEPARATOR
    )
    named = Named(category.name_zh, category.name_en)
    kind = category.handler_kind
    if kind == HandlerKind.community and located.community_id:
        return RoutingSuggestion(
            located.community_id,
            Phrase(
                N_("Location in %(where)s; '%(category)s' is handled by the community."),
                where=where,
                category=named,
            ),
            located,
        )
    if kind in (HandlerKind.community, HandlerKind.street) and located.street_id:
        return RoutingSuggestion(
            located.street_id,
            Phrase(
                N_("Location in %(where)s; '%(category)s' is handled by the street office."),
                where=where,
                category=named,
            ),
            located,
        )
    if kind == HandlerKind.department and category.handler_function:
        function = category.handler_function
        if located.district_id and (located.district_id, function) in index.departments:
            unit_id = index.departments[(located.district_id, function)]
            return RoutingSuggestion(
                unit_id,
                Phrase(
                    N_("Location in %(where)s; '%(category)s' goes to the district department %(unit)s."),
                    where=where,
                    category=named,
                    unit=name(unit_id),
                ),
                located,
            )
        if index.city_id and (index.city_id, function) in index.departments:
            unit_id = index.departments[(index.city_id, function)]
            return RoutingSuggestion(
                unit_id,
                Phrase(
                    N_("'%(category)s' goes to the city department %(unit)s."),
                    category=named,
                    unit=name(unit_id),
                ),
                located,
            )
    if located.district_id:
        return RoutingSuggestion(
            located.district_id,
            Phrase(
                N_("Location in %(where)s; no more specific unit, so the district government takes it."),
                where=where,
            ),
            located,
        )
    return RoutingSuggestion(
        None, Phrase(N_("The location gives no district; the dispatcher must choose the unit.")), located
    )
