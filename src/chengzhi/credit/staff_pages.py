"""Credit pages for staff (department staff and credit officers) and the public pages of the lists and plans.

- `/credit/staff`: dashboards of grades and random inspections by industry or area (`?by=area`), the records of
  the caller's unit (all units for officers), objections and repair applications under review with their decision
  forms (officers), and the plans;
- `/credit/lists/{red|black}` and `/credit/plans/{id}`: public (一公开).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData
from starlette.responses import Response

from chengzhi.credit import access, cases, listing, lists, plans, service, stats
from chengzhi.credit.record_pages import KIND_NAMES, SEVERITY_NAMES, Message, guard, names
from chengzhi.credit.record_pages import router as record_router
from chengzhi.deps import SessionDep, SettingsDep
from chengzhi.errors import ChengzhiError, Invalid, NotFound
from chengzhi.i18n import N_, message
from chengzhi.org.service import Actor
from chengzhi.web.i18n import gettext
from chengzhi.web.templating import Chrome, chrome, csrf_ok, page_actor, render

router = APIRouter(include_in_schema=False)
router.include_router(record_router)  # /credit/staff/entities/{uscc}, /credit/rules


@dataclass
class StaffPage:
    by: str
    officer: bool
    grades: list[dict[str, Any]]
    inspections: list[dict[str, Any]]
    records: list[dict[str, Any]]
    objections: list[dict[str, Any]] = field(default_factory=list)
    applications: list[dict[str, Any]] = field(default_factory=list)
    plans: list[Any] = field(default_factory=list)
    kinds: dict[str, str] = field(default_factory=dict)
    severities: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    form: dict[str, str] = field(default_factory=dict)


@dataclass
class ListPage:
    list_kind: str
    entries: list[dict[str, Any]]


@dataclass
class PlanPage:
    notice: dict[str, Any]


def _staff(request: Request, session: SessionDep) -> tuple[Actor, Chrome, Response | None]:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    allowed = actor.has_role(*access.OFFICER_ROLES, *access.DEPARTMENT_ROLES)
    return actor, frame, guard(request, frame, allowed, actor.is_anonymous)


@router.get("/credit/staff")
def staff_home(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    actor, frame, refused = _staff(request, session)
    if refused is not None:
        return refused
    return _staff_page(request, session, settings, actor, frame)


def _staff_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: Actor,
    frame: Chrome,
    error: str | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    on = access.today(settings)
    by = "area" if request.query_params.get("by") == "area" else "industry"
    officer = access.is_officer(actor)
    unit = None if officer else actor.units_for(*access.DEPARTMENT_ROLES)[0]
    page = StaffPage(
        by=by,
        officer=officer,
        grades=stats.grades(session, by, frame.lang),
        inspections=stats.inspections(session, by, frame.lang),
        records=[service.record_json(r) for r in service.records_from(session, unit, 50)],
        plans=plans.plans(session, 20),
        kinds=names(frame.lang, KIND_NAMES),
        severities=names(frame.lang, SEVERITY_NAMES),
        error=error,
        form=form or {},
    )
    if officer:
        page.objections = [
            {"o": o, "overdue": cases.overdue(o.due_on, o.decided_on, on)}
            for o in cases.open_objections(session)
        ]
        page.applications = [
            {"a": a, "overdue": cases.overdue(a.due_on, a.decided_on, on)}
            for a in cases.pending_applications(session)
        ]
    return render(request, "credit/staff.html", page, frame, status_code=400 if error else 200)


async def _posted(request: Request, frame: Chrome) -> FormData | Response:
    """The posted form, or the refusal when its token does not match."""
    form = await request.form()
    if csrf_ok(request, form):
        return form
    text = gettext(frame.lang, N_("Form expired."))
    return render(request, "forbidden.html", Message(text), frame, status_code=403)


RECORD_FIELDS = ("uscc", "kind", "severity", "outcome", "title", "legal_basis", "decided_on")


@router.post("/credit/staff/records")
async def staff_add_record(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """Department staff add a record for their own unit (its source); credit officers for any source."""
    actor, frame, refused = _staff(request, session)
    if refused is not None:
        return refused
    form = await _posted(request, frame)
    if isinstance(form, Response):
        return form
    values = {k: str(form.get(k, "")).strip()[:2000] for k in RECORD_FIELDS}
    try:
        decided = _date_field(values["decided_on"])
        if not values["title"] or not values["legal_basis"]:
            raise Invalid("credit_basis_required")
        data = service.RecordData(
            values["kind"], values["title"][:300], values["legal_basis"], decided,
            severity=values["severity"] or None, outcome={"yes": True, "no": False}.get(values["outcome"]),
            source_unit_id=access.record_source(session, actor, None),
        )  # fmt: skip
        service.add_record(session, service.get_entity(session, values["uscc"]), data, access.today(settings))
    except ChengzhiError as error:
        session.rollback()
        text = message(error.code, frame.lang, error.params)
        return _staff_page(request, session, settings, actor, frame, text, values)
    session.commit()
    return RedirectResponse("/credit/staff", status_code=303)


def _date_field(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise Invalid(
            "credit_invalid_value", field="decided_on", value=text[:20], allowed="YYYY-MM-DD"
        ) from None


@router.post("/credit/staff/decide")
async def staff_decide(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """An officer decides an objection or a repair application from the staff page."""
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    refused = guard(request, frame, access.is_officer(actor), actor.is_anonymous)
    if refused is not None:
        return refused
    form = await _posted(request, frame)
    if isinstance(form, Response):
        return form
    what, ref = str(form.get("what", "")), str(form.get("id", ""))
    accept = form.get("accept") == "yes"
    note = str(form.get("decision", ""))[:4000]
    if not ref.isdigit():
        raise NotFound("not_found")
    on = access.today(settings)
    if what == "objection":
        cases.decide_objection(session, int(ref), accept, actor.username, note, on)
    else:
        cases.decide_repair(session, int(ref), accept, actor.username, note, on)
    session.commit()
    return RedirectResponse("/credit/staff", status_code=303)


@router.get("/credit/lists/{list_kind}")
def public_list(list_kind: str, request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    if list_kind not in ("red", "black"):
        raise NotFound("not_found")
    entries = [
        {"uscc": uscc, "name": name, "why": gettext(frame.lang, lists.LIST_RULES[e.rule].name),
         "listed_on": e.listed_on, "publish_until": e.publish_until}
        for e, uscc, name in listing.listed_entities(session, list_kind, access.today(settings))
    ]  # fmt: skip
    return render(request, "credit/list.html", ListPage(list_kind, entries), frame)


@router.get("/credit/plans/{plan_id}")
def plan_page(plan_id: str, request: Request, session: SessionDep) -> Response:
    actor = page_actor(request, session)
    frame = chrome(request, actor)
    if not plan_id.isdigit():
        raise NotFound("credit_plan_not_found", ref=plan_id[:20])
    plan = plans.get_plan(session, int(plan_id))
    notice = plans.notice(session, plan, staff=access.is_officer(actor))
    return render(request, "credit/plan.html", PlanPage(notice), frame)
