"""Dashboards of credit supervision: grades and inspections counted by industry and by area, set-based."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from chengzhi.credit.models import CreditEntity, CreditRecord, CreditTask
from chengzhi.org import queries as org_queries

GROUPS = ("industry", "area")


def _key(by: str) -> Any:
    return CreditEntity.industry if by == "industry" else CreditEntity.area_unit_id


def _names(session: Session, by: str, keys: set[Any], lang: str) -> dict[Any, str]:
    if by == "industry":
        return {k: k or "-" for k in keys}
    units = org_queries.units_by_id(session, [k for k in keys if k is not None])
    return {k: (units[k].name(lang) if k in units else "-") for k in keys}


def grades(session: Session, by: str, lang: str = "zh") -> list[dict[str, Any]]:
    """Per industry (or area unit): the number of active entities of each grade."""
    key = _key(by)
    query = (
        select(key, CreditEntity.grade, func.count())
        .where(CreditEntity.status == "active")
        .group_by(key, CreditEntity.grade)
    )
    table: dict[Any, dict[str, int]] = {}
    for group, grade, count in session.execute(query):
        table.setdefault(group, {})[grade or "-"] = count
    names = _names(session, by, set(table), lang)
    return [
        {"key": k, "name": names[k], "grades": v, "total": sum(v.values())}
        for k, v in sorted(table.items(), key=lambda kv: (kv[0] is None, str(kv[0])))
    ]


def inspections(session: Session, by: str, lang: str = "zh") -> list[dict[str, Any]]:
    """Per industry (or area unit): tasks drawn, inspected, failed; and inspection records of any source."""
    key = _key(by)
    tasks = (
        select(
            key,
            func.count(),
            func.count(CreditTask.inspected_on),
            func.sum(case((CreditTask.passed.is_(False), 1), else_=0)),
        )
        .select_from(CreditTask)
        .join(CreditEntity, CreditEntity.id == CreditTask.entity_id)
        .group_by(key)
    )
    table: dict[Any, dict[str, int]] = {}
    for group, drawn, done, failed in session.execute(tasks):
        table[group] = {"drawn": drawn, "inspected": done, "failed": int(failed or 0), "records": 0}
    records = (
        select(key, func.count())
        .select_from(CreditRecord)
        .join(CreditEntity, CreditEntity.id == CreditRecord.entity_id)
        .where(CreditRecord.kind == "inspection")
        .group_by(key)
    )
    for group, count in session.execute(records):
        table.setdefault(group, {"drawn": 0, "inspected": 0, "failed": 0, "records": 0})["records"] = count
    names = _names(session, by, set(table), lang)
    return [
        {"key": k, "name": names[k], **v}
        for k, v in sorted(table.items(), key=lambda kv: (kv[0] is None, str(kv[0])))
    ]
