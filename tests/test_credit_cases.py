"""Objections, repair applications, complaints from requests and the nightly job, at the day before, of and after
every limit (both databases)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session, sessionmaker

from chengzhi.config import Settings
from chengzhi.credit import cases, listing, service
from chengzhi.errors import Conflict, Invalid, NotFound
from chengzhi.jobs import service as jobs

from .factories import City
from .steps import submit
from .test_credit_rules import generated_codes

CODES = generated_codes(8, seed=77)
ON = dt.date(2026, 6, 1)
DAY = dt.timedelta(days=1)


def entity_with_penalty(
    session: Session, code: str, decided: dt.date, severity: str = "general"
) -> tuple[int, int]:
    entity = service.save_entity(session, service.EntityData(code, f"企业{code[-4:]}"), decided)
    data = service.RecordData("penalty", "违法", "《行政处罚法》", decided, severity=severity)
    record = service.add_record(session, entity, data, decided)
    return entity.id, record.id


def test_objection_deadline_and_an_upheld_objection_withdraws(session: Session, city: City) -> None:
    entity_id, record_id = entity_with_penalty(session, CODES[0], ON, "serious")
    objection = cases.file_objection(session, record_id, "甲公司", "处罚对象错误", ON, days=15)
    assert objection.due_on == dt.date(2026, 6, 16)
    for day, late in (
        (dt.date(2026, 6, 15), False),
        (dt.date(2026, 6, 16), False),
        (dt.date(2026, 6, 17), True),
    ):
        assert cases.overdue(objection.due_on, None, day) is late
    with pytest.raises(Conflict):
        cases.file_objection(session, record_id, "甲公司", "again", ON, days=15)
    entity = service.get_entity(session, CODES[0])
    assert entity.grade == "D" and listing.open_entries(session, entity_id)
    cases.decide_objection(session, objection.id, True, "credit", "核实有误，撤销", dt.date(2026, 6, 10))
    assert entity.grade == "B"  # withdrawn: neither scored nor listed nor published
    (entry,) = listing.entries_of(session, entity_id)
    assert entry.removed_why == "withdrawn" and entry.removed_on == dt.date(2026, 6, 10)
    assert service.public_view(session, entity, dt.date(2026, 6, 10))["records"] == []
    with pytest.raises(Conflict):
        cases.decide_objection(session, objection.id, False, "credit", "", dt.date(2026, 6, 11))
    with pytest.raises(Invalid):
        cases.file_objection(session, record_id, "甲公司", "x", dt.date(2026, 6, 12), days=15)
    with pytest.raises(NotFound):
        cases.decide_objection(session, 10**15, True, "credit", "", dt.date(2026, 6, 12))


def test_a_rejected_objection_changes_nothing(session: Session, city: City) -> None:
    _, record_id = entity_with_penalty(session, CODES[1], ON)
    objection = cases.file_objection(session, record_id, "乙", "不服", ON, days=15)
    cases.decide_objection(session, objection.id, False, "credit", "事实清楚", ON + DAY)
    assert objection.status == "rejected" and service.get_record(session, record_id).withdrawn_on is None


def test_repair_applications_open_at_the_minimum(session: Session, city: City) -> None:
    # 2026 rules, general: repair from 3 months, publication until 12 months.
    _, record_id = entity_with_penalty(session, CODES[2], ON)
    opens, ends = dt.date(2026, 9, 1), dt.date(2027, 6, 1)
    with pytest.raises(Invalid):
        cases.apply_for_repair(session, record_id, "丙", "整改报告", "信用承诺书", opens - DAY, days=15)
    application = cases.apply_for_repair(session, record_id, "丙", "整改报告", "信用承诺书", opens, days=15)
    assert application.due_on == opens + dt.timedelta(days=15)
    with pytest.raises(Conflict):
        cases.apply_for_repair(session, record_id, "丙", "p", "c", opens + DAY, days=15)
    cases.decide_repair(session, application.id, False, "credit", "证明不足", opens + DAY)
    assert application.status == "refused"
    again = cases.apply_for_repair(session, record_id, "丙", "补充证明", "信用承诺书", opens + DAY, days=15)
    cases.decide_repair(session, again.id, True, "credit", "同意修复", opens + 2 * DAY)
    record = service.get_record(session, record_id)
    assert again.status == "granted" and record.repaired_on == opens + 2 * DAY
    assert "信用承诺书" in (record.repair_note or "")
    # The last day of publication still takes an application; the day publication ends does not.
    _, other = entity_with_penalty(session, CODES[3], ON)
    last = cases.apply_for_repair(session, other, "丁", "p", "c", ends - DAY, days=15)
    with pytest.raises(Invalid):
        cases.apply_for_repair(session, other, "丁", "p", "c", ends, days=15)
    # Undecided when the maximum arrives: it lapses (the nightly job), never granted after the end.
    assert cases.lapse_applications(session, ends - DAY) == 0
    assert cases.lapse_applications(session, ends) == 1
    assert last.status == "lapsed"


def test_nightly_job_ends_publications_at_the_maximum(
    session: Session, city: City, settings: Settings
) -> None:
    entity_id, _ = entity_with_penalty(session, CODES[4], ON, "serious")
    ends = dt.date(2029, 6, 1)
    entity = service.get_entity(session, CODES[4])
    result = cases.run_nightly(session, ends - DAY)
    assert result["list_entries_expired"] == 0 and listing.open_entries(session, entity_id)
    assert entity.score is not None and entity.score < 620  # decayed over three years, still counted
    result = cases.run_nightly(session, ends)
    assert result["list_entries_expired"] == 1 and listing.open_entries(session, entity_id) == []
    entity = service.get_entity(session, CODES[4])
    assert entity.score == 650 and service.public_view(session, entity, ends)["records"] == []
    assert cases.run_nightly(session, ends + DAY)["grades_changed"] == 0
    # Through the runner: once a day, from the configured local hour (Asia/Shanghai = UTC+8).
    assert "credit_nightly" in jobs.JOBS
    early = dt.datetime(2029, 6, 2, 17, 0, tzinfo=dt.UTC)  # 01:00 local
    assert cases.nightly_job(session, settings, early)["skipped"] is True
    session.commit()
    factory = sessionmaker_of(session)
    first = jobs.run_job(factory, settings, "credit_nightly", dt.datetime(2029, 6, 2, 19, 0, tzinfo=dt.UTC))
    assert first is not None and first["on"] == "2029-06-03" and "entities" in first
    again = jobs.run_job(factory, settings, "credit_nightly", dt.datetime(2029, 6, 2, 23, 0, tzinfo=dt.UTC))
    assert again is not None and again["skipped"] is True


def sessionmaker_of(session: Session) -> sessionmaker[Session]:
    return sessionmaker(bind=session.get_bind())


def test_complaints_count_only_when_substantiated(session: Session, city: City, settings: Settings) -> None:
    entity = service.save_entity(session, service.EntityData(CODES[5], "戊餐馆"), ON)
    now = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)
    first, second = submit(session, settings, now), submit(session, settings, now)
    link = cases.link_complaint(session, entity, first.id, "operator", ON)
    with pytest.raises(Conflict):
        cases.link_complaint(session, entity, first.id, "operator", ON)
    with pytest.raises(NotFound):
        cases.link_complaint(session, entity, 10**15, "operator", ON)
    assert service.records_of(session, entity) == []  # linked but not decided: nothing counts
    cases.decide_complaint(session, link.id, True, "credit", "《消费者权益保护法》", ON)
    (record,) = service.records_of(session, entity)
    assert (record.kind, record.request_id, record.outcome) == ("complaint", first.id, True)
    assert entity.score is not None and entity.score < 650
    other = cases.link_complaint(session, entity, second.id, "operator", ON)
    cases.decide_complaint(session, other.id, False, "credit", "", ON)
    assert len(service.records_of(session, entity)) == 1 and other.record_id is None
