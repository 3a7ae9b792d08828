"""Random inspections: quotas per grade exact, draws reproducible from the seed, inspectors with recusal."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session

from chengzhi.credit import inspections, plans, service
from chengzhi.errors import Forbidden, Invalid

from .factories import City
from .test_credit_rules import generated_codes

CODES = generated_codes(400, seed=99)
GRADES = "AAAABBBBBBCCCD"  # a pool with every grade, uneven
POOL = {code: GRADES[i % len(GRADES)] for i, code in enumerate(CODES)}
ROSTER = [f"inspector{i}" for i in range(8)]


def test_quotas_are_exact_per_grade() -> None:
    tasks = inspections.draw(POOL, seed=20261206, inspectors=ROSTER)
    sizes = {g: sum(1 for v in POOL.values() if v == g) for g in "ABCD"}
    for grade, ratio in inspections.DEFAULT_RATIOS.items():
        expected = int(sizes[grade] * ratio + 0.5)
        assert sum(1 for t in tasks if t.grade == grade) == expected, grade
    assert (
        inspections.quota(10, 0.05) == 1
        and inspections.quota(9, 0.05) == 0
        and inspections.quota(30, 0.7) == 21
    )


def test_the_draw_is_reproducible_from_the_seed_and_independent_of_order() -> None:
    first = inspections.draw(POOL, seed=42, inspectors=ROSTER)
    shuffled = dict(reversed(list(POOL.items())))
    assert inspections.draw(shuffled, seed=42, inspectors=list(reversed(ROSTER))) == first
    assert inspections.draw(POOL, seed=43, inspectors=ROSTER) != first


def test_two_inspectors_per_task_with_recusal() -> None:
    conflicts = {code: {"inspector0", "inspector1", "inspector2"} for code in CODES}
    tasks = inspections.draw(POOL, seed=7, inspectors=ROSTER, conflicts=conflicts)
    for task in tasks:
        assert len(set(task.inspectors)) == 2
        assert not set(task.inspectors) & conflicts[task.uscc]
    with pytest.raises(inspections.DrawError):
        inspections.draw(POOL, seed=7, inspectors=ROSTER[:4], conflicts=conflicts)
    with pytest.raises(inspections.DrawError):
        inspections.draw(POOL, seed=7, inspectors=ROSTER, per_task=1)


def test_ratios_outside_their_band_are_refused_and_ungraded_count_as_b() -> None:
    with pytest.raises(inspections.DrawError):
        inspections.draw(POOL, seed=1, inspectors=ROSTER, ratios={"A": 0.1})
    tasks = inspections.draw({c: None for c in CODES[:50]}, seed=1, inspectors=ROSTER, ratios={"B": 0.2})
    assert len(tasks) == 10 and {t.grade for t in tasks} == {"B"}


# ------------------------------------------------------------------ stored plans (both databases)


def test_stored_plan_reproduces_and_recuses(session: Session, city: City) -> None:
    unit = city.units["D1-water"].id
    on = dt.date(2026, 6, 1)
    entities = []
    for i, code in enumerate(CODES[:60]):
        entity = service.save_entity(session, service.EntityData(code, f"企业{i}", industry="food"), on)
        entities.append(entity)
        if i % 3 == 0:
            data = service.RecordData("penalty", "罚", "法", on, severity="serious")
            service.add_record(session, entity, data, on)
    service.save_entity(session, service.EntityData(CODES[70], "别的行业", industry="build"), on)
    inspectors = [plans.add_inspector(session, unit, f"执法员{i}", f"inspector{i}") for i in range(4)]
    plans.declare_conflict(session, inspectors[0].id, entities[0], "亲属任职", on)
    plan = plans.create_plan(
        session, unit, "2026 食品抽查", 2026, 42, "credit", on, ratios={}, industry="food"
    )
    assert plan.pool_size == 60
    tasks = plans.tasks_of(session, plan)
    grades = {"B": 40, "D": 20}
    for grade, size in grades.items():
        expected = inspections.quota(size, inspections.DEFAULT_RATIOS[grade])
        assert sum(1 for t, _, _ in tasks if t.grade == grade) == expected
    assert [(uscc, tuple(t.inspectors)) for t, uscc, _ in tasks] == [
        (t.uscc, t.inspectors) for t in plans.reproduce(plan)
    ]
    assert all(len(t.inspectors) == 2 for t, _, _ in tasks)
    assert plan.recusals.get(CODES[0]) in (None, ["执法员0"])
    for t, uscc, _ in tasks:
        if uscc == CODES[0]:
            assert "执法员0" not in t.inspectors
    # The next plan recuses the previous inspectors of every entity drawn again.
    task, uscc, _ = tasks[0]
    later = plans.create_plan(
        session, unit, "2027 食品抽查", 2027, 43, "credit", on, ratios={"D": 1.0}, industry="food"
    )
    assert set(task.inspectors) <= set(later.recusals[uscc])
    for t, code, _ in plans.tasks_of(session, later):
        if code == uscc:
            assert not set(t.inspectors) & set(task.inspectors)
    # Results: only the task's inspectors (or an officer); they become inspection records.
    outsider = ({"inspector0", "inspector1", "inspector2", "inspector3"} - set()) - {
        f"inspector{n[-1]}" for n in task.inspectors
    }
    with pytest.raises(Forbidden):
        plans.enter_result(session, task.id, outsider, False, True, "合格", on)
    mine = {f"inspector{task.inspectors[0][-1]}"}
    done = plans.enter_result(session, task.id, mine, False, False, "未公示许可证", on)
    record = service.get_record(session, done.record_id or 0)
    assert (record.kind, record.outcome, record.source_unit_id) == ("inspection", False, unit)
    notice = plans.notice(session, plan)
    assert notice["seed"] == 42 and notice["tasks"][0]["passed"] is False
    assert notice["tasks"][0]["inspectors"] == 2  # the public notice does not name them per task
    with pytest.raises(Invalid):
        plans.create_plan(session, city.units["D2"].id, "无人", 2026, 1, "credit", on, ratios={})
