"""The delivery job: pending webhook deliveries signed and POSTed, with retries and backoff, each try logged."""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from chengzhi.config import Settings
from chengzhi.outbound import Delivered, Failed, Message, Result, open_channel
from chengzhi.outbound.sessions import short_sessions
from chengzhi.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from chengzhi.webhooks.secrets import SecretError, unseal

log = logging.getLogger(__name__)
CHANNEL = "webhook"
BATCH = 200


def _prepare(reader: sessionmaker[Session], settings: Settings, delivery_id: int) -> Message | Result | None:
    with reader() as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery is None or delivery.state != "pending":
            return None
        subscription = session.get(WebhookSubscription, delivery.subscription_id)
        if subscription is None or not subscription.active:
            return Failed("the subscription is no longer active")
        try:
            secret = unseal(subscription.secret_sealed, settings.secret_key)
        except SecretError as exc:
            return Failed(str(exc))
        return Message(
            channel=CHANNEL,
            to=subscription.url,
            body=dict(delivery.payload),
            idempotency_key=f"chengzhi-webhook-{delivery.event_id}",
            reference=delivery.event_id,
            secrets={"secret": secret},
        )


def _backoff(settings: Settings, attempts: int) -> dt.timedelta:
    seconds = settings.webhook_retry_seconds * 2 ** max(attempts - 1, 0)
    return dt.timedelta(seconds=min(seconds, settings.webhook_retry_max_seconds))


def record(
    session: Session, delivery: WebhookDelivery, result: Result, settings: Settings, now: dt.datetime
) -> str:
    delivery.attempts += 1
    if isinstance(result, Delivered):
        delivery.state = "recorded" if result.recorded else "delivered"
        delivery.delivered_at, delivery.last_error = now, None
        detail = f"HTTP {result.receipt.get('status')}" if result.receipt.get("status") else ""
        session.add(WebhookAttempt(delivery_id=delivery.id, at=now, outcome=delivery.state, detail=detail))
        return delivery.state
    delivery.last_error = result.reason[:500]
    if isinstance(result, Failed) or delivery.attempts >= settings.webhook_max_attempts:
        delivery.state = "failed"
    else:
        delivery.next_attempt_at = now + _backoff(settings, delivery.attempts)
    outcome = "failed" if delivery.state == "failed" else "retry"
    session.add(WebhookAttempt(delivery_id=delivery.id, at=now, outcome=outcome, detail=result.reason[:500]))
    log.warning(
        "webhook delivery %s not taken (attempt %s): %s", delivery.id, delivery.attempts, result.reason
    )
    return outcome


def deliver(session: Session, settings: Settings, now: dt.datetime) -> dict[str, Any]:
    """POST the deliveries that are due; each outcome is committed at once (a crash loses at most the answer in
    flight, and the retry carries the same event id and Idempotency-Key)."""
    reader, writer = short_sessions(session)
    with reader() as read:
        due = list(
            read.scalars(
                select(WebhookDelivery.id)
                .where(WebhookDelivery.state == "pending", WebhookDelivery.next_attempt_at <= now)
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                .limit(BATCH)
            )
        )
    counts: Counter[str] = Counter()
    if not due:
        return {}
    with open_channel(CHANNEL, settings, writer) as channel:
        for delivery_id in due:
            prepared = _prepare(reader, settings, delivery_id)
            if prepared is None:
                continue
            result = channel.send(prepared) if isinstance(prepared, Message) else prepared
            with writer() as write, write.begin():
                delivery = write.get(WebhookDelivery, delivery_id)
                if delivery is not None and delivery.state == "pending":
                    counts[record(write, delivery, result, settings, now)] += 1
    return dict(counts)
