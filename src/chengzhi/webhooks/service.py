"""What others may call: subscriptions (add, list, deactivate), the delivery log, replay, `emit` for other
domains' events, the delivery job and the triage step (docs/channels.md)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.errors import Invalid, NotFound
from chengzhi.webhooks.delivery import deliver
from chengzhi.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from chengzhi.webhooks.outbox import EVENT_TYPES, enqueue, request_created
from chengzhi.webhooks.secrets import new_secret, seal

__all__ = ["EVENT_TYPES", "deliver", "request_created"]


def subscribe(
    session: Session,
    settings: Settings,
    name: str,
    url: str,
    events: Sequence[str],
    now: dt.datetime,
    secret: str | None = None,
) -> tuple[WebhookSubscription, str]:
    """A new subscription and its signing secret (shown once: only the sealed form is kept)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise Invalid(details="url: an http(s) URL")
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown or not events:
        raise Invalid(details=f"events: choose among {', '.join(EVENT_TYPES)}")
    secret = secret or new_secret()
    subscription = WebhookSubscription(
        name=name[:120],
        url=url,
        events=[e for e in EVENT_TYPES if e in events],
        secret_sealed=seal(secret, settings.secret_key),
        active=True,
        created_at=now,
    )
    session.add(subscription)
    session.flush()
    return subscription, secret


def subscriptions(session: Session) -> list[WebhookSubscription]:
    return list(session.scalars(select(WebhookSubscription).order_by(WebhookSubscription.id)))


def deactivate(session: Session, subscription_id: int) -> WebhookSubscription:
    subscription = session.get(WebhookSubscription, subscription_id)
    if subscription is None:
        raise NotFound()
    subscription.active = False
    return subscription


def subscription_out(s: WebhookSubscription) -> dict[str, Any]:
    return {"id": s.id, "name": s.name, "url": s.url, "events": s.events, "active": s.active}


def emit(session: Session, event_type: str, event_id: str, data: dict[str, Any], at: dt.datetime) -> int:
    """For other domains (early warning: `alert.raised`; open data: `dataset.published`): a delivery of the
    event to each subscriber, in the caller's transaction. Returns how many were written."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    active = list(session.scalars(select(WebhookSubscription).where(WebhookSubscription.active.is_(True))))
    seen = set(
        session.scalars(
            select(WebhookDelivery.event_id).where(
                WebhookDelivery.event_id == event_id, WebhookDelivery.replay_of.is_(None)
            )
        )
    )
    return enqueue(session, active, seen, event_type, event_id, data, at)


def deliveries(
    session: Session, subscription_id: int | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """The delivery log, newest first, each delivery with its tries."""
    query = select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(limit)
    if subscription_id is not None:
        query = query.where(WebhookDelivery.subscription_id == subscription_id)
    rows = session.scalars(query).all()
    tries: dict[int, list[dict[str, Any]]] = {}
    if rows:
        for a in session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_([d.id for d in rows]))
            .order_by(WebhookAttempt.id)
        ):
            tries.setdefault(a.delivery_id, []).append(
                {"at": a.at.isoformat(), "outcome": a.outcome, "detail": a.detail}
            )
    return [
        {
            "id": d.id,
            "subscription_id": d.subscription_id,
            "event_type": d.event_type,
            "event_id": d.event_id,
            "state": d.state,
            "attempts": d.attempts,
            "next_attempt_at": d.next_attempt_at.isoformat() if d.state == "pending" else None,
            "last_error": d.last_error,
            "delivered_at": d.delivered_at.isoformat() if d.delivered_at else None,
            "replay_of": d.replay_of,
            "tries": tries.get(d.id, []),
        }
        for d in rows
    ]


def replay(session: Session, delivery_id: int, now: dt.datetime) -> WebhookDelivery:
    """Send a delivery's event again (after the subscriber fixed their side): a new pending delivery of the same
    event and payload, due now."""
    original = session.get(WebhookDelivery, delivery_id)
    if original is None:
        raise NotFound()
    copy = WebhookDelivery(
        subscription_id=original.subscription_id,
        event_type=original.event_type,
        event_id=original.event_id,
        payload=dict(original.payload),
        state="pending",
        attempts=0,
        next_attempt_at=now,
        replay_of=original.replay_of or original.id,
        created_at=now,
    )
    session.add(copy)
    session.flush()
    return copy
