"""The sending job: pending notifications out through their channels, with retries and backoff, each try in
the delivery log (`notification_attempts`)."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from chengzhi.config import Settings
from chengzhi.notify.models import Notification, NotificationAttempt
from chengzhi.notify.texts import RESIDENT_KINDS, render, sms_text
from chengzhi.outbound import Delivered, Failed, Message, Result, open_channel
from chengzhi.outbound.sessions import short_sessions
from chengzhi.requests import queries as requests_queries

log = logging.getLogger(__name__)
BATCH = 200


@dataclass(frozen=True)
class Later:
    """Not due yet (an invitation to rate waits for the follow-up day)."""

    at: dt.datetime


@dataclass(frozen=True)
class Skip:
    """No longer true: the request was rated (or reopened) before the invitation went out."""

    reason: str


def link(settings: Settings, notification: Notification) -> str:
    base = settings.public_url.rstrip("/")
    if notification.kind in RESIDENT_KINDS:
        return f"{base}/track/{notification.reference}"
    if notification.kind == "alert":
        return f"{base}/dashboard/hot/alerts#alert-{notification.reference}"
    return f"{base}/staff/requests/{notification.reference}"


def _local(settings: Settings, iso: str) -> str:
    try:
        moment = dt.datetime.fromisoformat(iso)
    except ValueError:
        return iso
    return moment.astimezone(ZoneInfo(settings.timezone)).strftime("%Y-%m-%d %H:%M")


def rendered(settings: Settings, notification: Notification, lang: str | None = None) -> tuple[str, str]:
    """The subject and text of a notification, in `lang` (default: the recipient's)."""
    lang = lang or notification.language
    params: dict[str, Any] = dict(notification.params or {})
    params["unit"] = params.get("unit_en" if lang == "en" else "unit_zh", "")
    params["url"] = link(settings, notification)
    params["deadline"] = _local(settings, str(params.get("deadline", "")))
    params.setdefault("number", notification.reference)
    for name in ("reply", "stage", "note"):
        params.setdefault(name, "")
    return render(notification.kind, lang, params)


def _prepare(
    reader: sessionmaker[Session], settings: Settings, notification_id: int, now: dt.datetime
) -> Message | Later | Skip | None:
    with reader() as session:
        n = session.get(Notification, notification_id)
        if n is None or n.state != "pending":
            return None
        if n.kind == "rate":
            due = n.created_at + dt.timedelta(hours=settings.notify_rate_delay_hours)
            if now < due:
                return Later(due)
            status = requests_queries.statuses(session, [n.request_id or 0]).get(n.request_id or 0)
            if status != "replied":
                return Skip(f"the request is {status} now")
        subject, text = rendered(settings, n)
        body = {"text": sms_text(subject, text, link(settings, n))} if n.channel == "sms" else {}
        return Message(
            channel=n.channel,
            to=n.recipient,
            body=body or {"subject": subject, "text": text},
            idempotency_key=f"chengzhi-notification-{n.id}",
            reference=n.reference,
        )


def _backoff(settings: Settings, attempts: int) -> dt.timedelta:
    seconds = settings.notify_retry_seconds * 2 ** max(attempts - 1, 0)
    return dt.timedelta(seconds=min(seconds, settings.notify_retry_max_seconds))


def _record(
    session: Session, n: Notification, outcome: Result | Later | Skip, settings: Settings, now: dt.datetime
) -> str:
    if isinstance(outcome, Later):
        n.next_attempt_at = outcome.at
        return "waiting"
    if isinstance(outcome, Skip):
        n.state, n.last_error = "skipped", outcome.reason[:500]
        session.add(
            NotificationAttempt(notification_id=n.id, at=now, outcome="skipped", detail=outcome.reason)
        )
        return "skipped"
    n.attempts += 1
    if isinstance(outcome, Delivered):
        n.state = "recorded" if outcome.recorded else "sent"
        n.sent_at, n.last_error = now, None
        session.add(NotificationAttempt(notification_id=n.id, at=now, outcome=n.state))
        return n.state
    reason = outcome.reason[:500]
    n.last_error = reason
    if isinstance(outcome, Failed) or n.attempts >= settings.notify_max_attempts:
        n.state = "failed"
    else:
        n.next_attempt_at = now + _backoff(settings, n.attempts)
    session.add(
        NotificationAttempt(
            notification_id=n.id, at=now, outcome="failed" if n.state == "failed" else "retry", detail=reason
        )
    )
    # No address in the log line: it is personal data.
    log.warning("notification %s (%s) not sent (attempt %s): %s", n.id, n.channel, n.attempts, reason)
    return "failed" if n.state == "failed" else "retry"


def _in_app(outcome: Message | Later | Skip) -> Result | Later | Skip:
    """In-app messages are delivered by being due: the inbox is the table."""
    return Delivered() if isinstance(outcome, Message) else outcome


def send_due(session: Session, settings: Settings, now: dt.datetime) -> dict[str, Any]:
    """Send the notifications that are due, a batch at a time, channel by channel, until none is left or the round
    has taken `notify_send_seconds`; each outcome is committed at once. (One batch of 200 a round fell behind a
    busy hour: 20,006 were waiting at the end of the 30-minute soak of 2026-12-07.)"""
    reader, writer = short_sessions(session)
    counts: Counter[str] = Counter()
    started = time.monotonic()
    while _send_batch(reader, writer, settings, now, counts) == BATCH:
        if time.monotonic() - started >= settings.notify_send_seconds:
            break
    return dict(counts)


def _send_batch(
    reader: sessionmaker[Session],
    writer: sessionmaker[Session],
    settings: Settings,
    now: dt.datetime,
    counts: Counter[str],
) -> int:
    """One batch of due notifications; returns how many were due (BATCH when more may be waiting)."""
    with reader() as read:
        due = read.execute(
            select(Notification.id, Notification.channel)
            .where(Notification.state == "pending", Notification.next_attempt_at <= now)
            .order_by(Notification.next_attempt_at, Notification.id)
            .limit(BATCH)
        ).all()
    by_channel: dict[str, list[int]] = {}
    for notification_id, channel_name in due:
        by_channel.setdefault(channel_name, []).append(notification_id)
    for channel_name, ids in sorted(by_channel.items()):
        if channel_name == "in_app":
            for notification_id in ids:
                prepared = _prepare(reader, settings, notification_id, now)
                if prepared is not None:
                    counts[_commit(writer, notification_id, _in_app(prepared), settings, now)] += 1
            continue
        with open_channel(channel_name, settings, writer) as channel:
            for notification_id in ids:
                prepared = _prepare(reader, settings, notification_id, now)
                if prepared is None:
                    continue
                outcome = channel.send(prepared) if isinstance(prepared, Message) else prepared
                counts[_commit(writer, notification_id, outcome, settings, now)] += 1
    return len(due)


def _commit(
    writer: sessionmaker[Session],
    notification_id: int,
    outcome: Result | Later | Skip,
    settings: Settings,
    now: dt.datetime,
) -> str:
    with writer() as write, write.begin():
        n = write.get(Notification, notification_id)
        if n is None or n.state != "pending":
            return "gone"
        return _record(write, n, outcome, settings, now)
