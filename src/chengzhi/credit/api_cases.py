"""REST API of credit supervision, continued: the red and black lists, objections, repair applications,
complaints linked from requests, inspection plans and the dashboards (all under /api/v1/credit)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.credit import access, cases, listing, lists, plans, service, stats
from chengzhi.credit.models import CreditComplaintLink, CreditObjection, CreditPlan, CreditRepairApplication
from chengzhi.deps import ActorDep, LanguageDep, SessionDep, SettingsDep, UserDep
from chengzhi.errors import Invalid
from chengzhi.i18n import translate
from chengzhi.org.service import Actor

router = APIRouter(tags=["credit"])  # included by api.py under /api/v1/credit


def _date(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


# ---------------------------------------------------------------- lists


@router.get("/lists/{list_kind}", summary="The red or the black list: entries published today (public)")
def published_list(
    list_kind: Literal["red", "black"], session: SessionDep, settings: SettingsDep, lang: LanguageDep
) -> list[dict[str, Any]]:
    on = access.today(settings)
    return [
        {
            "uscc": uscc,
            "name": name,
            "rule": entry.rule,
            "why": translate(lang, lists.LIST_RULES[entry.rule].name),
            "listed_on": _date(entry.listed_on),
            "publish_until": _date(entry.publish_until),
        }
        for entry, uscc, name in listing.listed_entities(session, list_kind, on)
    ]


@router.get("/measures", summary="The joint measures (联合奖惩) each department applies, by situation")
def joint_measures(lang: LanguageDep) -> list[dict[str, Any]]:
    return [
        {
            "situation": m.situation,
            "department": m.department,
            "department_name": translate(lang, lists.DEPARTMENTS[m.department]),
            "purposes": list(m.purposes),
            "measure": m.measure,
            "what": translate(lang, m.what),
        }
        for m in lists.JOINT_MEASURES
    ]


# ---------------------------------------------------------------- objections


class ObjectionIn(BaseModel):
    filed_by: str = Field(min_length=1, max_length=120, description="Who objects (the entity or its agent)")
    reason: str = Field(min_length=1, max_length=4000)


class DecisionIn(BaseModel):
    accept: bool = Field(description="Objection upheld / repair granted / complaint substantiated")
    decision: str = Field(default="", max_length=4000)


def case_json(case: CreditObjection | CreditRepairApplication, on: dt.date) -> dict[str, Any]:
    """An objection or a repair application, with its deadline and whether it is overdue on `on`."""
    if isinstance(case, CreditObjection):
        own: dict[str, Any] = {"filed_by": case.filed_by, "reason": case.reason}
    else:
        own = {"applicant": case.applicant, "proof": case.proof, "commitment": case.commitment}
    return {
        "id": case.id,
        "record_id": case.record_id,
        **own,
        "filed_on": _date(case.filed_on),
        "due_on": _date(case.due_on),
        "overdue": cases.overdue(case.due_on, case.decided_on, on),
        "status": case.status,
        "decided_on": _date(case.decided_on),
        "decision": case.decision,
    }


def _day(actor: Actor, settings: Settings, *, officer: bool) -> dt.date:
    """Today, for a caller allowed to act: a credit officer, or (officer=False) department staff too."""
    if officer:
        access.require_officer(actor)
    else:
        access.require_department(actor)
    return access.today(settings)


def _decision(
    decide: Callable[[Session, int, bool, str, str, dt.date], CreditObjection | CreditRepairApplication],
    case_id: int,
    body: DecisionIn,
    session: Session,
    actor: Actor,
    settings: Settings,
) -> dict[str, Any]:
    """A credit officer's decision on an objection or a repair application."""
    on = _day(actor, settings, officer=True)
    found = decide(session, case_id, body.accept, actor.username, body.decision, on)
    session.commit()
    return case_json(found, on)


@router.post(
    "/records/{record_id}/objections", status_code=201, summary="File an objection to a record (staff)"
)
def file_objection(
    record_id: int, body: ObjectionIn, session: SessionDep, actor: UserDep, settings: SettingsDep
) -> dict[str, Any]:
    on = _day(actor, settings, officer=False)
    days = settings.credit_objection_days
    found = cases.file_objection(session, record_id, body.filed_by, body.reason, on, days)
    session.commit()
    return case_json(found, on)


@router.get("/objections", summary="Objections under review, the most urgent first (credit officer)")
def list_objections(session: SessionDep, actor: UserDep, settings: SettingsDep) -> list[dict[str, Any]]:
    on = _day(actor, settings, officer=True)
    return [case_json(o, on) for o in cases.open_objections(session)]


@router.post(
    "/objections/{objection_id}/decision", summary="Decide an objection: upheld withdraws the record"
)
def decide_objection(
    objection_id: int, body: DecisionIn, session: SessionDep, actor: UserDep, settings: SettingsDep
) -> dict[str, Any]:
    return _decision(cases.decide_objection, objection_id, body, session, actor, settings)


# ---------------------------------------------------------------- repair applications


class ApplicationIn(BaseModel):
    applicant: str = Field(min_length=1, max_length=120)
    proof: str = Field(min_length=1, max_length=4000, description="Proof that the dishonesty was corrected")
    commitment: str = Field(min_length=1, max_length=4000, description="The public credit commitment")


@router.post(
    "/records/{record_id}/repair-applications", status_code=201, summary="Apply for credit repair (staff)"
)
def apply_for_repair(
    record_id: int, body: ApplicationIn, session: SessionDep, actor: UserDep, settings: SettingsDep
) -> dict[str, Any]:
    on, days = _day(actor, settings, officer=False), settings.credit_repair_days
    found = cases.apply_for_repair(session, record_id, body.applicant, body.proof, body.commitment, on, days)
    session.commit()
    return case_json(found, on)


@router.get("/repair-applications", summary="Repair applications under review (credit officer)")
def list_applications(session: SessionDep, actor: UserDep, settings: SettingsDep) -> list[dict[str, Any]]:
    on = _day(actor, settings, officer=True)
    return [case_json(a, on) for a in cases.pending_applications(session)]


@router.post("/repair-applications/{application_id}/decision", summary="Grant or refuse a repair application")
def decide_repair(
    application_id: int, body: DecisionIn, session: SessionDep, actor: UserDep, settings: SettingsDep
) -> dict[str, Any]:
    return _decision(cases.decide_repair, application_id, body, session, actor, settings)


# ---------------------------------------------------------------- complaints from requests


class LinkIn(BaseModel):
    request_id: int


class ComplaintDecisionIn(BaseModel):
    substantiated: bool
    legal_basis: str = Field(default="", max_length=2000)


def link_json(link: CreditComplaintLink) -> dict[str, Any]:
    return {
        "id": link.id,
        "request_id": link.request_id,
        "linked_on": _date(link.linked_on),
        "substantiated": link.substantiated,
        "record_id": link.record_id,
    }


@router.post(
    "/entities/{uscc}/complaints", status_code=201, summary="Link a platform request to the entity it names"
)
def link_complaint(
    uscc: str, body: LinkIn, session: SessionDep, actor: UserDep, settings: SettingsDep
) -> dict[str, Any]:
    access.require_department(actor)
    entity = service.get_entity(session, uscc)
    link = cases.link_complaint(session, entity, body.request_id, actor.username, access.today(settings))
    session.commit()
    return link_json(link)


@router.post(
    "/complaints/{link_id}/decision", summary="Substantiated or not: only substantiated complaints count"
)
def decide_complaint(
    link_id: int, body: ComplaintDecisionIn, session: SessionDep, actor: UserDep, settings: SettingsDep
) -> dict[str, Any]:
    access.require_officer(actor)
    basis = body.legal_basis or "substantiated complaint"
    link = cases.decide_complaint(
        session, link_id, body.substantiated, actor.username, basis, access.today(settings)
    )
    session.commit()
    return link_json(link)


# ---------------------------------------------------------------- inspection plans


class InspectorIn(BaseModel):
    unit_id: int | None = None
    name: str = Field(min_length=1, max_length=80)
    username: str | None = Field(default=None, max_length=80)


class ConflictIn(BaseModel):
    uscc: str = Field(min_length=1, max_length=40)
    reason: str = Field(min_length=1, max_length=2000)


class PlanIn(BaseModel):
    unit_id: int | None = None
    title: str = Field(min_length=1, max_length=200)
    year: int = Field(ge=2000, le=2100)
    seed: int = Field(ge=0, le=2**31 - 1, description="The published random seed")
    industry: str | None = Field(default=None, max_length=20)
    area_unit_id: int | None = None
    ratios: dict[Literal["A", "B", "C", "D"], float] = Field(default_factory=dict)


class ResultIn(BaseModel):
    passed: bool
    findings: str = Field(min_length=1, max_length=2000)


@router.post("/inspectors", status_code=201, summary="Add an inspector to a department's roster")
def add_inspector(body: InspectorIn, session: SessionDep, actor: UserDep) -> dict[str, Any]:
    unit = _unit(session, actor, body.unit_id)
    inspector = plans.add_inspector(session, unit, body.name, body.username)
    session.commit()
    return {"id": inspector.id, "unit_id": inspector.unit_id, "name": inspector.name}


def _unit(session: SessionDep, actor: Actor, wanted: int | None) -> int:
    """The department acting: the caller's own unit, or the one an officer names."""
    unit = access.department_units(session, actor, wanted)
    if unit is None:
        raise Invalid("credit_invalid_value", field="unit_id", value=None, allowed="a unit id")
    return unit


@router.post(
    "/inspectors/{inspector_id}/conflicts", status_code=201, summary="Declare a conflict of interest"
)
def declare_conflict(
    inspector_id: int, body: ConflictIn, session: SessionDep, actor: UserDep, settings: SettingsDep
) -> dict[str, Any]:
    access.require_department(actor)
    entity = service.get_entity(session, body.uscc)
    conflict = plans.declare_conflict(session, inspector_id, entity, body.reason, access.today(settings))
    session.commit()
    return {"id": conflict.id, "inspector_id": inspector_id, "uscc": entity.uscc}


@router.post("/plans", status_code=201, summary="Draw and publish a random-inspection plan (双随机、一公开)")
def create_plan(body: PlanIn, session: SessionDep, actor: UserDep, settings: SettingsDep) -> dict[str, Any]:
    unit = _unit(session, actor, body.unit_id)
    ratios = {**settings.credit_inspection_ratios, **{str(g): r for g, r in body.ratios.items()}}
    plan = plans.create_plan(
        session, unit, body.title, body.year, body.seed, actor.username, access.today(settings),
        ratios=ratios, industry=body.industry, area_unit_id=body.area_unit_id,
    )  # fmt: skip
    session.commit()
    return plans.notice(session, plan, staff=True)


def _plan_summary(plan: CreditPlan) -> dict[str, Any]:
    return {"id": plan.id, "title": plan.title, "year": plan.year, "unit_id": plan.unit_id,
            "seed": plan.seed, "pool_size": plan.pool_size, "drawn_on": _date(plan.drawn_on)}  # fmt: skip


@router.get("/plans", summary="Published inspection plans (public)")
def list_plans(session: SessionDep) -> list[dict[str, Any]]:
    return [_plan_summary(p) for p in plans.plans(session)]


@router.get("/plans/{plan_id}", summary="A plan's public notice: seed, ratios, roster, tasks and results")
def plan_notice(plan_id: int, session: SessionDep, actor: ActorDep) -> dict[str, Any]:
    return plans.notice(session, plans.get_plan(session, plan_id), staff=access.is_officer(actor))


@router.get("/plans/{plan_id}/pool", summary="The pool a plan was drawn from (code -> grade): reproduce it")
def plan_pool(plan_id: int, session: SessionDep) -> dict[str, str]:
    return plans.get_plan(session, plan_id).pool


@router.post("/tasks/{task_id}/result", summary="Enter an inspection's result (the task's inspectors)")
def enter_result(
    task_id: int, body: ResultIn, session: SessionDep, actor: UserDep, settings: SettingsDep
) -> dict[str, Any]:
    if actor.is_anonymous:
        access.require_department(actor)
    task = plans.enter_result(
        session, task_id, {actor.username}, access.is_officer(actor), body.passed, body.findings,
        access.today(settings),
    )  # fmt: skip
    session.commit()
    return {"id": task.id, "passed": task.passed, "record_id": task.record_id}


# ---------------------------------------------------------------- staff views and dashboards


@router.get(
    "/records", summary="Records added by the caller's units (department staff) or by any unit (officer)"
)
def records_in_scope(
    session: SessionDep,
    actor: UserDep,
    source_unit_id: Annotated[int | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    unit = access.department_units(session, actor, source_unit_id)
    return [service.record_json(r) for r in service.records_from(session, unit, limit)]


@router.get("/dashboard", summary="Grades and inspections by industry or by area (staff)")
def dashboard(
    session: SessionDep,
    actor: UserDep,
    lang: LanguageDep,
    by: Annotated[Literal["industry", "area"], Query()] = "industry",
) -> dict[str, Any]:
    access.require_department(actor)
    return {
        "by": by,
        "grades": stats.grades(session, by, lang),
        "inspections": stats.inspections(session, by, lang),
    }
