"""The intake outbox: what the triage worker still has to do for new requests, in the same database.

Intake adds one row per request in its own transaction (so a 201 promises the work as much as the request);
the worker (`chengzhi.worker`) claims rows in batches, does the work in one transaction per batch and deletes
the rows in that transaction: at least once, idempotent per request (the work checks what is already done), and in
order per request (a row is claimed only when no earlier row of the same request is left).

On PostgreSQL any number of workers claim with `FOR UPDATE SKIP LOCKED`; on SQLite (the embedded default) one
process consumes, and SQLite's write lock serialises it with intake.
"""

from __future__ import annotations

import datetime as dt
import time

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    delete,
    exists,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, aliased, mapped_column

from chengzhi.db import Base, UTCDateTime, utcnow

# Retries of a batch that failed: after 5 s, 20 s, 80 s, ... up to an hour; a row is never dropped.
BACKOFF_SECONDS = (5, 20, 80, 320, 1280, 3600)


class TriageTask(Base):
    __tablename__ = "triage_queue"
    __table_args__ = (Index("ix_triage_queue_available", "available_at", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20), default="intake")
    # Staff chose the priority at intake: an emergency found in the text does not override it.
    keep_priority: Mapped[bool] = mapped_column(Boolean, default=False)
    enqueued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    available_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


_INSERT = insert(TriageTask)

# When this process last received a request (time.monotonic): the in-app worker gives way while they arrive.
_last_arrival = float("-inf")


def arriving(within: float = 1.0) -> bool:
    """True when this process received a request in the last `within` seconds."""
    return time.monotonic() - _last_arrival < within


def row(now: dt.datetime, *, kind: str = "intake", keep_priority: bool = False) -> dict[str, object]:
    """The columns of a new outbox row but its request (intake writes it with the request, requests/intake_sql.py)."""
    global _last_arrival
    _last_arrival = time.monotonic()
    return {
        "kind": kind,
        "keep_priority": keep_priority,
        "enqueued_at": now,
        "available_at": now,
        "attempts": 0,
        "last_error": None,
    }


def enqueue(
    session: Session, request_id: int, now: dt.datetime, *, kind: str = "intake", keep_priority: bool = False
) -> None:
    """One Core INSERT in the caller's transaction."""
    session.execute(
        _INSERT,
        {
            "request_id": request_id,
            "kind": kind,
            "keep_priority": keep_priority,
            "enqueued_at": now,
            "available_at": now,
            "attempts": 0,
        },
    )


_earlier = aliased(TriageTask)


def claim(session: Session, limit: int, now: dt.datetime | None = None) -> list[TriageTask]:
    """Up to `limit` rows due now, oldest first, locked for this transaction (skipping rows other workers hold).
    A row waits while an earlier row of the same request is still queued (held by another worker, or failing)."""
    now = now or utcnow()
    query = (
        select(TriageTask)
        .where(
            TriageTask.available_at <= now,
            ~exists().where(_earlier.request_id == TriageTask.request_id, _earlier.id < TriageTask.id),
        )
        .order_by(TriageTask.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=TriageTask)
    return list(session.scalars(query))


def queued_after(session: Session, after_id: int, limit: int) -> list[TriageTask]:
    """Rows after `after_id` in order, whoever holds them (no lock): what the emergency lane looks at."""
    query = select(TriageTask).where(TriageTask.id > after_id).order_by(TriageTask.id).limit(limit)
    return list(session.scalars(query))


def has_due(session: Session, now: dt.datetime) -> bool:
    return session.scalar(select(TriageTask.id).where(TriageTask.available_at <= now).limit(1)) is not None


def get(session: Session, task_id: int) -> TriageTask | None:
    return session.get(TriageTask, task_id)


def finish(session: Session, ids: list[int]) -> None:
    if ids:
        session.execute(delete(TriageTask).where(TriageTask.id.in_(ids)))


def postpone(session: Session, ids: list[int], error: str, now: dt.datetime) -> None:
    """After a failed batch: each row is tried again later (its own transaction, after the rollback)."""
    for task in session.scalars(select(TriageTask).where(TriageTask.id.in_(ids))):
        delay = BACKOFF_SECONDS[min(task.attempts, len(BACKOFF_SECONDS) - 1)]
        session.execute(
            update(TriageTask)
            .where(TriageTask.id == task.id)
            .values(
                attempts=task.attempts + 1,
                available_at=now + dt.timedelta(seconds=delay),
                last_error=error[:500],
            )
        )


def depth(session: Session) -> int:

    return int(session.scalar(select(func.count()).select_from(TriageTask)) or 0)


def oldest_enqueued(session: Session) -> dt.datetime | None:
    return session.scalar(select(TriageTask.enqueued_at).order_by(TriageTask.id).limit(1))
