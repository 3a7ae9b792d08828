"""The public catalogue as a DCAT-US (Project Open Data v1.1) `data.json`, what US-style harvesters (data.gov's
ckanext-datajson, Socrata, ArcGIS Hub) read: `/data.json`, every published dataset open without or on conditions.

The open level is `accessLevel` (`public`, `restricted public`; datasets not open are never listed) with `rights`
saying how to apply. The federal-only fields (`bureauCode`, `programCode`) are left out, as the schema's notes allow
non-federal publishers. A contact point needs an e-mail address: a dataset without one gets the platform's
(`CHENGZHI_MAIL_FROM`). The file is streamed, 500 datasets a query, so its size does not weigh on memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.db import get_engine
from chengzhi.deps import SettingsDep
from chengzhi.opendata import dicts
from chengzhi.opendata.models import Dataset, OpenLevel
from chengzhi.opendata.search import visible
from chengzhi.opendata.vocab import FORMATS, LICENCES, THEMES
from chengzhi.org.models import Unit
from chengzhi.org.queries import units_by_id
from chengzhi.org.service import ANONYMOUS

router = APIRouter(tags=["dcat"])
SCHEMA = "https://project-open-data.cio.gov/v1.1/schema"
BATCH = 500
PERIODS = {
    "daily": "R/P1D",
    "weekly": "R/P1W",
    "monthly": "R/P1M",
    "quarterly": "R/P3M",
    "annual": "R/P1Y",
    "irregular": "irregular",
}
ACCESS = {OpenLevel.unconditional: "public", OpenLevel.conditional: "restricted public"}


def _distribution(base: str, res: Any) -> dict[str, Any]:
    fmt = "CSV" if res.datastore_active else (res.format or "").upper()
    out: dict[str, Any] = {"@type": "dcat:Distribution", "title": res.name}
    if res.description:
        out["description"] = res.description
    url = dicts.resource_url(base, res)
    media = FORMATS.get(fmt, ("", ""))[0]
    if res.url or not media:
        out["accessURL"] = url
    else:
        out["downloadURL"] = url
        out["mediaType"] = media
    if fmt:
        out["format"] = fmt
    if res.datastore_active:
        # The table's columns and types, as datastore_search gives them.
        out["describedBy"] = f"{base}/api/3/action/datastore_search?resource_id={res.id}&limit=0"
        out["describedByType"] = "application/json"
    return out


def dataset_entry(base: str, ds: Dataset, units: dict[int, Unit], fallback_email: str) -> dict[str, Any]:
    """One dataset as a DCAT-US v1.1 dataset object."""
    unit = units.get(ds.unit_id)
    unit_name = unit.name_zh if unit else ""
    level = OpenLevel(ds.open_level)
    out: dict[str, Any] = {
        "@type": "dcat:Dataset",
        "identifier": ds.id,
        "title": ds.title,
        "description": ds.notes or ds.title,
        "keyword": [t.tag for t in ds.tags] or [ds.name],
        "modified": ds.modified_at.isoformat(timespec="seconds"),
        "issued": (ds.published_at or ds.created_at).date().isoformat(),
        "publisher": {"@type": "org:Organization", "name": unit_name or ds.name},
        "contactPoint": {
            "@type": "vcard:Contact",
            "fn": ds.contact_name or unit_name or ds.name,
            "hasEmail": f"mailto:{ds.contact_email or fallback_email}",
        },
        "accessLevel": ACCESS[level],
        "landingPage": f"{base}/data/{ds.name}",
        "language": ["zh-CN"],
        "accrualPeriodicity": PERIODS.get(ds.frequency, "irregular"),
        "distribution": [_distribution(base, r) for r in ds.resources],
    }
    if level == OpenLevel.conditional:
        out["rights"] = (
            f"有条件开放：说明用途、接受数据使用协议并经发布单位批准后可用。Open on conditions: apply at "
            f"{base}/data/{ds.name}"
        )[:255]
    licence = LICENCES.get(ds.license_id)
    if licence and licence.url:
        out["license"] = licence.url
    themes = [THEMES[t].title for t in ds.themes if t in THEMES]
    if themes:
        out["theme"] = themes
    spatial = units.get(ds.spatial_unit_id) if ds.spatial_unit_id else None
    if spatial is not None:
        out["spatial"] = spatial.name_zh
    if ds.temporal_start and ds.temporal_end:
        out["temporal"] = f"{ds.temporal_start.isoformat()}/{ds.temporal_end.isoformat()}"
    if not out["distribution"]:
        del out["distribution"]
    return out


def catalogue_chunks(settings: Settings, base: str) -> Iterator[bytes]:
    """The file, a batch of datasets at a time (each batch read in a session of its own, by id)."""
    head = {
        "@context": f"{SCHEMA}/catalog.jsonld",
        "@id": f"{base}/data.json",
        "@type": "dcat:Catalog",
        "conformsTo": SCHEMA,
        "describedBy": f"{SCHEMA}/catalog.json",
    }
    yield (json.dumps(head, ensure_ascii=False)[:-1] + ', "dataset": [').encode()
    engine = get_engine(settings.database_url)
    after = ""
    first = True
    while True:
        with Session(engine) as session:
            batch = list(
                session.scalars(
                    select(Dataset)
                    .where(
                        visible(ANONYMOUS, include_private=False, include_withdrawn=False),
                        Dataset.id > after,
                    )
                    .order_by(Dataset.id)
                    .limit(BATCH)
                )
            )
            units = units_by_id(session, dicts.unit_ids(batch))
            parts = [
                json.dumps(dataset_entry(base, ds, units, settings.mail_from), ensure_ascii=False)
                for ds in batch
            ]
        if parts:
            yield (("" if first else ",") + ",".join(parts)).encode()
            first = False
        if len(batch) < BATCH:
            break
        after = batch[-1].id
    yield b"]}"


@router.get("/data.json", summary="The catalogue in DCAT-US (Project Open Data v1.1), streamed")
def data_json(request: Request, settings: SettingsDep) -> StreamingResponse:
    base = str(request.base_url).rstrip("/")
    return StreamingResponse(catalogue_chunks(settings, base), media_type="application/json")
