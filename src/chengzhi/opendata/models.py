"""The open-data catalogue: datasets published by units, their resources, tags, version history, conditional
access applications and usage counts. A tabular resource's rows live in a table of their own (datastore.py), not
in one of these."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column, relationship

from chengzhi.db import Base, UTCDateTime, utcnow


class OpenLevel(enum.StrEnum):
    """开放属性: who may see a dataset and its data."""

    unconditional = "unconditional"  # 无条件开放: anyone, metadata and data
    conditional = "conditional"  # 有条件开放: metadata public, data to approved applicants
    not_open = "not_open"  # 非开放: listed for units only, never public


class DatasetStatus(enum.StrEnum):
    draft = "draft"
    published = "published"
    withdrawn = "withdrawn"


class ApplicationStatus(enum.StrEnum):
    pending = "pending"
    approved = "approved"
    rejected = "rejected"


# SQLite's full-text index of the datasets (an FTS5 virtual table made by migration 0045 when SQLite has FTS5),
# and the tables FTS5 makes for it: not models, kept by triggers on od_datasets.
SEARCH_FTS = "od_search_fts"
SEARCH_FTS_TABLES = frozenset(
    {SEARCH_FTS, *(f"{SEARCH_FTS}_{part}" for part in ("data", "idx", "content", "docsize", "config"))}
)


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(cls, name=name, native_enum=False, validate_strings=True, length=20)


def new_id() -> str:
    return str(uuid.uuid4())


class Dataset(Base):
    """A dataset as CKAN and DCAT see it; `id` is a UUID (CKAN's `id`), `name` its URL slug."""

    __tablename__ = "od_datasets"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    title_en: Mapped[str | None] = mapped_column(String(300))
    notes: Mapped[str] = mapped_column(Text, default="")
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    open_level: Mapped[OpenLevel] = mapped_column(_enum(OpenLevel, "od_open_level"))
    status: Mapped[DatasetStatus] = mapped_column(
        _enum(DatasetStatus, "od_dataset_status"), default=DatasetStatus.draft
    )
    license_id: Mapped[str] = mapped_column(String(40), default="cc-by-4.0")
    frequency: Mapped[str] = mapped_column(String(20), default="irregular")
    themes: Mapped[list[str]] = mapped_column(JSON, default=list)  # CKAN groups = DCAT themes
    temporal_start: Mapped[dt.date | None] = mapped_column(Date)
    temporal_end: Mapped[dt.date | None] = mapped_column(Date)
    spatial_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    contact_name: Mapped[str] = mapped_column(String(120), default="")
    contact_email: Mapped[str] = mapped_column(String(200), default="")
    version: Mapped[int] = mapped_column(Integer, default=1)
    # What `q` searches, cut into words (words.index_text): the name, titles and tags, and the description.
    search_title: Mapped[str] = mapped_column(Text, default="")
    search_text: Mapped[str] = mapped_column(Text, default="")
    # PostgreSQL: their full-text vector (title words weigh A, the description's D), kept by a trigger (migration
    # 0045), GIN-indexed. SQLite: unused (NULL); its index is the FTS5 table SEARCH_FTS, kept by triggers too.
    search_vector: Mapped[str | None] = mapped_column(
        TSVECTOR().with_variant(Text(), "sqlite"), deferred=True
    )
    quality: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    downloads: Mapped[int] = mapped_column(Integer, default=0)
    api_calls: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # CKAN's metadata_modified: every change of metadata, resources, publication or withdrawal.
    modified_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    resources: Mapped[list[Resource]] = relationship(
        back_populates="dataset",
        lazy="selectin",
        order_by="Resource.position",
        cascade="all, delete-orphan",
    )
    tags: Mapped[list[DatasetTag]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="DatasetTag.tag"
    )


# The listing orders (CKAN's `sort`): each walks its index past `start` without visiting the table.
# `modified_at` rides in the id order's index for the harvester's incremental query (`metadata_modified:[since TO *]`
# sorted by id); a unit's datasets are read newest first from their own index.
Index("ix_od_datasets_status_modified", Dataset.status, Dataset.modified_at, Dataset.id, Dataset.open_level)
Index(
    "ix_od_datasets_status_id_modified", Dataset.status, Dataset.id, Dataset.open_level, Dataset.modified_at
)
Index("ix_od_datasets_search_vector", Dataset.search_vector, postgresql_using="gin")
Index("ix_od_datasets_unit_status_modified", Dataset.unit_id, Dataset.status, Dataset.modified_at, Dataset.id)


class SearchRow(Base):
    """What PostgreSQL's ranked `q` reads (fulltext.py): a narrow copy of each dataset's searched vector and the
    columns a search usually filters and orders on, kept in step by a trigger on `od_datasets` (migration 0051),
    so that scoring every match reads 26 MB instead of the datasets' 49 MB. SQLite: unused (empty); its index is
    the FTS5 table SEARCH_FTS."""

    __tablename__ = "od_search_rows"

    dataset_id: Mapped[str] = mapped_column(
        ForeignKey("od_datasets.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[DatasetStatus] = mapped_column(_enum(DatasetStatus, "od_dataset_status"))
    open_level: Mapped[OpenLevel] = mapped_column(_enum(OpenLevel, "od_open_level"))
    unit_id: Mapped[int] = mapped_column(Integer)
    modified_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    search_vector: Mapped[str | None] = mapped_column(TSVECTOR().with_variant(Text(), "sqlite"))


Index("ix_od_search_rows_search_vector", SearchRow.search_vector, postgresql_using="gin")


class DatasetTag(Base):
    __tablename__ = "od_dataset_tags"

    dataset_id: Mapped[str] = mapped_column(
        ForeignKey("od_datasets.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(100), primary_key=True, index=True)


class Resource(Base):
    """A file or a table of a dataset. A table (`datastore_active`) has its rows in `table_name`, typed as
    `fields` says ([{"id": "street", "type": "text"}, ...])."""

    __tablename__ = "od_resources"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("od_datasets.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    format: Mapped[str] = mapped_column(String(20), default="CSV")
    url: Mapped[str | None] = mapped_column(String(1000))  # an outside address, else served by the platform
    stored_path: Mapped[str | None] = mapped_column(String(300))  # an uploaded file under the media directory
    size: Mapped[int | None] = mapped_column(Integer)
    datastore_active: Mapped[bool] = mapped_column(Boolean, default=False)
    table_name: Mapped[str | None] = mapped_column(String(63))
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    row_count: Mapped[int] = mapped_column(Integer, default=0)
    quality: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    modified_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    dataset: Mapped[Dataset] = relationship(back_populates="resources")


class DatasetVersion(Base):
    """One row per creation, edit, publication and withdrawal, with the dataset as it stood afterwards."""

    __tablename__ = "od_dataset_versions"
    __table_args__ = (UniqueConstraint("dataset_id", "seq", name="uq_od_dataset_versions_dataset_seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("od_datasets.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    changed: Mapped[list[str]] = mapped_column(JSON, default=list)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AccessApplication(Base):
    """An application for a conditional dataset's data: a purpose, the data-use agreement accepted, and the
    publishing unit's decision (approved until `expires_at`, or rejected with a reason)."""

    __tablename__ = "od_applications"

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("od_datasets.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(Text)
    agreement_accepted: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[ApplicationStatus] = mapped_column(
        _enum(ApplicationStatus, "od_application_status"), default=ApplicationStatus.pending
    )
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text, default="")
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PackageDoc(Base):
    """A dataset's CKAN package dict, ready as JSON (one per language), rebuilt with each version of the dataset
    (docs.py): a `package_search` page reads these instead of building dicts. `modified_at` is the dataset's when
    it was built; a doc older than its dataset is not used. The parts that change without a new version (the site's
    address, the unit's names, the usage counts) are placeholders filled in when the page is written."""

    __tablename__ = "od_package_docs"

    dataset_id: Mapped[str] = mapped_column(
        ForeignKey("od_datasets.id", ondelete="CASCADE"), primary_key=True
    )
    lang: Mapped[str] = mapped_column(String(5), primary_key=True)
    modified_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    body: Mapped[str] = mapped_column(Text)


class UsageDay(Base):
    """Downloads and API reads of a dataset's data on one day (city time)."""

    __tablename__ = "od_usage_days"

    dataset_id: Mapped[str] = mapped_column(
        ForeignKey("od_datasets.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    downloads: Mapped[int] = mapped_column(Integer, default=0)
    api_calls: Mapped[int] = mapped_column(Integer, default=0)
