"""Objections (异议), credit repair applications (信用修复申请), complaints linked from the platform's requests, and
the nightly job (regrade, end of publications at their maximum, lapsed applications).

Deadlines are in calendar days from filing (settings `credit_objection_days`, `credit_repair_days`): `due_on` is
the last day for the decision, and an undecided case is overdue from the day after.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.credit import listing, repair, service
from chengzhi.credit.models import (
    CreditComplaintLink,
    CreditEntity,
    CreditObjection,
    CreditRecord,
    CreditRepairApplication,
)
from chengzhi.db import MAX_ID
from chengzhi.errors import Conflict, Invalid, NotFound
from chengzhi.jobs import service as jobs
from chengzhi.requests import queries as requests_queries


def _entity(session: Session, record: CreditRecord) -> CreditEntity:
    entity = session.get(CreditEntity, record.entity_id)
    assert entity is not None
    return entity


def _refresh(session: Session, record: CreditRecord, on: dt.date) -> None:
    entity = _entity(session, record)
    service.regrade_entity(session, entity, on)
    listing.sync(session, entity, on)


def overdue(due_on: dt.date, decided_on: dt.date | None, on: dt.date) -> bool:
    """Undecided after its last day (the day of the deadline is still in time)."""
    return decided_on is None and on > due_on


# ---------------------------------------------------------------- cases: objections and repair applications

Case = TypeVar("Case", CreditObjection, CreditRepairApplication)


def _open_case(
    session: Session, case: Case, record: CreditRecord, on: dt.date, days: int, conflict: str
) -> Case:
    """File `case` for `record` (one waiting per record), due `days` calendar days after `on`."""
    model = type(case)
    waiting = session.scalar(
        select(model.id).where(model.record_id == record.id, model.status == case.status)
    )
    if waiting is not None:
        raise Conflict(conflict, ref=record.id)
    case.record_id, case.entity_id = record.id, record.entity_id
    case.filed_on, case.due_on = on, on + dt.timedelta(days=days)
    session.add(case)
    session.flush()
    return case


def _get_case(session: Session, model: type[Case], case_id: int, missing: str) -> Case:
    found = session.get(model, case_id) if abs(case_id) <= MAX_ID else None
    if found is None:
        raise NotFound(missing, ref=case_id)
    return found


def _decide(case: Case, status: str, by: str, decision: str, on: dt.date) -> None:
    if case.decided_on is not None:
        raise Conflict("credit_already_decided", on=case.decided_on.isoformat())
    case.status, case.decided_on, case.decided_by, case.decision = status, on, by, decision


def file_objection(
    session: Session, record_id: int, filed_by: str, reason: str, on: dt.date, days: int
) -> CreditObjection:
    record = service.get_record(session, record_id)
    if record.withdrawn_on is not None:
        raise Invalid("credit_record_withdrawn", ref=record_id, on=record.withdrawn_on.isoformat())
    objection = CreditObjection(filed_by=filed_by, reason=reason, status="open")
    return _open_case(session, objection, record, on, days, "credit_objection_open")


def decide_objection(
    session: Session, objection_id: int, upheld: bool, by: str, decision: str, on: dt.date
) -> CreditObjection:
    """Upheld: the record is withdrawn from that day (no longer published nor scored; list entries end)."""
    objection = _get_case(session, CreditObjection, objection_id, "credit_objection_not_found")
    _decide(objection, "upheld" if upheld else "rejected", by, decision, on)
    if upheld:
        record = service.get_record(session, objection.record_id)
        record.withdrawn_on = on
        session.flush()
        _refresh(session, record, on)
    session.flush()
    return objection


def open_objections(session: Session, record_ids: list[int] | None = None) -> list[CreditObjection]:
    query = select(CreditObjection).where(CreditObjection.status == "open")
    if record_ids is not None:
        query = query.where(CreditObjection.record_id.in_(record_ids))
    return list(session.scalars(query.order_by(CreditObjection.due_on, CreditObjection.id)))


def apply_for_repair(
    session: Session,
    record_id: int,
    applicant: str,
    proof: str,
    commitment: str,
    on: dt.date,
    days: int,
) -> CreditRepairApplication:
    """An application is accepted from the record's minimum period on, while it is still published."""
    record = service.get_record(session, record_id)
    if record.kind != "penalty" or record.severity is None or not service.is_published(record, on):
        raise Invalid("credit_not_repairable", on=on.isoformat(), start="-", end="-")
    if not repair.can_repair(record.decided_on, record.severity, on):
        window = repair.window(record.decided_on, record.severity)
        start, end = window.repair_from.isoformat(), window.publish_until.isoformat()
        raise Invalid("credit_not_repairable", on=on.isoformat(), start=start, end=end)
    application = CreditRepairApplication(
        applicant=applicant, proof=proof, commitment=commitment, status="pending"
    )
    return _open_case(session, application, record, on, days, "credit_application_pending")


def decide_repair(
    session: Session, application_id: int, grant: bool, by: str, decision: str, on: dt.date
) -> CreditRepairApplication:
    """Granted: publication ends on the decision day. If it already ended at its maximum, the application lapses."""
    application = _get_case(session, CreditRepairApplication, application_id, "credit_application_not_found")
    record = service.get_record(session, application.record_id)
    if not service.is_published(record, on):
        _decide(application, "lapsed", by, decision, on)
    elif grant:
        _decide(application, "granted", by, decision, on)
        note = f"{application.proof}\n{application.commitment}\n{decision}".strip()
        service.apply_repair(session, record.id, on, note)
    else:
        _decide(application, "refused", by, decision, on)
    session.flush()
    return application


def pending_applications(session: Session) -> list[CreditRepairApplication]:
    query = select(CreditRepairApplication).where(CreditRepairApplication.status == "pending")
    return list(session.scalars(query.order_by(CreditRepairApplication.due_on, CreditRepairApplication.id)))


def lapse_applications(session: Session, on: dt.date) -> int:
    """Pending applications whose record is no longer published (its maximum reached) lapse."""
    lapsed = 0
    for application in pending_applications(session):
        record = service.get_record(session, application.record_id)
        if not service.is_published(record, on):
            application.status, application.decided_on = "lapsed", on
            application.decision = "publication ended"
            lapsed += 1
    session.flush()
    return lapsed


# ---------------------------------------------------------------- complaints from the platform's requests


def link_complaint(
    session: Session, entity: CreditEntity, request_id: int, by: str, on: dt.date
) -> CreditComplaintLink:
    """Staff link a request that names the entity; it counts only once found substantiated."""
    if abs(request_id) > MAX_ID or requests_queries.tracking_number_of(session, request_id) is None:
        raise NotFound("credit_request_not_found", ref=request_id)
    if session.scalar(select(CreditComplaintLink.id).where(CreditComplaintLink.request_id == request_id)):
        raise Conflict("credit_request_linked", ref=request_id)
    link = CreditComplaintLink(entity_id=entity.id, request_id=request_id, linked_by=by, linked_on=on)
    session.add(link)
    session.flush()
    return link


def decide_complaint(
    session: Session, link_id: int, substantiated: bool, by: str, legal_basis: str, on: dt.date
) -> CreditComplaintLink:
    """Substantiated: a `complaint` record (which the model counts); not substantiated: no record at all."""
    link = session.get(CreditComplaintLink, link_id) if abs(link_id) <= MAX_ID else None
    if link is None:
        raise NotFound("credit_link_not_found", ref=link_id)
    if link.decided_on is not None:
        raise Conflict("credit_already_decided", on=link.decided_on.isoformat())
    link.substantiated, link.decided_on = substantiated, on
    if substantiated:
        entity = session.get(CreditEntity, link.entity_id)
        assert entity is not None
        tracking = requests_queries.tracking_number_of(session, link.request_id) or str(link.request_id)
        data = service.RecordData(
            "complaint",
            f"{tracking}",
            legal_basis,
            on,
            outcome=True,
            request_id=link.request_id,
        )
        link.record_id = service.add_record(session, entity, data, on).id
    session.flush()
    return link


def complaints_of(session: Session, entity: CreditEntity) -> list[CreditComplaintLink]:
    query = select(CreditComplaintLink).where(CreditComplaintLink.entity_id == entity.id)
    return list(session.scalars(query.order_by(CreditComplaintLink.id)))


# ---------------------------------------------------------------- the nightly job


def run_nightly(session: Session, on: dt.date) -> dict[str, Any]:
    """Regrade every entity, end list entries at their maximum, lapse applications of ended publications."""
    expired = listing.expire(session, on)
    result = service.regrade_all(session, on)
    lapsed = lapse_applications(session, on)
    return {
        "on": on.isoformat(),
        "entities": result["entities"],
        "grades_changed": result["grades_changed"],
        "list_entries_expired": expired,
        "applications_lapsed": lapsed,
    }


def nightly_job(session: Session, settings: Settings, now: dt.datetime) -> dict[str, Any]:
    """For the job runner (registered in chengzhi/reactions.py): once a day from `credit_nightly_hour`, local."""
    local = now.astimezone(ZoneInfo(settings.timezone))
    last = jobs.last_result(session, "credit_nightly") or {}
    today = local.date().isoformat()
    if local.hour < settings.credit_nightly_hour or last.get("on") == today:
        return {"on": last.get("on"), "skipped": True}
    return run_nightly(session, local.date())
