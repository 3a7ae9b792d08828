"""Reading an uploaded GeoJSON area: each way a file can be wrong gets its own message, in the page's language.

The checks run in the order a person fixes a file (can it be read, is it one polygon, are the coordinates
longitude/latitude, is the ring simple); the geometry then goes through `org.service.validate_area`, the API's
validation, which also normalises it for storage.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from shapely.errors import ShapelyError
from shapely.geometry import shape
from shapely.validation import explain_validity

from chengzhi.errors import Invalid
from chengzhi.i18n import Language, message
from chengzhi.org.service import validate_area
from chengzhi.web.i18n import N_, gettext

AREA_MAX_BYTES = 2 * 1024 * 1024
_WHERE = re.compile(r"\[\s*(-?[\d.eE+-]+)\s+(-?[\d.eE+-]+)\s*\]")


class AreaRefused(Exception):
    """Why an uploaded file is not a usable area, already in the page's language."""


def _refuse(lang: Language, text: str, **params: object) -> AreaRefused:
    return AreaRefused(gettext(lang, text, **params))


def _limit_text(size: int) -> str:
    return f"{size // (1024 * 1024)} MB" if size >= 1024 * 1024 else f"{size // 1024} KB"


def _geometry(data: Any, lang: Language) -> dict[str, Any]:
    """The one geometry of a Geometry, a Feature or a FeatureCollection with a single feature."""
    if not isinstance(data, dict):
        raise _refuse(lang, N_("The file holds no GeoJSON object: upload a Polygon or a MultiPolygon."))
    if data.get("type") == "FeatureCollection":
        features = data.get("features")
        count = len(features) if isinstance(features, list) else 0
        if count != 1:
            raise _refuse(
                lang,
                N_("A FeatureCollection must hold exactly one feature; this one holds %(count)s."),
                count=count,
            )
        data = features[0] if isinstance(features, list) else None
        if not isinstance(data, dict):
            raise _refuse(lang, N_("The file holds no GeoJSON object: upload a Polygon or a MultiPolygon."))
    if data.get("type") == "Feature":
        data = data.get("geometry")
        if not isinstance(data, dict):
            raise _refuse(lang, N_("The feature has no geometry: upload a Polygon or a MultiPolygon."))
    kind = data.get("type")
    if kind not in ("Polygon", "MultiPolygon"):
        raise _refuse(
            lang,
            N_("The geometry is a %(type)s; an area must be a Polygon or a MultiPolygon."),
            type=str(kind)[:40] if kind else "?",
        )
    return data


def read_area(raw: bytes, lang: Language) -> str:
    """The uploaded file's area as compact GeoJSON text for `Unit.area`, or `AreaRefused`."""
    if not raw.strip():
        raise _refuse(lang, N_("Choose a GeoJSON file to upload."))
    if len(raw) > AREA_MAX_BYTES:
        raise _refuse(
            lang, N_("The file is too large: at most %(limit)s."), limit=_limit_text(AREA_MAX_BYTES)
        )
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise _refuse(lang, N_("The file is not text in UTF-8: save it as GeoJSON (UTF-8).")) from None
    except json.JSONDecodeError as exc:
        raise _refuse(
            lang,
            N_("The file is not valid JSON: %(reason)s at line %(line)s, column %(column)s."),
            reason=exc.msg,
            line=exc.lineno,
            column=exc.colno,
        ) from None
    except RecursionError:
        raise _refuse(lang, N_("The file is nested too deeply to be GeoJSON.")) from None
    geometry = _geometry(data, lang)
    try:
        polygon = shape(geometry)
        bounds = polygon.bounds
    except (ShapelyError, ValueError, TypeError, KeyError, AttributeError, IndexError):
        raise _refuse(
            lang,
            N_("The coordinates are malformed: each ring must be a list of [longitude, latitude] pairs."),
        ) from None
    if polygon.is_empty:
        raise _refuse(lang, N_("The polygon is empty."))
    minx, miny, maxx, maxy = bounds
    if not all(math.isfinite(v) for v in bounds) or not (
        -180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90
    ):
        raise _refuse(
            lang,
            N_(
                "Coordinates must be longitude (−180 to 180) and latitude (−90 to 90) in WGS 84; "
                "this file reaches %(lon)s, %(lat)s (projected coordinates?)."
            ),
            lon=f"{maxx if abs(maxx) > abs(minx) else minx:g}",
            lat=f"{maxy if abs(maxy) > abs(miny) else miny:g}",
        )
    if not polygon.is_valid:
        reason = explain_validity(polygon)
        where = _WHERE.search(reason)
        at = f"{float(where.group(1)):.6g}, {float(where.group(2)):.6g}" if where else "?"
        if reason.startswith(("Self-intersection", "Ring Self-intersection")):
            raise _refuse(
                lang, N_("The polygon crosses itself near %(point)s (longitude, latitude)."), point=at
            )
        raise _refuse(
            lang, N_("The polygon is not valid near %(point)s: %(reason)s."), point=at, reason=reason[:120]
        )
    try:
        return validate_area(geometry) or ""
    except Invalid as exc:  # a rule of the service this page does not know yet
        raise AreaRefused(message(exc.code, lang, exc.params)) from None


# Shares below this are drawing noise (shared borders digitised twice), not a real overlap.
FIT_TOLERANCE = 0.01


def _share(part: float, whole: float) -> str:
    return f"{part / whole:.0%}" if whole > 0 else "?"


def fit_warnings(
    area: str, parent: tuple[str, str | None] | None, siblings: list[tuple[str, str]], lang: Language
) -> list[str]:
    """How a saved area sits with its parent's and its siblings' areas (`(name, GeoJSON)` pairs), as warnings:
    a part outside the parent, or an overlap with a sibling, makes routing by location ambiguous there."""
    try:
        own = shape(json.loads(area))
    except (ValueError, TypeError, ShapelyError):
        return []
    warnings = []
    if parent is not None and parent[1]:
        outside = own.difference(shape(json.loads(parent[1]))).area
        if outside > FIT_TOLERANCE * own.area:
            warnings.append(
                gettext(
                    lang,
                    N_("Check the area: %(share)s of it lies outside %(unit)s, the unit above it."),
                    share=_share(outside, own.area),
                    unit=parent[0],
                )
            )
    for name, text in siblings:
        other = shape(json.loads(text))
        if not own.intersects(other):
            continue
        common = own.intersection(other).area
        if common > FIT_TOLERANCE * min(own.area, other.area):
            warnings.append(
                gettext(
                    lang,
                    N_(
                        "Check the area: %(share)s of it overlaps %(unit)s; a request there may go to either."
                    ),
                    share=_share(common, own.area),
                    unit=name,
                )
            )
    return warnings
