"""Datasets: create, edit, publish and withdraw them, and who may see what (docs/opendata.md).

Who may write: a `data_publisher` (or an `admin`) holding the role in the dataset's unit or above it. Who may see:
a published dataset that is open without conditions or on conditions has public metadata; one not open is listed
to staff of any unit only; drafts and withdrawn datasets are shown to their publishers (and withdrawn ones, as
withdrawn, to harvesters asking what changed). Data: anyone for an unconditional dataset, the publisher and
applicants with an approved, unexpired application for a conditional one, staff for one not open.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.db import utcnow
from chengzhi.errors import Conflict, Forbidden, Invalid, NotFound
from chengzhi.opendata import docs
from chengzhi.opendata.models import (
    AccessApplication,
    ApplicationStatus,
    Dataset,
    DatasetStatus,
    DatasetTag,
    DatasetVersion,
    OpenLevel,
    UsageDay,
)
from chengzhi.opendata.vocab import FREQUENCIES, LICENCES, THEMES
from chengzhi.opendata.words import index_text
from chengzhi.org.models import Role, Unit
from chengzhi.org.queries import find_unit
from chengzhi.org.service import Actor
from chengzhi.webhooks import service as webhooks

PUBLISHER_ROLES = (Role.data_publisher, Role.admin)
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,99}$")
MAX_TAGS = 30


@dataclass
class DatasetInput:
    name: str
    title: str
    unit_id: int
    open_level: OpenLevel = OpenLevel.unconditional
    notes: str = ""
    title_en: str | None = None
    license_id: str = "cc-by-4.0"
    frequency: str = "irregular"
    themes: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    temporal_start: dt.date | None = None
    temporal_end: dt.date | None = None
    spatial_unit_id: int | None = None
    contact_name: str = ""
    contact_email: str = ""


def unit_of(session: Session, unit_id: int) -> Unit:
    unit = find_unit(session, unit_id)
    if unit is None:
        raise NotFound("unit_not_found", ref=unit_id)
    return unit


def may_publish(session: Session, actor: Actor, unit_id: int) -> bool:
    return actor.covers(unit_of(session, unit_id).path, *PUBLISHER_ROLES)


def require_publisher(session: Session, actor: Actor, unit_id: int) -> None:
    if not may_publish(session, actor, unit_id):
        raise Forbidden("forbidden_role", roles="data_publisher")


def may_see(session: Session, actor: Actor, ds: Dataset, *, withdrawn_ok: bool = False) -> bool:
    """Whether `actor` may see the dataset's metadata."""
    if ds.status == DatasetStatus.published:
        return ds.open_level != OpenLevel.not_open or actor.is_staff
    if ds.status == DatasetStatus.withdrawn and withdrawn_ok:
        return ds.open_level != OpenLevel.not_open or actor.is_staff
    return not actor.is_anonymous and may_publish(session, actor, ds.unit_id)


def approved_application(
    session: Session, actor: Actor, dataset_id: str, now: dt.datetime | None = None
) -> AccessApplication | None:
    if actor.user_id is None:
        return None
    now = now or utcnow()
    return session.scalar(
        select(AccessApplication)
        .where(
            AccessApplication.dataset_id == dataset_id,
            AccessApplication.user_id == actor.user_id,
            AccessApplication.status == ApplicationStatus.approved,
            AccessApplication.expires_at > now,
        )
        .limit(1)
    )


def may_read_data(session: Session, actor: Actor, ds: Dataset) -> bool:
    """Whether `actor` may read the dataset's rows and files."""
    if not may_see(session, actor, ds):
        return False
    if ds.status != DatasetStatus.published:
        return True  # its publisher, checking a draft
    if ds.open_level == OpenLevel.unconditional:
        return True
    if not actor.is_anonymous and may_publish(session, actor, ds.unit_id):
        return True
    if ds.open_level == OpenLevel.not_open:
        return actor.is_staff
    return approved_application(session, actor, ds.id) is not None


def find_dataset(session: Session, ref: str) -> Dataset | None:
    """By id (UUID) or name, as CKAN's `package_show` takes either."""
    found = session.get(Dataset, ref)
    if found is None:
        found = session.scalar(select(Dataset).where(Dataset.name == ref))
    return found


def get_dataset(session: Session, actor: Actor, ref: str, *, withdrawn_ok: bool = True) -> Dataset:
    ds = find_dataset(session, ref)
    if ds is None or not may_see(session, actor, ds, withdrawn_ok=withdrawn_ok):
        raise NotFound("opendata_dataset_not_found", ref=ref)
    return ds


def clean(session: Session, data: DatasetInput) -> dict[str, Any]:
    name = data.name.strip().lower()
    if not NAME_RE.match(name):
        raise Invalid("opendata_name_invalid")
    title = data.title.strip()
    if not title or len(title) > 300:
        raise Invalid("opendata_title_required")
    if data.license_id not in LICENCES:
        raise Invalid("opendata_unknown_term", field="license_id", value=data.license_id)
    if data.frequency not in FREQUENCIES:
        raise Invalid("opendata_unknown_term", field="frequency", value=data.frequency)
    for theme in data.themes:
        if theme not in THEMES:
            raise Invalid("opendata_unknown_term", field="groups", value=theme)
    if data.temporal_start and data.temporal_end and data.temporal_end < data.temporal_start:
        raise Invalid("opendata_temporal_order")
    unit_of(session, data.unit_id)
    if data.spatial_unit_id is not None:
        unit_of(session, data.spatial_unit_id)
    tags = list(dict.fromkeys(t.strip() for t in data.tags if t and t.strip()))
    if len(tags) > MAX_TAGS or any(len(t) > 100 for t in tags):
        raise Invalid("opendata_tags_invalid", max=MAX_TAGS)
    return {
        "name": name,
        "title": title,
        "title_en": (data.title_en or "").strip() or None,
        "notes": data.notes.strip(),
        "unit_id": data.unit_id,
        "open_level": OpenLevel(data.open_level),
        "license_id": data.license_id,
        "frequency": data.frequency,
        "themes": list(dict.fromkeys(data.themes)),
        "temporal_start": data.temporal_start,
        "temporal_end": data.temporal_end,
        "spatial_unit_id": data.spatial_unit_id,
        "contact_name": data.contact_name.strip(),
        "contact_email": data.contact_email.strip(),
        "tags": tags,
    }


def _index(ds: Dataset, tags: list[str]) -> None:
    """What `q` searches, cut into words: the name, titles and tags (ranked higher), and the description."""
    ds.search_title = index_text(ds.name, ds.title, ds.title_en or "", *tags)
    ds.search_text = index_text(ds.notes)


def snapshot(ds: Dataset) -> dict[str, Any]:
    return {
        "name": ds.name,
        "title": ds.title,
        "title_en": ds.title_en,
        "notes": ds.notes,
        "unit_id": ds.unit_id,
        "open_level": ds.open_level.value,
        "status": ds.status.value,
        "license_id": ds.license_id,
        "frequency": ds.frequency,
        "themes": list(ds.themes),
        "tags": [t.tag for t in ds.tags],
        "temporal_start": ds.temporal_start.isoformat() if ds.temporal_start else None,
        "temporal_end": ds.temporal_end.isoformat() if ds.temporal_end else None,
        "contact_name": ds.contact_name,
        "contact_email": ds.contact_email,
        "resources": [r.id for r in ds.resources],
    }


def record_version(
    session: Session,
    ds: Dataset,
    action: str,
    actor: Actor | None,
    changed: list[str] | None = None,
    now: dt.datetime | None = None,
) -> None:
    """A new version of the dataset's history; also moves `metadata_modified`, which harvesters follow."""
    now = now or utcnow()
    ds.modified_at = now
    session.flush()
    seq = (
        session.scalar(select(func.max(DatasetVersion.seq)).where(DatasetVersion.dataset_id == ds.id)) or 0
    ) + 1
    session.add(
        DatasetVersion(
            dataset_id=ds.id,
            seq=seq,
            version=ds.version,
            action=action,
            actor_id=actor.user_id if actor is not None else None,  # None: the platform's own check
            changed=changed or [],
            snapshot=snapshot(ds),
            created_at=now,
        )
    )
    docs.store(session, ds)


def _apply(ds: Dataset, values: dict[str, Any]) -> list[str]:
    changed = []
    tags = values.pop("tags")
    for key, value in values.items():
        if getattr(ds, key) != value:
            setattr(ds, key, value)
            changed.append(key)
    if sorted(t.tag for t in ds.tags) != sorted(tags):
        ds.tags = [DatasetTag(tag=t) for t in tags]
        changed.append("tags")
    _index(ds, tags)
    return changed


def create_dataset(
    session: Session, actor: Actor, data: DatasetInput, *, now: dt.datetime | None = None
) -> Dataset:
    values = clean(session, data)
    require_publisher(session, actor, values["unit_id"])
    if session.scalar(select(Dataset.id).where(Dataset.name == values["name"])) is not None:
        raise Conflict("opendata_name_taken", name=values["name"])
    now = now or utcnow()
    ds = Dataset(name=values["name"], created_at=now, modified_at=now, version=1, tags=[])
    _apply(ds, values)
    session.add(ds)
    record_version(session, ds, "created", actor, now=now)
    return ds


def update_dataset(
    session: Session, actor: Actor, ds: Dataset, data: DatasetInput, *, now: dt.datetime | None = None
) -> Dataset:
    require_publisher(session, actor, ds.unit_id)
    values = clean(session, data)
    require_publisher(session, actor, values["unit_id"])
    if values["name"] != ds.name and session.scalar(select(Dataset.id).where(Dataset.name == values["name"])):
        raise Conflict("opendata_name_taken", name=values["name"])
    if values["open_level"] == OpenLevel.unconditional and ds.status == DatasetStatus.published:
        require_no_personal_data(ds)
    changed = _apply(ds, values)
    if changed:
        ds.version += 1
        record_version(session, ds, "edited", actor, changed, now=now)
    return ds


def personal_data_blocks(ds: Dataset) -> list[str]:
    """Names of the resources whose quality check found personal data not yet masked."""
    return [r.name for r in ds.resources if (r.quality or {}).get("personal_data")]


def require_no_personal_data(ds: Dataset) -> None:
    blocked = personal_data_blocks(ds)
    if blocked:
        raise Conflict("opendata_personal_data", resources=", ".join(blocked))


def publish_dataset(
    session: Session, actor: Actor, ds: Dataset, *, now: dt.datetime | None = None
) -> Dataset:
    require_publisher(session, actor, ds.unit_id)
    if ds.status == DatasetStatus.published:
        raise Conflict("opendata_illegal_status", status=ds.status.value, target="published")
    if ds.open_level == OpenLevel.unconditional:
        require_no_personal_data(ds)
    now = now or utcnow()
    ds.status = DatasetStatus.published
    ds.published_at = ds.published_at or now
    record_version(session, ds, "published", actor, ["status"], now=now)
    # Outside systems subscribed to `dataset.published` hear of it (a delivery per subscriber, this transaction).
    data = {
        "id": ds.id,
        "name": ds.name,
        "title": ds.title,
        "version": ds.version,
        "open_level": ds.open_level.value,
    }
    webhooks.emit(session, "dataset.published", f"dataset.published:{ds.id}:{ds.version}", data, now)
    return ds


def withdraw_dataset(
    session: Session, actor: Actor, ds: Dataset, *, now: dt.datetime | None = None
) -> Dataset:
    require_publisher(session, actor, ds.unit_id)
    if ds.status != DatasetStatus.published:
        raise Conflict("opendata_illegal_status", status=ds.status.value, target="withdrawn")
    ds.status = DatasetStatus.withdrawn
    record_version(session, ds, "withdrawn", actor, ["status"], now=now)
    return ds


def withdraw_for_personal_data(session: Session, ds: Dataset, now: dt.datetime) -> bool:
    """The scheduled table check found personal data in a dataset published to everyone: it is withdrawn at once
    (harvesters see it withdrawn at their next visit), its history says why (action `withdrawn_personal`, no
    person), and its page shows the finding to its publishers, who mask the column and publish again. Datasets
    open on conditions or to staff only keep their status (the finding lowers their score)."""
    if ds.status != DatasetStatus.published or ds.open_level != OpenLevel.unconditional:
        return False
    if not personal_data_blocks(ds):
        return False
    ds.status = DatasetStatus.withdrawn
    record_version(session, ds, "withdrawn_personal", None, ["status"], now=now)
    return True


def history(session: Session, ds: Dataset) -> list[DatasetVersion]:
    return list(
        session.scalars(
            select(DatasetVersion).where(DatasetVersion.dataset_id == ds.id).order_by(DatasetVersion.seq)
        )
    )


def city_day(settings: Settings, now: dt.datetime | None = None) -> dt.date:
    """The city's date now (usage is counted per city day)."""
    return (now or utcnow()).astimezone(ZoneInfo(settings.timezone)).date()


def count_use(session: Session, dataset_id: str, *, download: bool, day: dt.date) -> None:
    """Counts a download or an API read of the dataset's data."""
    if session.get_bind().dialect.name == "postgresql":
        # Counts are statistics: the reader does not wait for them to reach the disk (a crash may lose a few).
        session.execute(text("SET LOCAL synchronous_commit = off"))
    add_usage(session, dataset_id, day, downloads=int(download), api_calls=int(not download))


def add_usage(
    session: Session, dataset_id: str, day: dt.date, *, downloads: int = 0, api_calls: int = 0
) -> None:
    """Adds to the dataset's totals (one UPDATE, no read first) and to its row of the day in `od_usage_days` (an
    upsert: concurrent readers add up, never conflict)."""
    session.execute(
        update(Dataset)
        .where(Dataset.id == dataset_id)
        .values(downloads=Dataset.downloads + downloads, api_calls=Dataset.api_calls + api_calls)
    )
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(UsageDay).values(
        dataset_id=dataset_id, day=day, downloads=downloads, api_calls=api_calls
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[UsageDay.dataset_id, UsageDay.day],
            set_={"downloads": UsageDay.downloads + downloads, "api_calls": UsageDay.api_calls + api_calls},
        )
    )


def usage_by_day(session: Session, dataset_id: str, days: int = 30) -> list[UsageDay]:
    """The dataset's usage on its last `days` days with any, oldest first."""
    rows = session.scalars(
        select(UsageDay).where(UsageDay.dataset_id == dataset_id).order_by(UsageDay.day.desc()).limit(days)
    )
    return list(reversed(list(rows)))
