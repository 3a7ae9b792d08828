"""Retention: N months after a request is closed (`CHENGZHI_RETENTION_MONTHS`), its personal data are removed.

What goes: the contact name, phone, e-mail and the phone's last four digits; the link to the submitter's account;
in the title, text, reply, address, attributes and in every event's note and payload, the phone and ID-card
numbers, e-mail addresses and names `chengzhi.security.masking` finds (as on public pages, with the contact name
given at intake masked wherever it appears). What stays: the tracking number, category, place (coordinates),
units, times and the shape of the event log, so that statistics and the three rates do not change. The request
is marked `anonymised_at`; the job (`retention`, every scheduler round) takes 200 requests per batch.

The event log is otherwise append-only: retention is the one rewrite, and it keeps `workflow.fold` equal to the
projection (the reply text is masked the same way in both).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.requests.models import Request, RequestEvent
from chengzhi.security.masking import mask_text

BATCH = 200
# Payload values that are free text: masked as on public pages (other values only where they hold contact data).
FREE_TEXT_KEYS = frozenset({"text", "note", "reason", "comment", "message", "reply"})


def months_before(now: dt.datetime, months: int) -> dt.datetime:
    """The same day and time `months` calendar months earlier (the month's last day when it is shorter)."""
    index = now.year * 12 + now.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    for day in range(now.day, 27, -1):
        try:
            return now.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    return now.replace(year=year, month=month, day=min(now.day, 28))


def _masked(value: Any, names: list[str | None], public: bool) -> Any:
    if isinstance(value, str):
        return mask_text(value, public=public, names=names)
    if isinstance(value, dict):
        return {k: _masked(v, names, public or k in FREE_TEXT_KEYS) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v, names, public) for v in value]
    return value


def anonymise(session: Session, request: Request, now: dt.datetime) -> None:
    """Remove one request's personal data (see the module's docstring)."""
    names = [request.contact_name]
    request.title = mask_text(request.title, public=True, names=names) or ""
    request.text = mask_text(request.text, public=True, names=names) or ""
    request.reply_text = mask_text(request.reply_text, public=True, names=names)
    request.address = mask_text(request.address, public=True, names=names)
    request.attributes = _masked(dict(request.attributes or {}), names, False)
    request.contact_name = request.contact_phone = request.contact_email = request.phone_last4 = None
    request.submitter_id = None
    request.anonymised_at = now
    events = session.scalars(select(RequestEvent).where(RequestEvent.request_id == request.id))
    for event in events:
        event.note = mask_text(event.note, public=True, names=names)
        event.payload = _masked(dict(event.payload or {}), names, False)


def anonymise_expired(session: Session, settings: Settings, now: dt.datetime) -> dict[str, Any]:
    """The periodic job: anonymise every request closed more than `retention_months` ago."""
    if settings.retention_months <= 0:
        return {"anonymised": 0, "retention": "off"}
    before = months_before(now, settings.retention_months)
    done = 0
    while True:
        batch = list(
            session.scalars(
                select(Request)
                .where(
                    Request.closed_at.is_not(None),
                    Request.anonymised_at.is_(None),
                    Request.closed_at < before,
                    Request.status == "closed",
                )
                .order_by(Request.closed_at, Request.id)
                .limit(BATCH)
            )
        )
        for request in batch:
            anonymise(session, request, now)
        session.flush()
        done += len(batch)
        if len(batch) < BATCH:
            break
    return {"anonymised": done, "closed_before": before.isoformat()}
