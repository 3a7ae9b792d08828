"""The Open311 outbox, written in the dispatch's own transaction.

A dispatch event about to be flushed for a unit with an active endpoint brings its delivery row
(`open311_deliveries`) with it: a session-wide `before_flush` hook, so that nothing in the request service needs to
know. The hook is not registered by importing a module: start-up calls `register()` (and tests may call
`unregister()`); both are idempotent.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from chengzhi.open311.models import Open311Delivery, Open311Endpoint
from chengzhi.requests.models import RequestEvent


def write_outbox(session: Session, _context: Any, _instances: Any) -> None:
    """`before_flush`: one delivery row for each new dispatch event to a unit with an active endpoint."""
    dispatches = [o for o in session.new if isinstance(o, RequestEvent) and o.action == "dispatch"]
    if not dispatches:
        return
    with session.no_autoflush:
        # One query per flush that holds dispatches (the demo and imports flush thousands at once).
        endpoints = dict(
            session.execute(
                select(Open311Endpoint.unit_id, Open311Endpoint.id).where(Open311Endpoint.active.is_(True))
            ).all()
        )
    if not endpoints:
        return
    for dispatched in dispatches:
        unit_id = int((dispatched.payload or {}).get("lead_unit_id", 0))
        if unit_id not in endpoints:
            continue
        session.add(
            Open311Delivery(
                request_id=dispatched.request_id,
                event=dispatched,
                endpoint_id=endpoints[unit_id],
                unit_id=unit_id,
                state="pending",
                attempts=0,
                next_attempt_at=dispatched.at,
                created_at=dispatched.at,
            )
        )


def register() -> None:
    """Write the outbox on every session's flush from now on (idempotent)."""
    if not event.contains(Session, "before_flush", write_outbox):
        event.listen(Session, "before_flush", write_outbox)


def unregister() -> None:
    """Stop writing the outbox (idempotent)."""
    if event.contains(Session, "before_flush", write_outbox):
        event.remove(Session, "before_flush", write_outbox)


def registered() -> bool:
    return event.contains(Session, "before_flush", write_outbox)
