"""The recording sink: "record instead of sending", every channel's stand-in outside production."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from chengzhi.db import utcnow
from chengzhi.outbound.channel import Delivered, Message, Result
from chengzhi.outbound.models import OutboundRecord


class RecordingSink:
    """Stores each message (without its secrets) in `outbound_records`, in a short transaction of its own, and
    answers `Delivered(recorded=True)`; nothing leaves the machine. The same idempotency key is recorded once."""

    def __init__(self, name: str, sessions: sessionmaker[Session]) -> None:
        self.name = name
        self.sessions = sessions

    def send(self, message: Message) -> Result:
        with self.sessions() as session, session.begin():
            record_id = session.scalar(
                select(OutboundRecord.id).where(OutboundRecord.idempotency_key == message.idempotency_key)
            )
            if record_id is None:
                record = OutboundRecord(
                    channel=message.channel,
                    recipient=message.to[:300],
                    reference=message.reference[:120],
                    idempotency_key=message.idempotency_key[:200],
                    body=dict(message.body),
                    created_at=utcnow(),
                )
                session.add(record)
                session.flush()
                record_id = record.id
        return Delivered({"record_id": str(record_id)}, recorded=True)

    def close(self) -> None:
        pass


def recorded(session: Session, channel: str | None = None, limit: int = 100) -> Sequence[OutboundRecord]:
    """The latest recorded messages (of one channel, or all), newest first: for operators and tests."""
    query = select(OutboundRecord).order_by(OutboundRecord.id.desc()).limit(limit)
    if channel is not None:
        query = query.where(OutboundRecord.channel == channel)
    return session.scalars(query).all()


def forget_references(session: Session, references: Collection[str]) -> int:
    """Retention: delete the recorded messages about these references (a request's tracking number: its Open311
    form and the notifications to its resident, with their texts and contact data). Returns how many went."""
    if not references:
        return 0
    done = session.execute(delete(OutboundRecord).where(OutboundRecord.reference.in_(list(references))))
    return int(getattr(done, "rowcount", 0) or 0)


def prune(session: Session, before: dt.datetime, _now: dt.datetime) -> dict[str, int]:
    """Retention by age: every message recorded before `before` (verification codes, staff alerts, webhook
    payloads: messages about no request, or whose request is still open)."""
    due = OutboundRecord.created_at < before
    if session.scalar(select(OutboundRecord.id).where(due).limit(1)) is None:
        return {}  # a read only: no write lock taken when nothing is due (SQLite)
    done = session.execute(delete(OutboundRecord).where(due))
    return {"outbound_records_deleted": int(getattr(done, "rowcount", 0) or 0)}
