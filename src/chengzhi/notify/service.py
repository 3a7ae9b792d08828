"""What others may call: a person's preferences and in-app inbox, the delivery log, the sending job and the
triage step (docs/channels.md)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, or_, select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.errors import Invalid, NotFound
from chengzhi.notify.alerts import notify_alert
from chengzhi.notify.models import Notification, NotificationAttempt, NotificationPreference
from chengzhi.notify.outbox import notify_received
from chengzhi.notify.sending import rendered, send_due
from chengzhi.notify.texts import CHANNELS, KINDS

__all__ = ["notify_alert", "notify_received", "send_due"]


@dataclass(frozen=True)
class Preferences:
    channels: list[str]
    muted: list[str]


def preferences_of(session: Session, user_id: int) -> Preferences:
    row = session.get(NotificationPreference, user_id)
    if row is None:
        return Preferences(list(CHANNELS), [])
    return Preferences(list(row.channels), list(row.muted))


def set_preferences(
    session: Session, user_id: int, channels: Sequence[str], muted: Sequence[str], now: dt.datetime
) -> Preferences:
    unknown = sorted({*channels} - set(CHANNELS)) + sorted({*muted} - set(KINDS))
    if unknown:
        raise Invalid(details=f"unknown: {', '.join(unknown)}")
    row = session.get(NotificationPreference, user_id)
    if row is None:
        row = NotificationPreference(user_id=user_id)
        session.add(row)
    row.channels = [c for c in CHANNELS if c in channels]
    row.muted = [k for k in KINDS if k in muted]
    row.updated_at = now
    return Preferences(row.channels, row.muted)


def _of_person(user_id: int, addresses: Sequence[str], request_ids: Sequence[int]) -> ColumnElement[bool]:
    """The messages to a person: to their account, or to one of their verified addresses about one of their
    requests (a phone report's text messages carry no account). Never those to other people (followers)."""
    by_address = and_(
        Notification.user_id.is_(None),
        Notification.recipient.in_(list(addresses)),
        Notification.request_id.in_(list(request_ids)),
    )
    return or_(Notification.user_id == user_id, by_address)


def person_notifications(
    session: Session,
    settings: Settings,
    lang: str,
    *,
    user_id: int,
    addresses: Sequence[str],
    request_ids: Sequence[int],
) -> list[dict[str, Any]]:
    """Every message the platform sent (or holds for sending) to a person, oldest first, for their own space and
    its exports: the person's own addresses are shown in full."""
    rows = session.scalars(
        select(Notification).where(_of_person(user_id, addresses, request_ids)).order_by(Notification.id)
    ).all()
    return [_item(settings, n, lang, masked=False) for n in rows]


def forget_person(
    session: Session, user_id: int, addresses: Sequence[str] = (), request_ids: Sequence[int] = ()
) -> int:
    """A person deleted their data (identity's own space): their choices and the messages to them go. Returns how
    many messages were deleted."""
    session.execute(delete(NotificationPreference).where(NotificationPreference.user_id == user_id))
    ids = list(session.scalars(select(Notification.id).where(_of_person(user_id, addresses, request_ids))))
    if ids:
        session.execute(delete(NotificationAttempt).where(NotificationAttempt.notification_id.in_(ids)))
        session.execute(delete(Notification).where(Notification.id.in_(ids)))
    return len(ids)


def mask(channel: str, address: str) -> str:
    """An address as the log shows it: the e-mail's first letter and domain, the phone's last four digits."""
    if channel == "email" and "@" in address:
        name, _, domain = address.partition("@")
        return f"{name[:1]}***@{domain}"
    if channel == "sms":
        return f"***{address[-4:]}"
    return address


def _item(settings: Settings, n: Notification, lang: str, *, masked: bool) -> dict[str, Any]:
    subject, text = rendered(settings, n, lang)
    return {
        "id": n.id,
        "kind": n.kind,
        "channel": n.channel,
        "recipient": mask(n.channel, n.recipient) if masked else n.recipient,
        "reference": n.reference,
        "subject": subject,
        "text": text,
        "state": n.state,
        "attempts": n.attempts,
        "last_error": n.last_error,
        "created_at": n.created_at,
        "sent_at": n.sent_at,
        "read_at": n.read_at,
    }


def inbox(session: Session, settings: Settings, user_id: int, lang: str, limit: int = 50) -> dict[str, Any]:
    """A person's in-app notifications, newest first, in the language they read in, and how many are unread."""
    delivered = (
        Notification.user_id == user_id,
        Notification.channel == "in_app",
        Notification.state == "sent",
    )
    rows = session.scalars(
        select(Notification).where(*delivered).order_by(Notification.id.desc()).limit(limit)
    ).all()
    unread = session.scalar(
        select(func.count()).select_from(Notification).where(*delivered, Notification.read_at.is_(None))
    )
    return {"unread": int(unread or 0), "items": [_item(settings, n, lang, masked=False) for n in rows]}


def mark_read(session: Session, user_id: int, notification_id: int, now: dt.datetime) -> None:
    n = session.get(Notification, notification_id)
    if n is None or n.user_id != user_id or n.channel != "in_app":
        raise NotFound()
    if n.read_at is None:
        n.read_at = now


def delivery_log(
    session: Session,
    settings: Settings,
    lang: str,
    *,
    state: str | None = None,
    reference: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The latest notifications (addresses masked), each with its tries, for operators: newest first."""
    query = select(Notification).order_by(Notification.id.desc()).limit(limit)
    if state:
        query = query.where(Notification.state == state)
    if reference:
        query = query.where(Notification.reference == reference)
    rows = session.scalars(query).all()
    tries: dict[int, list[dict[str, Any]]] = {}
    if rows:
        attempts = session.scalars(
            select(NotificationAttempt)
            .where(NotificationAttempt.notification_id.in_([n.id for n in rows]))
            .order_by(NotificationAttempt.id)
        )
        for a in attempts:
            tries.setdefault(a.notification_id, []).append(
                {"at": a.at, "outcome": a.outcome, "detail": a.detail}
            )
    return [{**_item(settings, n, lang, masked=True), "tries": tries.get(n.id, [])} for n in rows]


def forget_requests(session: Session, request_ids: Sequence[int]) -> int:
    """Retention: delete the notifications about these requests (their addresses and texts) with their delivery
    log. Returns how many notifications went."""
    ids = list(request_ids)
    if not ids:
        return 0
    about = select(Notification.id).where(Notification.request_id.in_(ids))
    session.execute(delete(NotificationAttempt).where(NotificationAttempt.notification_id.in_(about)))
    gone = session.execute(delete(Notification).where(Notification.request_id.in_(ids)))
    return int(gone.rowcount or 0)  # type: ignore[attr-defined]
