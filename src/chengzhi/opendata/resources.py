"""A dataset's resources: uploaded tables (CSV, XLSX: loaded into a datastore table and checked), other uploaded
files, and links; types edited and personal data masked by reloading the stored file."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.db import utcnow
from chengzhi.errors import Invalid, NotFound
from chengzhi.opendata import datastore
from chengzhi.opendata.models import Dataset, Resource, new_id
from chengzhi.opendata.quality import dataset_quality
from chengzhi.opendata.service import record_version, require_publisher
from chengzhi.opendata.vocab import FORMATS
from chengzhi.org.service import Actor

TABLE_FORMATS = ("CSV", "XLSX")


def storage_dir(settings: Settings) -> Path:
    return Path(settings.media_dir) / "opendata"


def stored_file(settings: Settings, res: Resource) -> Path:
    if not res.stored_path:
        raise NotFound("opendata_resource_not_found", ref=res.id)
    return storage_dir(settings) / res.stored_path


def format_of(filename: str) -> str:
    extension = Path(filename).suffix.lstrip(".").upper()
    if extension not in FORMATS:
        raise Invalid("opendata_format_unsupported", formats=", ".join(FORMATS))
    return extension


def refresh_quality(ds: Dataset, now: dt.datetime | None = None) -> dict[str, Any]:
    ds.quality = dataset_quality(
        [r.quality for r in ds.resources], ds.frequency, ds.modified_at, now or utcnow()
    )
    return ds.quality


def add_file(
    session: Session,
    settings: Settings,
    actor: Actor,
    ds: Dataset,
    filename: str,
    content: BinaryIO,
    *,
    name: str = "",
    description: str = "",
    mask: bool = False,
    now: dt.datetime | None = None,
) -> Resource:
    """Stores an uploaded file as a resource; a CSV or XLSX also becomes a queryable, checked table."""
    require_publisher(session, actor, ds.unit_id)
    fmt = format_of(filename)
    now = now or utcnow()
    res = Resource(
        id=new_id(),
        dataset_id=ds.id,
        position=len(ds.resources),
        name=(name or Path(filename).stem).strip()[:300],
        description=description.strip(),
        format=fmt,
        created_at=now,
        modified_at=now,
        fields=[],
        quality={},
    )
    directory = storage_dir(settings)
    directory.mkdir(parents=True, exist_ok=True)
    res.stored_path = f"{res.id}.{fmt.lower()}"
    target = directory / res.stored_path
    with target.open("wb") as out:
        shutil.copyfileobj(content, out, 1 << 20)
    res.size = target.stat().st_size
    ds.resources.append(res)
    session.flush()
    if fmt in TABLE_FORMATS:
        datastore.attach(session, res, target, mask=mask)
    ds.version += 1
    refresh_quality(ds, now)
    record_version(session, ds, "resource_added", actor, ["resources"], now=now)
    return res


def add_link(
    session: Session, actor: Actor, ds: Dataset, url: str, name: str, fmt: str, description: str = ""
) -> Resource:
    require_publisher(session, actor, ds.unit_id)
    if not url.startswith(("http://", "https://")) or len(url) > 1000:
        raise Invalid("opendata_url_invalid")
    res = Resource(
        id=new_id(),
        dataset_id=ds.id,
        position=len(ds.resources),
        name=name.strip()[:300] or url,
        description=description.strip(),
        format=fmt.upper()[:20],
        url=url,
        fields=[],
        quality={},
    )
    ds.resources.append(res)
    ds.version += 1
    session.flush()
    record_version(session, ds, "resource_added", actor, ["resources"])
    return res


def reload(
    session: Session,
    settings: Settings,
    actor: Actor,
    res: Resource,
    *,
    fields: list[dict[str, Any]] | None = None,
    mask: bool | None = None,
) -> dict[str, Any]:
    """Rebuilds the table from the stored file with edited types and/or personal data masked."""
    ds = res.dataset
    require_publisher(session, actor, ds.unit_id)
    if not res.datastore_active:
        raise Invalid("opendata_not_a_table")
    masked = bool(res.quality.get("masked")) if mask is None else mask
    quality = datastore.load_table(
        session.connection(), res, stored_file(settings, res), fields or res.fields, mask=masked
    )
    res.modified_at = utcnow()
    ds.version += 1
    refresh_quality(ds)
    record_version(session, ds, "resource_reloaded", actor, ["resources"])
    return quality
