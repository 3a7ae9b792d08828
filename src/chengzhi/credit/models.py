"""The credit domain's tables: entities (with their name history), credit records, grades and the code allow-list."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from chengzhi.db import Base, UTCDateTime, utcnow

ENTITY_KINDS = ("enterprise", "individual", "social_org", "institution")
ENTITY_STATUSES = ("active", "suspended", "revoked", "cancelled")
RECORD_KINDS = ("licence", "inspection", "penalty", "honour", "commitment", "dishonesty", "complaint")
SEVERITIES = ("minor", "general", "serious")  # 轻微 / 一般 / 严重
GRADES = ("A", "B", "C", "D")


class CreditEntity(Base):
    """An enterprise, individual business, social organisation or public institution, by its USCC."""

    __tablename__ = "credit_entities"

    id: Mapped[int] = mapped_column(primary_key=True)
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    legal_rep: Mapped[str | None] = mapped_column(String(120))
    address: Mapped[str | None] = mapped_column(String(300))
    area_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    industry: Mapped[str | None] = mapped_column(String(20), index=True)
    status: Mapped[str] = mapped_column(String(20), default="active")
    score: Mapped[float | None] = mapped_column(Float)
    grade: Mapped[str | None] = mapped_column(String(1), index=True)
    graded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CreditEntityName(Base):
    """A name the entity bore, from `valid_from` until `valid_to` (None: its current name)."""

    __tablename__ = "credit_entity_names"

    id: Mapped[int] = mapped_column(primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("credit_entities.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)


class CreditAllowedCode(Base):
    """A real code from the pilot era that fails the GB 32100-2015 check, admitted explicitly with a reason."""

    __tablename__ = "credit_allowed_codes"

    uscc: Mapped[str] = mapped_column(String(18), primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    added_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CreditRecord(Base):
    """One fact about an entity from a department: licence, inspection, penalty, honour, commitment, court list,
    substantiated complaint. `publish_until` is the first day the record is no longer public (None: no end)."""

    __tablename__ = "credit_records"
    __table_args__ = (Index("ix_credit_records_entity_decided", "entity_id", "decided_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("credit_entities.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20), index=True)
    severity: Mapped[str | None] = mapped_column(String(10))
    # inspection passed / commitment kept / complaint substantiated; None where it does not apply.
    outcome: Mapped[bool | None] = mapped_column(Boolean)
    title: Mapped[str] = mapped_column(String(300))
    legal_basis: Mapped[str] = mapped_column(Text)
    source_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    request_id: Mapped[int | None] = mapped_column(Integer, index=True)
    decided_on: Mapped[dt.date] = mapped_column(Date)
    rule_set: Mapped[str | None] = mapped_column(String(20))
    publish_until: Mapped[dt.date | None] = mapped_column(Date)
    repaired_on: Mapped[dt.date | None] = mapped_column(Date)
    repair_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CreditGrade(Base):
    """The history of an entity's grades: each computation with its explanation (the records that moved it)."""

    __tablename__ = "credit_grades"

    id: Mapped[int] = mapped_column(primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("credit_entities.id", ondelete="CASCADE"), index=True)
    score: Mapped[float] = mapped_column(Float)
    grade: Mapped[str] = mapped_column(String(1))
    model: Mapped[str] = mapped_column(String(40))
    explanation: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    computed_on: Mapped[dt.date] = mapped_column(Date)
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
