"""`Idempotency-Key` on POST: a retried call returns the first call's response instead of acting twice.

The saved response is written in the same transaction as the effect it describes, so that either both are
committed or neither is. A concurrent retry that loses the race on the unique key gets the winner's response.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Integer, String, UniqueConstraint, bindparam, delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from chengzhi.db import Base, UTCDateTime, utcnow
from chengzhi.errors import Conflict, Invalid

MAX_KEY_LENGTH = 200


class IdempotencyRecord(Base):
    """The response a POST with an Idempotency-Key produced, saved in the same transaction as its effect."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("principal", "key", name="uq_idempotency_records_principal_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    principal: Mapped[str] = mapped_column(String(80))
    key: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


@dataclass(frozen=True)
class IdempotencySlot:
    principal: str
    key: str
    fingerprint: str


def slot_for(key: str | None, principal: str, method: str, path: str, body: Any) -> IdempotencySlot | None:
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise Invalid("validation_failed", details=f"Idempotency-Key must have 1-{MAX_KEY_LENGTH} characters")
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, default=str)
    fingerprint = hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()
    return IdempotencySlot(principal=principal, key=key, fingerprint=fingerprint)


# Built once (every POST with a key reads it): building a statement costs more than running it.
# Core, not ORM objects: a row read or written here is never used as an object.
_RECORD = select(
    IdempotencyRecord.fingerprint, IdempotencyRecord.status_code, IdempotencyRecord.response
).where(IdempotencyRecord.principal == bindparam("principal"), IdempotencyRecord.key == bindparam("key"))
_SAVE = insert(IdempotencyRecord.__table__)  # type: ignore[arg-type]
_PENDING = "chengzhi.idempotency.pending"


def replay(session: Session, slot: IdempotencySlot | None) -> tuple[int, dict[str, Any]] | None:
    """The saved (status, body) for this key, or None if the key is new."""
    if slot is None:
        return None
    record = session.connection().execute(_RECORD, {"principal": slot.principal, "key": slot.key}).first()
    if record is None:
        return None
    if record.fingerprint != slot.fingerprint:
        raise Conflict("idempotency_conflict")
    return record.status_code, record.response


def save(session: Session, slot: IdempotencySlot | None, status_code: int, body: dict[str, Any]) -> None:
    if slot is None:
        return
    # Written by commit_or_replay, just before the commit: a key a concurrent call took fails there.
    session.info[_PENDING] = (
        {
            "principal": slot.principal,
            "key": slot.key,
            "fingerprint": slot.fingerprint,
            "status_code": status_code,
            "response": json.loads(json.dumps(body, default=str)),
            "created_at": utcnow(),
        },
    )


def commit_or_replay(session: Session, slot: IdempotencySlot | None) -> tuple[int, dict[str, Any]] | None:
    """Commit; if a concurrent call with the same key committed first, roll back and return its response."""
    try:
        pending = session.info.pop(_PENDING, None)
        if pending is not None:
            session.connection().execute(_SAVE, pending)
        session.commit()
    except IntegrityError:
        session.rollback()
        if slot is None:
            raise
        saved = replay(session, slot)
        if saved is None:
            raise
        return saved
    return None


def purge_expired(session: Session, hours: int, now: dt.datetime | None = None) -> int:
    cutoff = (now or utcnow()) - dt.timedelta(hours=hours)
    result = session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)
