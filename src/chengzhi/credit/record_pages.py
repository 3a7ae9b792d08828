"""An entity's full credit record for credit officers, and the public page of the publication rules.

- `/credit/staff/entities/{uscc}` (credit officers and administrators): the unmasked facts, the score and what
  moves it today, the grade history with the explanation stored at each change, and every record with its rule
  set, repair opening and end of publication;
- `/credit/rules`: the rule sets of publication periods with the date each took effect and its source.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from chengzhi.credit import access, repair, service
from chengzhi.credit.models import CreditRecord
from chengzhi.deps import SessionDep, SettingsDep
from chengzhi.i18n import N_, NC_, Text
from chengzhi.web.i18n import gettext
from chengzhi.web.templating import Chrome, chrome, page_actor, render

router = APIRouter(include_in_schema=False)

KIND_NAMES: dict[str, Text] = {
    "licence": N_("Licence"),
    "inspection": N_("Inspection"),
    "penalty": N_("Administrative penalty"),
    "honour": N_("Honour"),
    "commitment": N_("Credit commitment"),
    "dishonesty": N_("Court list of dishonest debtors"),
    "complaint": N_("Substantiated complaint"),
}
SEVERITY_NAMES: dict[str, Text] = {
    "minor": NC_("credit severity", "minor"),
    "general": NC_("credit severity", "general"),
    "serious": NC_("credit severity", "serious"),
}
DIMENSION_NAMES: dict[str, Text] = {
    "compliance": N_("Compliance"),
    "penalties": N_("Penalties"),
    "honours": N_("Honours"),
    "commitments": N_("Commitments"),
    "judicial": N_("Judicial"),
    "complaints": N_("Complaints"),
}


@dataclass
class Message:
    message: str


def guard(request: Request, frame: Chrome, allowed: bool, anonymous: bool) -> Response | None:
    """The credit staff pages' guard: anonymous callers sign in first; others without the role are refused."""
    if anonymous:
        return RedirectResponse(f"/login?next={quote(request.url.path, safe='/')}", status_code=303)
    if not allowed:
        text = gettext(frame.lang, N_("These pages are for credit officers and department staff."))
        return render(request, "forbidden.html", Message(text), frame, status_code=403)
    return None


def names(lang: str, table: dict[str, Text]) -> dict[str, str]:
    return {key: gettext(lang, text) for key, text in table.items()}


@dataclass
class RecordPage:
    entity: dict[str, Any]
    explanation: list[dict[str, Any]]
    history: list[dict[str, Any]]
    records: list[dict[str, Any]]
    kinds: dict[str, str]
    severities: dict[str, str]
    dimensions: dict[str, str]


@dataclass
class RulesPage:
    rule_sets: list[dict[str, Any]]
    severities: dict[str, str]


def _state(record: CreditRecord, on: dt.date) -> Text:
    if record.withdrawn_on is not None and record.withdrawn_on <= on:
        return N_("withdrawn (objection upheld)")
    if record.repaired_on is not None and record.repaired_on <= on:
        return N_("repaired")
    if record.kind == "penalty" and not service.is_published(record, on):
        return N_("publication ended")
    return N_("in force")


def _moves(explanation: list[dict[str, Any]], titles: dict[int, str]) -> list[dict[str, Any]]:
    """An explanation (stored or computed) with each record's title, the largest moves first."""
    rows = [{**item, "title": titles.get(item["record_id"], "-")} for item in explanation]
    return sorted(rows, key=lambda m: -abs(m["delta"]))


def _record_row(record: CreditRecord, on: dt.date, lang: str) -> dict[str, Any]:
    row = {**service.record_json(record), "state": gettext(lang, _state(record, on)), "repair_from": None}
    if record.kind == "penalty" and record.severity is not None:
        row["repair_from"] = repair.window(record.decided_on, record.severity).repair_from.isoformat()
    return row


def _frame(request: Request, session: SessionDep) -> tuple[Chrome, bool, bool]:
    actor = page_actor(request, session)
    return chrome(request, actor), access.is_officer(actor), actor.is_anonymous


@router.get("/credit/staff/entities")
def find_entity_record(request: Request) -> Response:
    """The staff page's form: an entity's record by its code."""
    code = "".join(ch for ch in (request.query_params.get("uscc") or "").upper() if ch.isalnum())[:40]
    return RedirectResponse(f"/credit/staff/entities/{code}" if code else "/credit/staff", status_code=303)


@router.get("/credit/staff/entities/{uscc}")
def entity_record(uscc: str, request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    frame, officer, anonymous = _frame(request, session)
    refused = guard(request, frame, officer, anonymous)
    if refused is not None:
        return refused
    on = access.today(settings)
    entity = service.get_entity(session, uscc[:40])
    records = service.records_of(session, entity)
    titles = {r.id: r.title for r in records}
    history = [
        {"computed_on": g.computed_on, "score": g.score, "grade": g.grade, "model": g.model,
         "moves": _moves(g.explanation, titles)}
        for g in reversed(service.grade_history(session, entity))
    ]  # fmt: skip
    page = RecordPage(
        entity={"uscc": entity.uscc, "name": entity.name, "legal_rep": entity.legal_rep,
                "address": entity.address, "industry": entity.industry, "status": entity.status,
                "score": entity.score, "grade": entity.grade,
                "former_names": [n.name for n in service.name_history(session, entity) if n.valid_to]},
        explanation=_moves(service.explanation(session, entity, on), titles),
        history=history,
        records=[_record_row(r, on, frame.lang) for r in reversed(records)],
        kinds=names(frame.lang, KIND_NAMES),
        severities=names(frame.lang, SEVERITY_NAMES),
        dimensions=names(frame.lang, DIMENSION_NAMES),
    )  # fmt: skip
    return render(request, "credit/record.html", page, frame)


@router.get("/credit/rules")
def rules_page(request: Request, session: SessionDep) -> Response:
    frame, _, _ = _frame(request, session)
    rule_sets = [
        {
            "code": r.code,
            "effective": r.effective,
            "source": gettext(frame.lang, r.source),
            "periods": r.periods,
        }
        for r in reversed(repair.RULE_SETS)
    ]
    return render(
        request, "credit/rules.html", RulesPage(rule_sets, names(frame.lang, SEVERITY_NAMES)), frame
    )
