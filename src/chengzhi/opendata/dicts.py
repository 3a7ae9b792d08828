"""The catalogue's objects as CKAN's API shows them (package, resource, organization, group, tag dicts), so that
CKAN clients and harvesters read them unchanged. Our own fields ride in `extras` and in a few extra keys."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from chengzhi.i18n import gettext
from chengzhi.opendata.models import Dataset, DatasetStatus, OpenLevel, Resource
from chengzhi.opendata.vocab import FORMATS, LICENCES, OPEN_LEVEL_ZH, THEMES
from chengzhi.org.models import Unit


def ckan_time(value: dt.datetime | None) -> str | None:
    """CKAN's timestamps: UTC without an offset, microseconds included."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds")


def state(ds: Dataset) -> str:
    return {DatasetStatus.published: "active", DatasetStatus.draft: "draft"}.get(ds.status, "deleted")


def organization_dict(unit: Unit, package_count: int | None = None, lang: str = "zh") -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(unit.id),
        "name": unit.code,
        "title": unit.name(lang),
        "display_name": unit.name(lang),
        "description": unit.name_en if lang != "en" else unit.name_zh,
        "type": "organization",
        "is_organization": True,
        "state": "active" if unit.active else "deleted",
        "approval_status": "approved",
        "image_url": "",
        "created": ckan_time(unit.created_at),
    }
    if package_count is not None:
        out["package_count"] = package_count
    return out


def group_dict(code: str, package_count: int | None = None, lang: str = "zh") -> dict[str, Any]:
    term = THEMES[code]
    title = gettext(lang, term.title)
    out: dict[str, Any] = {
        "id": code,
        "name": code,
        "title": title,
        "display_name": title,
        "description": term.iri,
        "type": "group",
        "is_organization": False,
        "state": "active",
        "approval_status": "approved",
        "image_url": "",
        "image_display_url": "",
    }
    if package_count is not None:
        out["package_count"] = package_count
    return out


def resource_url(base: str, res: Resource) -> str:
    if res.url:
        return res.url
    extension = "csv" if res.datastore_active else (res.format or "bin").lower()
    return f"{base}/dataset/{res.dataset_id}/resource/{res.id}/download/{res.id}.{extension}"


def resource_dict(base: str, res: Resource) -> dict[str, Any]:
    fmt = (res.format or "").upper()
    return {
        "id": res.id,
        "package_id": res.dataset_id,
        "name": res.name,
        "description": res.description,
        "format": "CSV" if res.datastore_active else fmt,
        "mimetype": FORMATS.get("CSV" if res.datastore_active else fmt, ("", ""))[0] or None,
        "url": resource_url(base, res),
        "url_type": None if res.url else "upload",
        "size": res.size,
        "hash": "",
        "position": res.position,
        "state": "active",
        "created": ckan_time(res.created_at),
        "last_modified": ckan_time(res.modified_at),
        "metadata_modified": ckan_time(res.modified_at),
        "datastore_active": res.datastore_active,
        "datastore_rows": res.row_count if res.datastore_active else None,
    }


def _extras(ds: Dataset, units: dict[int, Unit]) -> list[dict[str, str]]:
    spatial = units.get(ds.spatial_unit_id) if ds.spatial_unit_id else None
    values = {
        "open_level": ds.open_level.value,
        "open_level_zh": OPEN_LEVEL_ZH[OpenLevel(ds.open_level)],
        "frequency": ds.frequency,
        "temporal_start": ds.temporal_start.isoformat() if ds.temporal_start else "",
        "temporal_end": ds.temporal_end.isoformat() if ds.temporal_end else "",
        "spatial_unit": spatial.code if spatial else "",
        "title_en": ds.title_en or "",
        "quality_score": str((ds.quality or {}).get("score", "")),
        "downloads": str(ds.downloads),
        "api_calls": str(ds.api_calls),
        "withdrawn": "true" if ds.status == DatasetStatus.withdrawn else "false",
    }
    return [{"key": k, "value": v} for k, v in values.items() if v != ""]


def package_dict(ds: Dataset, units: dict[int, Unit], base: str, lang: str = "zh") -> dict[str, Any]:
    licence = LICENCES.get(ds.license_id)
    unit = units.get(ds.unit_id)
    tags = [t.tag for t in ds.tags]
    return {
        "id": ds.id,
        "name": ds.name,
        "title": ds.title,
        "notes": ds.notes,
        "type": "dataset",
        "state": state(ds),
        "private": ds.open_level == OpenLevel.not_open,
        "open_level": ds.open_level.value,
        "author": unit.name(lang) if unit else None,
        "author_email": None,
        "maintainer": ds.contact_name or None,
        "maintainer_email": ds.contact_email or None,
        "license_id": ds.license_id,
        "license_title": gettext(lang, licence.title) if licence else ds.license_id,
        "license_url": licence.url if licence else "",
        "isopen": ds.open_level == OpenLevel.unconditional and ds.license_id != "other-closed",
        "url": f"{base}/data/{ds.name}",
        "version": str(ds.version),
        "owner_org": str(ds.unit_id),
        "organization": organization_dict(unit, lang=lang) if unit else None,
        "metadata_created": ckan_time(ds.created_at),
        "metadata_modified": ckan_time(ds.modified_at),
        "creator_user_id": None,
        "num_resources": len(ds.resources),
        "num_tags": len(tags),
        "resources": [resource_dict(base, r) for r in ds.resources],
        "tags": [
            {"id": t, "name": t, "display_name": t, "state": "active", "vocabulary_id": None} for t in tags
        ],
        "groups": [group_dict(code, lang=lang) for code in ds.themes if code in THEMES],
        "extras": _extras(ds, units),
        "relationships_as_object": [],
        "relationships_as_subject": [],
    }


def unit_ids(datasets: Iterable[Dataset]) -> set[int]:
    ids: set[int] = set()
    for ds in datasets:
        ids.add(ds.unit_id)
        if ds.spatial_unit_id:
            ids.add(ds.spatial_unit_id)
    return ids


def search_facets(
    facets: dict[str, dict[str, int]], units: dict[int, Unit], lang: str
) -> dict[str, dict[str, Any]]:
    """CKAN's `search_facets`: each facet's items with display names (organisations by code)."""
    out: dict[str, dict[str, Any]] = {}
    for name, counts in facets.items():
        items = []
        for key, count in counts.items():
            display = key
            if name == "organization" and key.isdigit() and int(key) in units:
                unit = units[int(key)]
                key, display = unit.code, unit.name(lang)
            elif name == "groups" and key in THEMES:
                display = gettext(lang, THEMES[key].title)
            items.append({"name": key, "display_name": display, "count": count})
        out[name] = {"title": name, "items": items}
    return out


def plain_facets(facets: dict[str, dict[str, int]], units: dict[int, Unit]) -> dict[str, dict[str, int]]:
    """CKAN's `facets`: {field: {value: count}}, organisations by their name (code)."""
    out: dict[str, dict[str, int]] = {}
    for name, counts in facets.items():
        if name == "organization":
            out[name] = {
                (units[int(k)].code if k.isdigit() and int(k) in units else k): n for k, n in counts.items()
            }
        else:
            out[name] = dict(counts)
    return out


def datastore_fields(fields: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"id": "_id", "type": "int"}, *({"id": f["id"], "type": f["type"]} for f in fields)]
