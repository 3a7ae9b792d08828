"""Requests, their append-only event log, the units they are assigned to, photos and merged issues.

A request's workflow columns (status, lead unit, deadlines, ...) are a projection of its events, kept in the same
transaction as each event is appended; `workflow.fold` rebuilds them from the log alone.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from chengzhi.categories.models import Category
from chengzhi.db import Base, UTCDateTime, utcnow
from chengzhi.org.models import Unit


class Issue(Base):
    """Several requests about the same problem, merged; each keeps its own resident and timeline."""

    __tablename__ = "issues"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    primary_request_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Request(Base):
    __tablename__ = "requests"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_requests_source_external_id"),
        Index("ix_requests_status_due_at", "status", "due_at"),
        Index("ix_requests_received_at", "received_at"),
        Index("ix_requests_category_received", "category_id", "received_at"),
        Index("ix_requests_lead_status", "lead_unit_id", "status"),
        Index("ix_requests_updated_at", "updated_at"),
        # A resident's own space finds their requests from any channel by verified phone or e-mail (identity).
        Index("ix_requests_phone_last4", "phone_last4"),
        Index("ix_requests_contact_email", "contact_email"),
        # The inbox: one status, newest first, without sorting (a rare status is found at once).
        Index("ix_requests_status_id", "status", "id"),
        # The overdue board and the inbox's overdue filter: only the (few) overdue requests are indexed.
        Index(
            "ix_requests_overdue_due",
            "due_at",
            "id",
            postgresql_where=text("overdue_stage IS NOT NULL"),
            sqlite_where=text("overdue_stage IS NOT NULL"),
        ),
        # The retention job: closed requests not anonymised yet, by closing time (the rest is left out).
        Index(
            "ix_requests_retention",
            "closed_at",
            "id",
            postgresql_where=text("closed_at IS NOT NULL AND anonymised_at IS NULL"),
            sqlite_where=text("closed_at IS NOT NULL AND anonymised_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tracking_number: Mapped[str] = mapped_column(String(20), unique=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    text: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(5), default="zh")
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"))
    priority: Mapped[str] = mapped_column(String(20), default="normal")
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    address: Mapped[str | None] = mapped_column(String(300))
    contact_name: Mapped[str | None] = mapped_column(String(120))
    contact_phone: Mapped[str | None] = mapped_column(String(40))
    contact_email: Mapped[str | None] = mapped_column(String(200))
    # Last four digits of the phone, kept apart so that tracking by number + phone does not read the phone itself.
    phone_last4: Mapped[str | None] = mapped_column(String(4))
    submitter_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    receiving_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    attributes: Mapped[dict[str, Any]] = mapped_column(
        JSON, default=dict
    )  # answers to the category's questions
    source: Mapped[str] = mapped_column(String(40), default="chengzhi")
    external_id: Mapped[str | None] = mapped_column(String(80))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    # --- projection of the event log (see workflow.WorkflowState) ---
    status: Mapped[str] = mapped_column(String(20), default="received")
    lead_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    co_unit_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    extension_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    extension_days: Mapped[int] = mapped_column(Integer, default=0)
    issue_id: Mapped[int | None] = mapped_column(ForeignKey("issues.id"), index=True)
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    deadlines: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # stage -> ISO datetime
    overdue_stage: Mapped[str | None] = mapped_column(String(20))
    ever_overdue: Mapped[bool] = mapped_column(Boolean, default=False)
    answered_at_intake: Mapped[bool] = mapped_column(Boolean, default=False)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    return_count: Mapped[int] = mapped_column(Integer, default=0)
    resolved: Mapped[bool | None] = mapped_column(Boolean)
    satisfaction: Mapped[int | None] = mapped_column(SmallInteger)
    reply_text: Mapped[str | None] = mapped_column(Text)
    dispatched_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    replied_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    # "Me too" supports from the public list (request_supports), counted here for the list pages.
    support_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # True from intake until the triage worker has read the request (urgency, place, category, duplicates,
    # automatic dispatch): pages and the API say "being triaged" meanwhile (requests/queue.py).
    triage_pending: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    # Set by the retention job when the personal data were removed (docs/security.md, "Retention").
    anonymised_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    triaged_at: Mapped[dt.datetime | None] = mapped_column(
        UTCDateTime
    )  # None before the worker (and before 0014)

    category: Mapped[Category | None] = relationship(lazy="joined")
    lead_unit: Mapped[Unit | None] = relationship(foreign_keys=[lead_unit_id], lazy="joined")
    receiving_unit: Mapped[Unit] = relationship(foreign_keys=[receiving_unit_id], lazy="joined")


class RequestEvent(Base):
    """One step in a request's life. Rows are only ever inserted."""

    __tablename__ = "request_events"
    __table_args__ = (
        UniqueConstraint("request_id", "seq", name="uq_request_events_request_seq"),
        Index("ix_request_events_at", "at"),
        Index("ix_request_events_action_at", "action", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"))
    seq: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(30))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    note: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class RequestUnit(Base):
    """Every unit that holds a request (receiving hub, lead, co-units, earlier leads): what scoping reads."""

    __tablename__ = "request_units"
    __table_args__ = (
        UniqueConstraint("request_id", "unit_id", "role", name="uq_request_units_request_unit_role"),
        # Subtree scans are prefix matches (LIKE '/1/4/%'): PostgreSQL uses an index for them only with the
        # pattern operator class (the database's collation need not be "C"); SQLite gets a byte range instead.
        Index(
            "ix_request_units_unit_path",
            "unit_path",
            "request_id",
            postgresql_ops={"unit_path": "varchar_pattern_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    unit_path: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(10))  # hub, lead, co, former


class Photo(Base):
    __tablename__ = "photos"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"), index=True)
    content_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    stored_name: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Who attached it: the resident (`by_staff` false) or staff (a working attachment, never published).
    by_staff: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    # Published after moderation by staff: only then served to anyone, at /media/photos/<public_key>.<ext>.
    public: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    # Random, unguessable, fixed at upload: the published address (not the sequential id).
    public_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    moderated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    moderated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class PhotoToken(Base):
    """Lets an anonymous submitter attach photos to the request they just made, for a short while."""

    __tablename__ = "photo_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class RequestSupport(Base):
    """A resident's "me too" on a public request: one per supporter (a hash of the account or browser session)."""

    __tablename__ = "request_supports"
    __table_args__ = (
        UniqueConstraint("request_id", "supporter", name="uq_request_supports_request_supporter"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"), index=True)
    supporter: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ContactView(Base):
    """A staff member saw a resident's contact details unmasked: who, whose (the request), when, why (the right
    they held: handler of a unit handling it, operator, supervisor) and where (API or page)."""

    __tablename__ = "contact_views"
    __table_args__ = (Index("ix_contact_views_request_at", "request_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    viewer_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    reason: Mapped[str] = mapped_column(String(20))
    via: Mapped[str] = mapped_column(String(10))
