"""Early warnings for staff (warning's alerts): one message per person and channel (in-app and e-mail, not SMS),
the person's preferences applied, written once per alert (`dedup_key`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.notify.models import Notification
from chengzhi.notify.outbox import Recipient, _filtered, _preferences
from chengzhi.org.models import User


def notify_alert(
    session: Session, users: Sequence[User], alert_id: int, params: dict[str, Any], at: dt.datetime
) -> int:
    """Writes the alert's notifications for `users` (in-app delivered at once, e-mail sent by the sending job).
    `params`: `title`, `count`, `unit_zh`, `unit_en`. Returns how many were written."""
    preferences = _preferences(session, [u.id for u in users])
    prefix = f"alert:{alert_id}:"
    existing = set(
        session.scalars(select(Notification.dedup_key).where(Notification.dedup_key.like(f"{prefix}%")))
    )
    written = 0
    for user in users:
        addresses = {"in_app": ""}
        if user.email:
            addresses["email"] = user.email
        recipient = _filtered(Recipient(user.id, user.language or "zh", addresses), "alert", preferences)
        if recipient is None:
            continue
        for channel, address in recipient.addresses.items():
            key = f"{prefix}{channel}:u{user.id}"
            if key in existing:
                continue
            existing.add(key)
            in_app = channel == "in_app"
            session.add(
                Notification(
                    dedup_key=key,
                    kind="alert",
                    channel=channel,
                    user_id=user.id,
                    recipient=address[:200],
                    language=recipient.language if recipient.language in ("zh", "en") else "zh",
                    request_id=None,
                    reference=str(alert_id),
                    params=params,
                    state="sent" if in_app else "pending",
                    attempts=0,
                    next_attempt_at=at,
                    sent_at=at if in_app else None,
                    created_at=at,
                )
            )
            written += 1
    return written
