"""Keeping `credit_list_entries` in step with the inclusion rules of `lists.py`.

An entity's entries are synchronised whenever its records or grade change (a record added, repaired, withdrawn;
a grade moved by the nightly regrade); the nightly job also closes, set-based, every entry whose publication
period ended (`expire`). An entry leaves the list with the reason: expired (the maximum reached), repaired,
withdrawn (an objection upheld) or no_longer_met (e.g. the grade fell below A).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from chengzhi.credit import lists
from chengzhi.credit.models import CreditEntity, CreditListEntry, CreditRecord


def open_entries(session: Session, entity_id: int) -> list[CreditListEntry]:
    return list(
        session.scalars(
            select(CreditListEntry)
            .where(CreditListEntry.entity_id == entity_id, CreditListEntry.removed_on.is_(None))
            .order_by(CreditListEntry.id)
        )
    )


def entries_of(session: Session, entity_id: int) -> list[CreditListEntry]:
    return list(
        session.scalars(
            select(CreditListEntry).where(CreditListEntry.entity_id == entity_id).order_by(CreditListEntry.id)
        )
    )


def published(entry: CreditListEntry, on: dt.date) -> bool:
    return (
        entry.listed_on <= on
        and (entry.removed_on is None or on < entry.removed_on)
        and (entry.publish_until is None or on < entry.publish_until)
    )


def _why_gone(entry: CreditListEntry, record: Any, on: dt.date) -> tuple[dt.date, str]:
    if record is not None and record.withdrawn_on is not None and record.withdrawn_on <= on:
        return record.withdrawn_on, "withdrawn"
    if record is not None and record.repaired_on is not None and record.repaired_on <= on:
        return record.repaired_on, "repaired"
    if entry.publish_until is not None and entry.publish_until <= on:
        return entry.publish_until, "expired"
    return on, "no_longer_met"


RULE_COLUMNS = (
    CreditRecord.entity_id,
    CreditRecord.id,
    CreditRecord.kind,
    CreditRecord.severity,
    CreditRecord.decided_on,
    CreditRecord.publish_until,
    CreditRecord.repaired_on,
    CreditRecord.withdrawn_on,
)


def _sync(
    session: Session,
    entity_id: int,
    grade: str | None,
    records: list[Any],
    current: list[CreditListEntry],
    on: dt.date,
) -> list[CreditListEntry]:
    wanted = {(f.rule, f.record_id): f for f in lists.listings(list(records), grade, on)}
    by_id = {r.id: r for r in records}
    kept = []
    for entry in current:
        key = (entry.rule, entry.record_id or 0)
        if key in wanted:
            entry.publish_until = wanted.pop(key).publish_until
            kept.append(entry)
            continue
        entry.removed_on, entry.removed_why = _why_gone(entry, by_id.get(entry.record_id or 0), on)
    for found in wanted.values():
        entry = CreditListEntry(
            entity_id=entity_id,
            list_kind=found.list_kind,
            rule=found.rule,
            record_id=found.record_id,
            listed_on=on,
            publish_until=found.publish_until,
        )
        session.add(entry)
        kept.append(entry)
    return kept


def sync(session: Session, entity: CreditEntity, on: dt.date) -> list[CreditListEntry]:
    """Add the entries the rules now justify, close the ones they no longer do; returns the open entries."""
    records = list(session.scalars(select(CreditRecord).where(CreditRecord.entity_id == entity.id)))
    kept = _sync(session, entity.id, entity.grade, records, open_entries(session, entity.id), on)
    session.flush()
    return kept


def sync_many(session: Session, grades: dict[int, str | None], on: dt.date, batch: int = 2000) -> int:
    """`sync` for many entities (id -> current grade), three queries per batch."""
    ids = sorted(grades)
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        records: dict[int, list[Any]] = {}  # plain rows: what the rules read, no ORM objects
        for r in session.execute(select(*RULE_COLUMNS).where(CreditRecord.entity_id.in_(chunk))):
            records.setdefault(r.entity_id, []).append(r)
        current: dict[int, list[CreditListEntry]] = {}
        query = select(CreditListEntry).where(
            CreditListEntry.entity_id.in_(chunk), CreditListEntry.removed_on.is_(None)
        )
        for e in session.scalars(query):
            current.setdefault(e.entity_id, []).append(e)
        for entity_id in chunk:
            _sync(
                session,
                entity_id,
                grades[entity_id],
                records.get(entity_id, []),
                current.get(entity_id, []),
                on,
            )
        session.flush()
        for loaded in (e for es in current.values() for e in es):
            session.expunge(loaded)  # keep memory flat over a million entities
    return len(ids)


def expire(session: Session, on: dt.date) -> int:
    """Nightly, set-based: close every open entry whose publication period ended by `on` (at its maximum)."""
    result: Any = session.execute(
        update(CreditListEntry)
        .where(
            CreditListEntry.removed_on.is_(None),
            CreditListEntry.publish_until.is_not(None),
            CreditListEntry.publish_until <= on,
        )
        .values(removed_on=CreditListEntry.publish_until, removed_why="expired")
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


def listed_entities(session: Session, list_kind: str, on: dt.date, limit: int = 200) -> list[Any]:
    """The published entries of a list with their entity (the public list pages)."""
    query = (
        select(CreditListEntry, CreditEntity.uscc, CreditEntity.name)
        .join(CreditEntity, CreditEntity.id == CreditListEntry.entity_id)
        .where(
            CreditListEntry.list_kind == list_kind,
            CreditListEntry.removed_on.is_(None),
            CreditListEntry.listed_on <= on,
        )
        .order_by(CreditListEntry.listed_on.desc(), CreditListEntry.id.desc())
        .limit(limit)
    )
    return [row for row in session.execute(query) if published(row[0], on)]
