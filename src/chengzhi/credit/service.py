"""What other domains and the credit API call: the registry, records, grades, repair, public views and lookups."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from chengzhi.credit import codes, listing, lists, regrade, repair, scoring
from chengzhi.credit.models import (
    ENTITY_KINDS,
    ENTITY_STATUSES,
    RECORD_KINDS,
    SEVERITIES,
    CreditAllowedCode,
    CreditEntity,
    CreditEntityName,
    CreditGrade,
    CreditRecord,
)
from chengzhi.db import MAX_ID
from chengzhi.errors import Conflict, Invalid, NotFound
from chengzhi.i18n import N_, Language, translate
from chengzhi.org import queries as org_queries
from chengzhi.requests import access
from chengzhi.requests import queries as requests_queries

MODELS = scoring.models_from(scoring.DEFAULT_MODEL, scoring.INDUSTRY_MODELS)
MODEL = MODELS.general


# ---------------------------------------------------------------- codes


def code_problem(session: Session, code: str) -> tuple[str, dict[str, object]] | None:
    """None if the code is valid or explicitly allow-listed; else the problem (key, parameters)."""
    found = codes.problem(code)
    if found is None:
        return None
    if session.get(CreditAllowedCode, codes.compact(code)) is not None:
        return None
    return found


def checked_code(session: Session, code: str) -> str:
    found = code_problem(session, code)
    if found is not None:
        raise Invalid(f"credit_code_{found[0]}", **found[1])
    return codes.compact(code)


def allow_code(session: Session, code: str, reason: str, added_by: str) -> CreditAllowedCode:
    """Admit a real pilot-era code that fails the check; recorded with who and why (never silent)."""
    row = CreditAllowedCode(uscc=codes.compact(code), reason=reason, added_by=added_by)
    session.merge(row)
    session.flush()
    return row


# ---------------------------------------------------------------- entities


@dataclass(frozen=True)
class EntityData:
    uscc: str
    name: str
    kind: str = "enterprise"
    legal_rep: str | None = None
    address: str | None = None
    area_unit_id: int | None = None
    industry: str | None = None
    status: str = "active"


def _one_of(field: str, value: str | None, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise Invalid("credit_invalid_value", field=field, value=value, allowed=", ".join(allowed))


def entity_by_code(session: Session, code: str) -> CreditEntity | None:
    return session.scalar(select(CreditEntity).where(CreditEntity.uscc == codes.compact(code)))


def get_entity(session: Session, code: str) -> CreditEntity:
    entity = entity_by_code(session, code)
    if entity is None:
        raise NotFound("credit_entity_not_found", ref=code)
    return entity


def save_entity(session: Session, data: EntityData, on: dt.date, *, update: bool = True) -> CreditEntity:
    """Create the entity, or update it (a new name closes the old one in the name history)."""
    uscc = checked_code(session, data.uscc)
    _one_of("kind", data.kind, ENTITY_KINDS)
    _one_of("status", data.status, ENTITY_STATUSES)
    _check_unit(session, data.area_unit_id)
    entity = entity_by_code(session, uscc)
    if entity is None:
        entity = CreditEntity(uscc=uscc, name=data.name, kind=data.kind, status=data.status)
        session.add(entity)
        session.flush()
        session.add(CreditEntityName(entity_id=entity.id, name=data.name, valid_from=on))
    elif not update:
        raise Conflict("credit_entity_exists", code=uscc)
    elif entity.name != data.name:
        current = session.scalar(
            select(CreditEntityName).where(
                CreditEntityName.entity_id == entity.id, CreditEntityName.valid_to.is_(None)
            )
        )
        if current is not None:
            current.valid_to = on
        session.add(CreditEntityName(entity_id=entity.id, name=data.name, valid_from=on))
        entity.name = data.name
    entity.kind, entity.legal_rep, entity.address = data.kind, data.legal_rep, data.address
    entity.area_unit_id, entity.industry, entity.status = data.area_unit_id, data.industry, data.status
    session.flush()
    return entity


def name_history(session: Session, entity: CreditEntity) -> list[CreditEntityName]:
    return list(
        session.scalars(
            select(CreditEntityName)
            .where(CreditEntityName.entity_id == entity.id)
            .order_by(CreditEntityName.id)
        )
    )


# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class RecordData:
    kind: str
    title: str
    legal_basis: str
    decided_on: dt.date
    severity: str | None = None
    outcome: bool | None = None
    source_unit_id: int | None = None
    request_id: int | None = None


def _check_unit(session: Session, unit_id: int | None) -> None:
    if unit_id is not None and (abs(unit_id) > MAX_ID or org_queries.unit_by_id(session, unit_id) is None):
        raise NotFound("unit_not_found", ref=unit_id)


def check_record(session: Session, data: RecordData) -> None:
    _one_of("kind", data.kind, RECORD_KINDS)
    _check_unit(session, data.source_unit_id)
    if data.request_id is not None and abs(data.request_id) > MAX_ID:
        raise NotFound("credit_request_not_found", ref=data.request_id)
    if data.kind == "penalty":
        if data.severity is None:
            raise Invalid("credit_severity_required")
        _one_of("severity", data.severity, SEVERITIES)
    if data.request_id is not None and requests_queries.tracking_number_of(session, data.request_id) is None:
        raise NotFound("credit_request_not_found", ref=data.request_id)


def add_record(
    session: Session, entity: CreditEntity, data: RecordData, on: dt.date, *, regrade: bool = True
) -> CreditRecord:
    """Add a record (penalties get their publication window by the rules of their date) and regrade the entity."""
    check_record(session, data)
    record = CreditRecord(
        entity_id=entity.id,
        kind=data.kind,
        severity=data.severity if data.kind == "penalty" else None,
        outcome=data.outcome,
        title=data.title,
        legal_basis=data.legal_basis,
        source_unit_id=data.source_unit_id,
        request_id=data.request_id,
        decided_on=data.decided_on,
    )
    if data.kind == "penalty" and data.severity is not None:
        window = repair.window(data.decided_on, data.severity)
        record.rule_set, record.publish_until = window.rule_set, window.publish_until
    session.add(record)
    session.flush()
    if regrade:
        regrade_entity(session, entity, on)
        listing.sync(session, entity, on)
    return record


def records_of(session: Session, entity: CreditEntity) -> list[CreditRecord]:
    return list(
        session.scalars(
            select(CreditRecord)
            .where(CreditRecord.entity_id == entity.id)
            .order_by(CreditRecord.decided_on, CreditRecord.id)
        )
    )


def records_from(session: Session, source_unit_id: int | None, limit: int = 100) -> list[CreditRecord]:
    """The latest records a unit added (None: any unit's): a department's records within its scope."""
    query = select(CreditRecord)
    if source_unit_id is not None:
        query = query.where(CreditRecord.source_unit_id == source_unit_id)
    return list(session.scalars(query.order_by(CreditRecord.id.desc()).limit(limit)))


def is_published(record: CreditRecord, on: dt.date) -> bool:
    if record.withdrawn_on is not None and record.withdrawn_on <= on:
        return False
    return repair.published(record.decided_on, record.publish_until, record.repaired_on, on)


def get_record(session: Session, record_id: int) -> CreditRecord:
    record = session.get(CreditRecord, record_id) if abs(record_id) <= MAX_ID else None
    if record is None:
        raise NotFound("credit_record_not_found", ref=record_id)
    return record


def apply_repair(session: Session, record_id: int, on: dt.date, note: str) -> CreditRecord:
    """End a penalty's publication early after a granted repair application (proof and commitment in `note`)."""
    record = get_record(session, record_id)
    if record.kind != "penalty" or record.severity is None or record.repaired_on is not None:
        raise Invalid("credit_not_repairable", on=on.isoformat(), start="-", end="-")
    if not repair.can_repair(record.decided_on, record.severity, on):
        window = repair.window(record.decided_on, record.severity)
        raise Invalid(
            "credit_not_repairable",
            on=on.isoformat(),
            start=window.repair_from.isoformat(),
            end=window.publish_until.isoformat(),
        )
    record.repaired_on, record.repair_note = on, note
    session.flush()
    entity = session.get(CreditEntity, record.entity_id)
    assert entity is not None
    regrade_entity(session, entity, on)
    listing.sync(session, entity, on)
    return record


# ---------------------------------------------------------------- grades


def _fact(record: Any, on: dt.date) -> scoring.Fact:
    """A record (a row or anything with its columns) as the model sees it on `on`."""
    counts = True
    withdrawn = getattr(record, "withdrawn_on", None)
    if withdrawn is not None and withdrawn <= on:
        counts = False
    elif record.kind == "penalty":  # ended or repaired penalties no longer weigh
        counts = repair.published(record.decided_on, record.publish_until, record.repaired_on, on)
    elif record.kind == "complaint":
        counts = record.outcome is not False  # only substantiated complaints count
    return scoring.Fact(record.id, record.kind, record.severity, record.outcome, record.decided_on, counts)


def regrade_entity(
    session: Session, entity: CreditEntity, on: dt.date, model: scoring.Model | None = None
) -> scoring.Score:
    """Recompute the entity's score (by its industry's model, or the general one); when the score or grade
    changed, a new grade-history row and `graded_at`."""
    model = model or MODELS.for_industry(entity.industry)
    result = scoring.evaluate(model, [_fact(r, on) for r in records_of(session, entity)], on)
    if entity.score != result.score or entity.grade != result.grade:
        session.add(
            CreditGrade(
                entity_id=entity.id,
                score=result.score,
                grade=result.grade,
                model=model.name,
                explanation=result.explanation,
                computed_on=on,
            )
        )
        entity.score, entity.grade, entity.graded_at = result.score, result.grade, dt.datetime.now(dt.UTC)
    session.flush()
    return result


def regrade_all(session: Session, on: dt.date, batch: int = 100_000) -> dict[str, Any]:
    """Nightly: every entity again (decay moves scores, publications end), set-based in SQL (regrade.py); a
    history row for each grade that changed. Black-list rules depend on records only (synchronised when a record
    changes, ended by `listing.expire`); the red list depends on grade A, so the entities whose grade moved to or
    from A are synchronised here."""
    result = regrade.regrade_all(session, on, batch, MODEL, skip=tuple(MODELS.industries))
    for industry, model in MODELS.industries.items():  # each industry's own model over its entities
        own = regrade.regrade_all(session, on, batch, model, only=industry)
        for key in ("entities", "scores_changed", "grades_changed"):
            result[key] += own[key]
        result["to_or_from_a"].update(own["to_or_from_a"])
    result["lists_synced"] = listing.sync_many(session, result.pop("to_or_from_a"), on)
    return result


def refresh(session: Session, entity: CreditEntity, on: dt.date) -> None:
    """After records changed: regrade the entity and synchronise its list entries."""
    regrade_entity(session, entity, on)
    listing.sync(session, entity, on)


def grade_history(session: Session, entity: CreditEntity) -> list[CreditGrade]:
    return list(
        session.scalars(
            select(CreditGrade).where(CreditGrade.entity_id == entity.id).order_by(CreditGrade.id)
        )
    )


def explanation(session: Session, entity: CreditEntity, on: dt.date) -> list[dict[str, Any]]:
    """The records that move the entity's score on `on`, and by how much (computed now, never stale)."""
    model = MODELS.for_industry(entity.industry)
    return scoring.evaluate(model, [_fact(r, on) for r in records_of(session, entity)], on).explanation


# ---------------------------------------------------------------- public information and lookups

PUBLIC_KINDS = ("licence", "penalty", "honour", "dishonesty")


def search(session: Session, query: str, limit: int = 20) -> list[CreditEntity]:
    """By exact code or by part of a current or former name."""
    text = query.strip()
    if not text:
        return []
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    former = select(CreditEntityName.entity_id).where(CreditEntityName.name.like(pattern, escape="\\"))
    chosen = (
        select(CreditEntity)
        .where(
            or_(
                CreditEntity.uscc == codes.compact(text),
                CreditEntity.name.like(pattern, escape="\\"),
                CreditEntity.id.in_(former),
            )
        )
        .order_by(func.length(CreditEntity.name), CreditEntity.id)
        .limit(limit)
    )
    return list(session.scalars(chosen))


def public_view(session: Session, entity: CreditEntity, on: dt.date, lang: Language = "zh") -> dict[str, Any]:
    """Public information only: no score explanation, a masked legal representative, published records only."""
    every = records_of(session, entity)
    records = [r for r in every if r.kind in PUBLIC_KINDS and is_published(r, on)]
    # Inspection results are published (一公开): the latest 20, withdrawn ones left out.
    inspections = [r for r in reversed(every) if r.kind == "inspection" and is_published(r, on)][:20]
    return {
        "uscc": entity.uscc,
        "name": entity.name,
        "former_names": [n.name for n in name_history(session, entity) if n.valid_to is not None],
        "kind": entity.kind,
        "status": entity.status,
        "legal_rep": access.mask_name(entity.legal_rep),  # the platform's one masking of names
        "industry": entity.industry,
        "grade": entity.grade,
        "records": [record_json(r) for r in records],
        "lists": lists_json(session, entity, on, lang),
        "inspections": [record_json(r) for r in inspections],
    }


def record_json(record: CreditRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "kind": record.kind,
        "severity": record.severity,
        "outcome": record.outcome,
        "title": record.title,
        "legal_basis": record.legal_basis,
        "source_unit_id": record.source_unit_id,
        "decided_on": record.decided_on.isoformat(),
        "rule_set": record.rule_set,
        "publish_until": record.publish_until.isoformat() if record.publish_until else None,
        "repaired_on": record.repaired_on.isoformat() if record.repaired_on else None,
    }


def lists_json(session: Session, entity: CreditEntity, on: dt.date, lang: Language) -> list[dict[str, Any]]:
    """The entity's published list entries with their rule and period."""
    return [
        {
            "list": e.list_kind,
            "rule": e.rule,
            "why": translate(lang, lists.LIST_RULES[e.rule].name),
            "record_id": e.record_id,
            "listed_on": e.listed_on.isoformat(),
            "publish_until": e.publish_until.isoformat() if e.publish_until else None,
        }
        for e in listing.open_entries(session, entity.id)
        if listing.published(e, on)
    ]


def lookup(session: Session, code: str, purpose: str, on: dt.date, lang: Language = "zh") -> dict[str, Any]:
    """For departments before granting a licence or a subsidy: the joint measures that apply, who applies each,
    and why (the list entry and its record, or the grade)."""
    entity = get_entity(session, code)
    entries = lists_json(session, entity, on, lang)
    because: dict[str, dict[str, Any]] = {f"{e['list']}:{e['rule']}": e for e in entries}
    if entity.grade:
        because[f"grade:{entity.grade}"] = {"grade": entity.grade}
    applied = []
    for m in lists.measures_for(set(because), purpose):
        reason = because[m.situation]
        why = reason["why"] if "why" in reason else translate(lang, N_("credit grade %(grade)s")) % reason
        applied.append(
            {
                "measure": m.measure,
                "department": m.department,
                "department_name": translate(lang, lists.DEPARTMENTS[m.department]),
                "what": translate(lang, m.what),
                "reason": why,
                "situation": m.situation,
                "record_id": reason.get("record_id"),
                "until": reason.get("publish_until"),
            }
        )
    return {
        "uscc": entity.uscc,
        "name": entity.name,
        "grade": entity.grade,
        "purpose": purpose,
        "lists": entries,
        "measures": applied,
    }


# ---------------------------------------------------------------- random inspections


def inspection_pool(
    session: Session, industry: str | None = None, area_unit_id: int | None = None
) -> dict[str, str | None]:
    """Active entities (optionally of one industry and area unit): code -> current grade."""
    chosen = select(CreditEntity.uscc, CreditEntity.grade).where(CreditEntity.status == "active")
    if industry:
        chosen = chosen.where(CreditEntity.industry == industry)
    if area_unit_id is not None:
        chosen = chosen.where(CreditEntity.area_unit_id == area_unit_id)
    return {uscc: grade for uscc, grade in session.execute(chosen)}
