"""REST API of credit supervision under /api/v1/credit: the public query, an entity's full record for credit
officers, records added by departments within their scope, repair, and the lookup other departments call."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from chengzhi.credit import access, api_cases, service
from chengzhi.deps import LanguageDep, SessionDep, SettingsDep, UserDep
from chengzhi.org.models import Role
from chengzhi.org.service import require_role

router = APIRouter(prefix="/api/v1/credit", tags=["credit"])

DEPARTMENT_ROLES = access.DEPARTMENT_ROLES
today = access.today


class EntityIn(BaseModel):
    uscc: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["enterprise", "individual", "social_org", "institution"] = "enterprise"
    legal_rep: str | None = Field(default=None, max_length=120)
    address: str | None = Field(default=None, max_length=300)
    area_unit_id: int | None = None
    industry: str | None = Field(default=None, max_length=20)
    status: Literal["active", "suspended", "revoked", "cancelled"] = "active"


class RecordIn(BaseModel):
    kind: Literal["licence", "inspection", "penalty", "honour", "commitment", "dishonesty", "complaint"]
    title: str = Field(min_length=1, max_length=300)
    legal_basis: str = Field(min_length=1, max_length=2000)
    decided_on: dt.date
    severity: Literal["minor", "general", "serious"] | None = None
    outcome: bool | None = None
    source_unit_id: int | None = None
    request_id: int | None = None


class RepairIn(BaseModel):
    note: str = Field(
        min_length=1, max_length=4000, description="Proof of correction and the public commitment"
    )


@router.get("/entities", summary="Public credit query by name or code")
def search_entities(
    session: SessionDep, q: Annotated[str, Query(min_length=1, max_length=200)]
) -> list[dict[str, Any]]:
    return [
        {"uscc": e.uscc, "name": e.name, "kind": e.kind, "status": e.status, "grade": e.grade}
        for e in service.search(session, q)
    ]


@router.get("/entities/{uscc}", summary="An entity's public credit information")
def public_entity(uscc: str, session: SessionDep, settings: SettingsDep) -> dict[str, Any]:
    return service.public_view(session, service.get_entity(session, uscc), today(settings))


@router.get("/entities/{uscc}/record", summary="An entity's full record, grade, explanation and history")
def entity_record(uscc: str, session: SessionDep, actor: UserDep, settings: SettingsDep) -> dict[str, Any]:
    require_role(actor, Role.credit_officer, Role.admin)
    entity = service.get_entity(session, uscc)
    return {
        "uscc": entity.uscc,
        "name": entity.name,
        "names": [
            {"name": n.name, "from": n.valid_from, "to": n.valid_to}
            for n in service.name_history(session, entity)
        ],
        "kind": entity.kind,
        "legal_rep": entity.legal_rep,
        "address": entity.address,
        "area_unit_id": entity.area_unit_id,
        "industry": entity.industry,
        "status": entity.status,
        "score": entity.score,
        "grade": entity.grade,
        "explanation": service.explanation(session, entity, today(settings)),
        "grades": [
            {"score": g.score, "grade": g.grade, "model": g.model, "computed_on": g.computed_on}
            for g in service.grade_history(session, entity)
        ],
        "records": [service.record_json(r) for r in service.records_of(session, entity)],
    }


@router.post("/entities", status_code=201, summary="Register or update an entity (credit officer)")
def save_entity(body: EntityIn, session: SessionDep, actor: UserDep, settings: SettingsDep) -> dict[str, Any]:
    require_role(actor, Role.credit_officer, Role.admin)
    data = service.EntityData(**body.model_dump())
    entity = service.save_entity(session, data, today(settings))
    session.commit()
    return {"uscc": entity.uscc, "name": entity.name, "grade": entity.grade}


@router.post("/entities/{uscc}/records", status_code=201, summary="Add a credit record (regrades the entity)")
def add_record(
    uscc: str, body: RecordIn, session: SessionDep, actor: UserDep, settings: SettingsDep
) -> dict[str, Any]:
    source = access.record_source(session, actor, body.source_unit_id)
    entity = service.get_entity(session, uscc)
    data = service.RecordData(**{**body.model_dump(), "source_unit_id": source})
    record = service.add_record(session, entity, data, today(settings))
    session.commit()
    return {"record": service.record_json(record), "score": entity.score, "grade": entity.grade}


@router.post("/records/{record_id}/repair", summary="Grant credit repair: publication ends (credit officer)")
def repair_record(
    record_id: int, body: RepairIn, session: SessionDep, actor: UserDep, settings: SettingsDep
) -> dict[str, Any]:
    require_role(actor, Role.credit_officer, Role.admin)
    record = service.apply_repair(session, record_id, today(settings), body.note)
    session.commit()
    return service.record_json(record)


@router.get("/lookup/{uscc}", summary="Measures that apply before a licence or a subsidy, and why")
def lookup(
    uscc: str,
    session: SessionDep,
    actor: UserDep,
    settings: SettingsDep,
    lang: LanguageDep,
    purpose: Annotated[Literal["licence", "subsidy", "procurement", "other"], Query()] = "other",
) -> dict[str, Any]:
    if not actor.is_staff:
        require_role(actor, Role.credit_officer, *DEPARTMENT_ROLES)
    return service.lookup(session, uscc, purpose, today(settings), lang)


router.include_router(
    api_cases.router
)  # lists, objections, repair applications, complaints, plans, dashboards
