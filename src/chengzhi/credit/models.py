"""The credit domain's tables: entities (with their name history), credit records, grades, the code allow-list,
red and black list entries, objections, repair applications, and random-inspection plans with their tasks."""

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
    # An upheld objection withdraws the record: from that day it is neither published nor scored.
    withdrawn_on: Mapped[dt.date | None] = mapped_column(Date)
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


LISTS = ("red", "black")  # 守信激励 (red) / 失信惩戒 (black)


class CreditListEntry(Base):
    """An entity on the red or the black list by one inclusion rule, usually because of one record.
    `publish_until` is the first day the entry is no longer published (None: until removed); `removed_on` and
    `removed_why` (expired, repaired, withdrawn, no_longer_met) when it left the list."""

    __tablename__ = "credit_list_entries"
    __table_args__ = (Index("ix_credit_list_entries_entity_rule", "entity_id", "rule"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("credit_entities.id", ondelete="CASCADE"))
    list_kind: Mapped[str] = mapped_column(String(10), index=True)  # red or black
    rule: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int | None] = mapped_column(ForeignKey("credit_records.id", ondelete="SET NULL"))
    listed_on: Mapped[dt.date] = mapped_column(Date)
    publish_until: Mapped[dt.date | None] = mapped_column(Date)
    removed_on: Mapped[dt.date | None] = mapped_column(Date, index=True)
    removed_why: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


OBJECTION_STATUSES = ("open", "upheld", "rejected")


class CreditObjection(Base):
    """An objection (异议) to a record: filed by the entity (or for it), decided by a credit officer by `due_on`."""

    __tablename__ = "credit_objections"

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("credit_records.id", ondelete="CASCADE"), index=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("credit_entities.id", ondelete="CASCADE"), index=True)
    filed_by: Mapped[str] = mapped_column(String(120))
    reason: Mapped[str] = mapped_column(Text)
    filed_on: Mapped[dt.date] = mapped_column(Date)
    due_on: Mapped[dt.date] = mapped_column(Date)  # the last day for the decision
    status: Mapped[str] = mapped_column(String(10), default="open", index=True)
    decided_on: Mapped[dt.date | None] = mapped_column(Date)
    decided_by: Mapped[str | None] = mapped_column(String(80))
    decision: Mapped[str | None] = mapped_column(Text)


APPLICATION_STATUSES = ("pending", "granted", "refused", "lapsed")


class CreditRepairApplication(Base):
    """A credit repair application (信用修复申请): proof of correction and a public commitment, reviewed by a credit
    officer by `due_on`; granted, publication of the record ends on the decision day."""

    __tablename__ = "credit_repair_applications"

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("credit_records.id", ondelete="CASCADE"), index=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("credit_entities.id", ondelete="CASCADE"), index=True)
    applicant: Mapped[str] = mapped_column(String(120))
    proof: Mapped[str] = mapped_column(Text)
    commitment: Mapped[str] = mapped_column(Text)
    filed_on: Mapped[dt.date] = mapped_column(Date)
    due_on: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default="pending", index=True)
    decided_on: Mapped[dt.date | None] = mapped_column(Date)
    decided_by: Mapped[str | None] = mapped_column(String(80))
    decision: Mapped[str | None] = mapped_column(Text)


class CreditComplaintLink(Base):
    """A platform request linked by staff to the entity it names; only a substantiated one becomes a record."""

    __tablename__ = "credit_complaint_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("credit_entities.id", ondelete="CASCADE"), index=True)
    request_id: Mapped[int] = mapped_column(Integer, unique=True)
    linked_by: Mapped[str] = mapped_column(String(80))
    linked_on: Mapped[dt.date] = mapped_column(Date)
    substantiated: Mapped[bool | None] = mapped_column(Boolean)
    decided_on: Mapped[dt.date | None] = mapped_column(Date)
    record_id: Mapped[int | None] = mapped_column(ForeignKey("credit_records.id", ondelete="SET NULL"))


class CreditInspector(Base):
    """An inspector on a department's roster for random inspections (a law-enforcement officer)."""

    __tablename__ = "credit_inspectors"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    username: Mapped[str | None] = mapped_column(String(80), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class CreditConflict(Base):
    """A declared conflict of interest: the inspector is recused from every task of this entity."""

    __tablename__ = "credit_conflicts"

    id: Mapped[int] = mapped_column(primary_key=True)
    inspector_id: Mapped[int] = mapped_column(
        ForeignKey("credit_inspectors.id", ondelete="CASCADE"), index=True
    )
    entity_id: Mapped[int] = mapped_column(ForeignKey("credit_entities.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    declared_on: Mapped[dt.date] = mapped_column(Date)


class CreditPlan(Base):
    """A random-inspection plan (双随机、一公开) of a department: the pool's filter, ratios and the published seed."""

    __tablename__ = "credit_plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    year: Mapped[int] = mapped_column(Integer)
    industry: Mapped[str | None] = mapped_column(String(20))
    area_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    ratios: Mapped[dict[str, float]] = mapped_column(JSON)
    seed: Mapped[int] = mapped_column(Integer)
    pool_size: Mapped[int] = mapped_column(Integer)
    # The pool as drawn (code -> grade, sorted): anyone can reproduce the selection from it and the seed.
    pool: Mapped[dict[str, str]] = mapped_column(JSON)
    roster: Mapped[list[str]] = mapped_column(JSON)
    recusals: Mapped[dict[str, list[str]]] = mapped_column(JSON)
    drawn_on: Mapped[dt.date] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(80))


class CreditTask(Base):
    """One drawn entity of a plan, its inspectors, and the result they entered (which becomes a record)."""

    __tablename__ = "credit_tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("credit_plans.id", ondelete="CASCADE"), index=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("credit_entities.id", ondelete="CASCADE"), index=True)
    grade: Mapped[str] = mapped_column(String(1))
    inspectors: Mapped[list[str]] = mapped_column(JSON)
    passed: Mapped[bool | None] = mapped_column(Boolean)
    findings: Mapped[str | None] = mapped_column(Text)
    inspected_on: Mapped[dt.date | None] = mapped_column(Date)
    entered_by: Mapped[str | None] = mapped_column(String(80))
    record_id: Mapped[int | None] = mapped_column(ForeignKey("credit_records.id", ondelete="SET NULL"))
