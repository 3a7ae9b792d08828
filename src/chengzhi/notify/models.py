"""Notifications: each message to one person on one channel (the outbox, the delivery log and the in-app inbox in
one table), each attempt to send one, and each person's preferences."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from chengzhi.db import Base, UTCDateTime, utcnow


class Notification(Base):
    """One message to one recipient on one channel (`email`, `sms`, `in_app`).

    States: `pending` (waiting for the sending job, from `next_attempt_at`), `sent`, `recorded` (recorded instead
    of sent, outside production), `failed` (refused, or out of attempts), `skipped` (no longer true when its time
    came: a request rated before the invitation to rate went out). In-app messages are `sent` when written: the
    inbox is this table. `recipient` is the address the message goes to (personal data: shown masked)."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_pending", "state", "next_attempt_at"),
        Index("ix_notifications_user_inbox", "user_id", "channel", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # What it is for, unique: kind, request, event number, channel and person (a step notified once).
    dedup_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(30), index=True)
    channel: Mapped[str] = mapped_column(String(10))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    recipient: Mapped[str] = mapped_column(String(200), default="")
    language: Mapped[str] = mapped_column(String(5), default="zh")
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id"), index=True)
    reference: Mapped[str] = mapped_column(String(40), default="")  # the tracking number
    # What the template is filled with (tracking number, unit names, reply...): rendered when sent, in the
    # recipient's language (and in-app, when read).
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class NotificationAttempt(Base):
    """The delivery log: one row per try, with what came of it."""

    __tablename__ = "notification_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(
        ForeignKey("notifications.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(10))  # sent, recorded, retry, failed, skipped
    detail: Mapped[str] = mapped_column(String(500), default="")


class NotificationPreference(Base):
    """A person's choices: the channels they accept, and the kinds of message they do not want. No row: every
    channel the platform has an address for, every kind."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    channels: Mapped[list[str]] = mapped_column(JSON, default=list)
    muted: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
