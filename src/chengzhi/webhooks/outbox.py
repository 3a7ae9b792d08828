"""Webhook deliveries written in the transaction of the step that raises the event (docs/channels.md).

Request events come from a session-wide `before_flush` hook over new request events (dispatched, replied,
closed) and from the triage worker's step (created: intake's own transaction stays untouched); other domains
raise their events with `service.emit` (alert raised, dataset published). Each event goes to every active
subscription that asked for its type. Steps older than `STALE_AFTER` (imports, the demo's past) raise nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from chengzhi.categories import service as categories_service
from chengzhi.config import Settings
from chengzhi.db import utcnow
from chengzhi.org import queries as org_queries
from chengzhi.requests import queries as requests_queries
from chengzhi.requests.models import Request, RequestEvent
from chengzhi.webhooks.models import WebhookDelivery, WebhookSubscription

STALE_AFTER = dt.timedelta(days=2)
EVENT_TYPES = (
    "request.created",
    "request.dispatched",
    "request.replied",
    "request.closed",
    "alert.raised",
    "dataset.published",
)
ACTIONS = {
    "dispatch": "request.dispatched",
    "answer": "request.replied",
    "reply": "request.replied",
    "close": "request.closed",
}


def _codes(session: Session, requests: Iterable[Request]) -> tuple[dict[int, str], dict[int, str]]:
    """Category and unit codes by id (read by id: inside a flush, a request's relationships may be stale)."""
    chosen = list(requests)
    categories = categories_service.category_codes(session)
    units = org_queries.units_by_id(session, {r.lead_unit_id for r in chosen if r.lead_unit_id is not None})
    return categories, {u.id: u.code for u in units.values()}


def request_data(request: Request, codes: tuple[dict[int, str], dict[int, str]]) -> dict[str, Any]:
    """What a subscriber learns of a request: no contact details, no text (it may name people)."""
    categories, units = codes
    return {
        "tracking_number": request.tracking_number,
        "status": request.status,
        "channel": request.channel,
        "category": categories.get(request.category_id) if request.category_id else None,
        "lead_unit": units.get(request.lead_unit_id) if request.lead_unit_id else None,
        "received_at": request.received_at.isoformat() if request.received_at else None,
        "due_at": request.due_at.isoformat() if request.due_at else None,
    }


def _subscriptions(session: Session) -> list[WebhookSubscription]:
    return list(session.scalars(select(WebhookSubscription).where(WebhookSubscription.active.is_(True))))


def _seen(session: Session, event_ids: Iterable[str]) -> set[str]:
    ids = list(set(event_ids))
    if not ids:
        return set()
    query = select(WebhookDelivery.event_id).where(
        WebhookDelivery.event_id.in_(ids), WebhookDelivery.replay_of.is_(None)
    )
    return set(session.scalars(query))


def enqueue(
    session: Session,
    subscriptions: Sequence[WebhookSubscription],
    seen: set[str],
    event_type: str,
    event_id: str,
    data: dict[str, Any],
    at: dt.datetime,
) -> int:
    """One pending delivery of the event per subscription that wants it (once per event id)."""
    if event_id in seen:
        return 0
    seen.add(event_id)
    body = {"id": event_id, "type": event_type, "occurred_at": at.isoformat(), "data": data}
    written = 0
    for subscription in subscriptions:
        if event_type not in (subscription.events or []):
            continue
        session.add(
            WebhookDelivery(
                subscription_id=subscription.id,
                event_type=event_type,
                event_id=event_id,
                payload=body,
                state="pending",
                attempts=0,
                next_attempt_at=at,
                created_at=at,
            )
        )
        written += 1
    return written


def write_outbox(session: Session, _context: Any, _instances: Any) -> None:
    """`before_flush`: a delivery per subscriber of each new dispatch, reply or close."""
    now = utcnow()
    events = [
        e
        for e in session.new
        if isinstance(e, RequestEvent)
        and e.action in ACTIONS
        and e.request_id is not None
        and (e.at is None or e.at >= now - STALE_AFTER)
    ]
    if not events:
        return
    with session.no_autoflush:
        subscriptions = _subscriptions(session)
        if not subscriptions:
            return
        requests = requests_queries.requests_for_messages(session, {e.request_id for e in events})
        ids = {e: f"{ACTIONS[e.action]}:{e.request_id}:{e.seq}" for e in events}
        seen = _seen(session, ids.values())
        codes = _codes(session, requests.values())
        for e, event_id in ids.items():
            request = requests.get(e.request_id)
            if request is not None:
                data = request_data(request, codes)
                enqueue(session, subscriptions, seen, ACTIONS[e.action], event_id, data, e.at or now)


def request_created(
    session: Session, _settings: Settings, requests: Sequence[Request], now: dt.datetime
) -> None:
    """The triage worker's step: `request.created` for each freshly triaged request."""
    fresh = [r for r in requests if r.received_at is None or r.received_at >= now - STALE_AFTER]
    if not fresh:
        return
    subscriptions = _subscriptions(session)
    if not subscriptions:
        return
    ids = {r.id: f"request.created:{r.id}" for r in fresh}
    seen = _seen(session, ids.values())
    codes = _codes(session, fresh)
    for request in fresh:
        data = request_data(request, codes)
        at = request.received_at or now
        enqueue(session, subscriptions, seen, "request.created", ids[request.id], data, at)


def register() -> None:
    if not event.contains(Session, "before_flush", write_outbox):
        event.listen(Session, "before_flush", write_outbox)


def unregister() -> None:
    if event.contains(Session, "before_flush", write_outbox):
        event.remove(Session, "before_flush", write_outbox)
