"""What other domains and the credit API call: the registry, records, grades, repair, public views and lookups."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.orm import Session

from chengzhi.credit import codes, repair, scoring
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
from chengzhi.i18n import N_, Language, Text, translate
from chengzhi.org import queries as org_queries
from chengzhi.requests import access
from chengzhi.requests import queries as requests_queries

MODEL = scoring.model_from(scoring.DEFAULT_MODEL)


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
    return record


def records_of(session: Session, entity: CreditEntity) -> list[CreditRecord]:
    return list(
        session.scalars(
            select(CreditRecord)
            .where(CreditRecord.entity_id == entity.id)
            .order_by(CreditRecord.decided_on, CreditRecord.id)
        )
    )


def is_published(record: CreditRecord, on: dt.date) -> bool:
    return repair.published(record.decided_on, record.publish_until, record.repaired_on, on)


def apply_repair(session: Session, record_id: int, on: dt.date, note: str) -> CreditRecord:
    """End a penalty's publication early after a granted repair application (proof and commitment in `note`)."""
    record = session.get(CreditRecord, record_id) if abs(record_id) <= MAX_ID else None
    if record is None:
        raise NotFound("credit_record_not_found", ref=record_id)
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
    return record


# ---------------------------------------------------------------- grades


def _fact(record: Any, on: dt.date) -> scoring.Fact:
    """A record (a row or anything with its columns) as the model sees it on `on`."""
    counts = True
    if record.kind == "penalty":  # ended or repaired penalties no longer weigh
        counts = repair.published(record.decided_on, record.publish_until, record.repaired_on, on)
    elif record.kind == "complaint":
        counts = record.outcome is not False  # only substantiated complaints count
    return scoring.Fact(record.id, record.kind, record.severity, record.outcome, record.decided_on, counts)


def regrade_entity(
    session: Session, entity: CreditEntity, on: dt.date, model: scoring.Model = MODEL
) -> scoring.Score:
    """Recompute the entity's score; when the score or grade changed, a new grade-history row and `graded_at`."""
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


def regrade_all(session: Session, on: dt.date, batch: int = 2000, model: scoring.Model = MODEL) -> int:
    """Nightly: every entity again (decay moves scores, publications end), set-based: one query for a batch of
    entities' records, bulk updates of the entities whose score or grade changed, bulk inserts of their history."""
    columns = (
        CreditRecord.entity_id,
        CreditRecord.id,
        CreditRecord.kind,
        CreditRecord.severity,
        CreditRecord.outcome,
        CreditRecord.decided_on,
        CreditRecord.publish_until,
        CreditRecord.repaired_on,
    )
    done, after = 0, 0
    now = dt.datetime.now(dt.UTC)
    while True:
        entities = session.execute(
            select(CreditEntity.id, CreditEntity.score, CreditEntity.grade)
            .where(CreditEntity.id > after)
            .order_by(CreditEntity.id)
            .limit(batch)
        ).all()
        if not entities:
            session.expire_all()  # the bulk updates bypassed the identity map
            return done
        first, last = entities[0].id, entities[-1].id
        facts: dict[int, list[scoring.Fact]] = {}
        for row in session.execute(
            select(*columns)
            .where(CreditRecord.entity_id.between(first, last))
            .order_by(CreditRecord.entity_id)
        ):
            facts.setdefault(row.entity_id, []).append(_fact(row, on))
        updates, history = [], []
        for entity in entities:
            result = scoring.evaluate(model, facts.get(entity.id, []), on)
            if entity.score != result.score or entity.grade != result.grade:
                updates.append(
                    {"id": entity.id, "score": result.score, "grade": result.grade, "graded_at": now}
                )
                history.append(
                    {
                        "entity_id": entity.id,
                        "score": result.score,
                        "grade": result.grade,
                        "model": model.name,
                        "explanation": result.explanation,
                        "computed_on": on,
                        "computed_at": now,
                    }
                )
        if updates:
            session.execute(update(CreditEntity), updates)
            session.execute(insert(CreditGrade), history)
        after, done = last, done + len(entities)


def grade_history(session: Session, entity: CreditEntity) -> list[CreditGrade]:
    return list(
        session.scalars(
            select(CreditGrade).where(CreditGrade.entity_id == entity.id).order_by(CreditGrade.id)
        )
    )


def latest_explanation(session: Session, entity: CreditEntity) -> list[dict[str, Any]]:
    row = session.scalar(
        select(CreditGrade).where(CreditGrade.entity_id == entity.id).order_by(CreditGrade.id.desc()).limit(1)
    )
    return row.explanation if row else []


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


def public_view(session: Session, entity: CreditEntity, on: dt.date) -> dict[str, Any]:
    """Public information only: no score explanation, a masked legal representative, published records only."""
    records = [
        r
        for r in records_of(session, entity)
        if r.kind in PUBLIC_KINDS and (r.kind != "penalty" or is_published(r, on))
    ]
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


# Joint measures (联合奖惩) by situation: data, looked up by purpose ("*": any). Each applies with its reason.
MEASURES: tuple[tuple[str, str, str, Text], ...] = (
    ("dishonesty", "*", "refuse", N_("listed by a court as a dishonest judgment debtor")),
    ("grade:D", "subsidy", "refuse", N_("credit grade D")),
    ("grade:D", "licence", "strict_review", N_("credit grade D")),
    ("serious_penalty", "*", "strict_review", N_("a published penalty for serious dishonesty")),
    ("grade:C", "*", "closer_review", N_("credit grade C")),
    ("grade:A", "licence", "fast_track", N_("credit grade A: accepted with documents to follow")),
)


def lookup(session: Session, code: str, purpose: str, on: dt.date, lang: Language = "zh") -> dict[str, Any]:
    """For departments before granting a licence or a subsidy: the measures that apply and why."""
    entity = get_entity(session, code)
    records = records_of(session, entity)
    situations = {f"grade:{entity.grade}"} if entity.grade else set()
    for r in records:
        if r.kind == "dishonesty" and r.decided_on <= on:
            situations.add("dishonesty")
        if r.kind == "penalty" and r.severity == "serious" and is_published(r, on):
            situations.add("serious_penalty")
    applied = [
        {"measure": measure, "reason": translate(lang, reason)}
        for when, applies_to, measure, reason in MEASURES
        if when in situations and applies_to in ("*", purpose)
    ]
    return {
        "uscc": entity.uscc,
        "name": entity.name,
        "grade": entity.grade,
        "purpose": purpose,
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
