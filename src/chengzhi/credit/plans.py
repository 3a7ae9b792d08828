"""Random-inspection plans (双随机、一公开), stored: the department's roster, declared conflicts, the plan with its pool
and published seed, the drawn tasks, results entered by the inspectors (which become credit records), and the
public notice. The draw itself is `inspections.draw` (pure): a plan stores everything it was given, so anyone
reproduces its tasks from the notice (`reproduce`).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from chengzhi.credit import inspections, service
from chengzhi.credit.models import (
    CreditConflict,
    CreditEntity,
    CreditInspector,
    CreditPlan,
    CreditTask,
)
from chengzhi.db import MAX_ID
from chengzhi.errors import Forbidden, Invalid, NotFound


def add_inspector(session: Session, unit_id: int, name: str, username: str | None = None) -> CreditInspector:
    inspector = CreditInspector(unit_id=unit_id, name=name, username=username, active=True)
    session.add(inspector)
    session.flush()
    return inspector


def roster(session: Session, unit_id: int) -> list[CreditInspector]:
    query = select(CreditInspector).where(
        CreditInspector.unit_id == unit_id, CreditInspector.active.is_(True)
    )
    return list(session.scalars(query.order_by(CreditInspector.name)))


def declare_conflict(
    session: Session, inspector_id: int, entity: CreditEntity, reason: str, on: dt.date
) -> CreditConflict:
    if abs(inspector_id) > MAX_ID or session.get(CreditInspector, inspector_id) is None:
        raise NotFound("not_found")
    conflict = CreditConflict(inspector_id=inspector_id, entity_id=entity.id, reason=reason, declared_on=on)
    session.add(conflict)
    session.flush()
    return conflict


def _recusals(session: Session, unit_id: int, pool_ids: dict[int, str]) -> dict[str, set[str]]:
    """Per entity code: inspectors with a declared conflict, and the inspectors of its previous task in this
    department's plans."""
    found: dict[str, set[str]] = {}
    conflicts = (
        select(CreditConflict.entity_id, CreditInspector.name)
        .join(CreditInspector, CreditInspector.id == CreditConflict.inspector_id)
        .where(CreditInspector.unit_id == unit_id)
    )
    for entity_id, name in session.execute(conflicts):
        if entity_id in pool_ids:
            found.setdefault(pool_ids[entity_id], set()).add(name)
    latest = (
        select(func.max(CreditTask.id))
        .join(CreditPlan, CreditPlan.id == CreditTask.plan_id)
        .where(CreditPlan.unit_id == unit_id)
        .group_by(CreditTask.entity_id)
    )
    for entity_id, names in session.execute(
        select(CreditTask.entity_id, CreditTask.inspectors).where(CreditTask.id.in_(latest))
    ):
        if entity_id in pool_ids:
            found.setdefault(pool_ids[entity_id], set()).update(names)
    return found


def create_plan(
    session: Session,
    unit_id: int,
    title: str,
    year: int,
    seed: int,
    by: str,
    on: dt.date,
    *,
    ratios: dict[str, float],
    industry: str | None = None,
    area_unit_id: int | None = None,
) -> CreditPlan:
    """Draw and store a plan: the pool (active entities of the industry and area, by grade), the roster, the
    recusals and the seed are stored with it; raises Invalid when the draw cannot be made."""
    chosen = select(CreditEntity.id, CreditEntity.uscc, CreditEntity.grade).where(
        CreditEntity.status == "active"
    )
    if industry:
        chosen = chosen.where(CreditEntity.industry == industry)
    if area_unit_id is not None:
        chosen = chosen.where(CreditEntity.area_unit_id == area_unit_id)
    rows = session.execute(chosen).all()
    pool = {uscc: grade or inspections.UNGRADED for _, uscc, grade in rows}
    ids = {uscc: entity_id for entity_id, uscc, _ in rows}
    names = [i.name for i in roster(session, unit_id)]
    recusals = _recusals(session, unit_id, {v: k for k, v in ids.items()})
    try:
        tasks = inspections.draw(pool, seed, names, ratios=ratios, conflicts=recusals)
    except inspections.DrawError as failed:
        raise Invalid(
            "credit_draw_failed", reason=inspections.DRAW_MESSAGES[failed.key] % failed.params
        ) from None
    plan = CreditPlan(
        unit_id=unit_id,
        title=title,
        year=year,
        industry=industry,
        area_unit_id=area_unit_id,
        ratios={**inspections.DEFAULT_RATIOS, **ratios},
        seed=seed,
        pool_size=len(pool),
        pool=dict(sorted(pool.items())),
        roster=sorted(set(names)),
        recusals={code: sorted(names) for code, names in sorted(recusals.items())},
        drawn_on=on,
        created_by=by,
    )
    session.add(plan)
    session.flush()
    task_rows: list[dict[str, Any]] = [
        {"plan_id": plan.id, "entity_id": ids[t.uscc], "grade": t.grade, "inspectors": list(t.inspectors)}
        for t in tasks
    ]
    _insert_tasks(session, task_rows)
    session.flush()
    return plan


def _insert_tasks(session: Session, rows: list[dict[str, Any]]) -> None:
    """The drawn tasks: COPY on PostgreSQL (tens of thousands of rows for a large pool), executemany elsewhere."""
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        session.execute(insert(CreditTask), rows)
        return
    raw = connection.connection.driver_connection
    statement = "COPY credit_tasks (plan_id, entity_id, grade, inspectors) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
        for row in rows:
            copy.write_row((row["plan_id"], row["entity_id"], row["grade"], json.dumps(row["inspectors"])))


def reproduce(plan: CreditPlan) -> list[inspections.Task]:
    """The plan's tasks again from its public notice: pool, ratios, roster, recusals and seed."""
    conflicts = {code: set(names) for code, names in plan.recusals.items()}
    return inspections.draw(plan.pool, plan.seed, plan.roster, ratios=plan.ratios, conflicts=conflicts)


def get_plan(session: Session, plan_id: int) -> CreditPlan:
    plan = session.get(CreditPlan, plan_id) if abs(plan_id) <= MAX_ID else None
    if plan is None:
        raise NotFound("credit_plan_not_found", ref=plan_id)
    return plan


def plans(session: Session, limit: int = 100) -> list[CreditPlan]:
    return list(session.scalars(select(CreditPlan).order_by(CreditPlan.id.desc()).limit(limit)))


def tasks_of(session: Session, plan: CreditPlan) -> list[tuple[CreditTask, str, str]]:
    query = (
        select(CreditTask, CreditEntity.uscc, CreditEntity.name)
        .join(CreditEntity, CreditEntity.id == CreditTask.entity_id)
        .where(CreditTask.plan_id == plan.id)
        .order_by(CreditTask.id)
    )
    return [(row[0], row[1], row[2]) for row in session.execute(query)]


def enter_result(
    session: Session,
    task_id: int,
    inspector_usernames: set[str],
    officer: bool,
    passed: bool,
    findings: str,
    on: dt.date,
) -> CreditTask:
    """An inspector of the task (or a credit officer) enters the result: it becomes an inspection record."""
    task = session.get(CreditTask, task_id) if abs(task_id) <= MAX_ID else None
    if task is None:
        raise NotFound("credit_task_not_found", ref=task_id)
    plan = get_plan(session, task.plan_id)
    drawn = {i.username for i in roster(session, plan.unit_id) if i.name in task.inspectors and i.username}
    if not officer and not (drawn & inspector_usernames):
        raise Forbidden("credit_not_your_task")
    if task.record_id is not None:
        raise Invalid("credit_already_decided", on=(task.inspected_on or on).isoformat())
    entity = session.get(CreditEntity, task.entity_id)
    assert entity is not None
    data = service.RecordData(
        "inspection",
        f"{plan.title}: {findings}"[:300],
        f"双随机、一公开抽查计划第{plan.id}号（{plan.year}年），随机种子 {plan.seed}",
        on,
        outcome=passed,
        source_unit_id=plan.unit_id,
    )
    record = service.add_record(session, entity, data, on)
    task.passed, task.findings, task.inspected_on = passed, findings, on
    task.entered_by, task.record_id = ",".join(sorted(inspector_usernames)) or "officer", record.id
    session.flush()
    return task


def notice(session: Session, plan: CreditPlan, *, staff: bool = False) -> dict[str, Any]:
    """The public notice (一公开): the plan, how to reproduce it, the drawn entities and the results entered."""
    return {
        "id": plan.id,
        "title": plan.title,
        "unit_id": plan.unit_id,
        "year": plan.year,
        "industry": plan.industry,
        "area_unit_id": plan.area_unit_id,
        "seed": plan.seed,
        "ratios": plan.ratios,
        "pool_size": plan.pool_size,
        "roster": plan.roster,
        "recusals": plan.recusals,
        "drawn_on": plan.drawn_on.isoformat(),
        "tasks": [
            {
                "id": t.id,
                "uscc": uscc,
                "name": name,
                "grade": t.grade,
                "inspectors": t.inspectors if staff else len(t.inspectors),
                "passed": t.passed,
                "findings": t.findings,
                "inspected_on": t.inspected_on.isoformat() if t.inspected_on else None,
            }
            for t, uscc, name in tasks_of(session, plan)
        ],
    }
