"""What the triage worker (chengzhi/worker) does to requests: the requests domain's side of triage.

The worker reads a new request's text through routing (urgency, place, category, duplicates) and asks this module
to act on what it found: an emergency's priority, automatic dispatch, and the end of "being triaged". Everything
here runs in the worker's transaction, after intake committed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from chengzhi.categories.models import Priority
from chengzhi.config import Settings
from chengzhi.i18n import phrase_from_json, render
from chengzhi.org import queries as org_queries
from chengzhi.org.models import UnitKind
from chengzhi.requests.log import SYSTEM
from chengzhi.requests.models import Request, RequestEvent
from chengzhi.requests.steps import dispatch_step
from chengzhi.requests.workflow import Status
from chengzhi.routing import triage
from chengzhi.routing.triage_models import RequestTriage


def pending_triage(session: Session, request_ids: Sequence[int]) -> list[Request]:
    """The requests among these still being triaged, in id order, locked for the worker's transaction (a
    request done by an earlier attempt is left out: triage is idempotent per request)."""
    if not request_ids:
        return []
    query = (
        select(Request)
        .where(Request.id.in_(sorted(set(request_ids))), Request.triage_pending.is_(True))
        .order_by(Request.id)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=Request)
    return list(session.scalars(query))


def pending_texts(session: Session, request_ids: Sequence[int]) -> list[tuple[int, str, str]]:
    """(id, title, text) of the requests among these still being triaged and not yet emergencies: what the
    worker's emergency lane reads (no lock)."""
    if not request_ids:
        return []
    query = (
        select(Request.id, Request.title, Request.text)
        .where(
            Request.id.in_(sorted(set(request_ids))),
            Request.triage_pending.is_(True),
            Request.priority != Priority.emergency.value,
        )
        .order_by(Request.id)
    )
    return [(row.id, row.title, row.text) for row in session.execute(query)]


def flag_emergencies(session: Session, request_ids: Sequence[int]) -> list[int]:
    """The emergency lane's write: these requests get the emergency priority now, before the rest of their
    triage. On PostgreSQL, requests a triage batch holds right now are skipped (that batch flags them itself
    when it commits). Returns the ids flagged."""
    if not request_ids:
        return []
    lock = (
        select(Request.id)
        .where(Request.id.in_(sorted(set(request_ids))), Request.triage_pending.is_(True))
        .where(Request.priority != Priority.emergency.value)
    )
    if session.get_bind().dialect.name == "postgresql":
        lock = lock.with_for_update(skip_locked=True)
    ids = list(session.scalars(lock))
    if ids:
        session.execute(
            update(Request).where(Request.id.in_(ids)).values(priority=Priority.emergency.value),
            execution_options={"synchronize_session": False},
        )
    return ids


def make_emergency(session: Session, request: Request) -> None:
    """The text says emergency: the request gets the emergency priority, and with it the emergency time limits
    when it is dispatched (a request already dispatched keeps its deadlines; the dispatcher sees the flag)."""
    request.priority = Priority.emergency.value


def triage_done(session: Session, request: Request, now: dt.datetime) -> None:
    request.triage_pending = False
    request.triaged_at = now


def auto_dispatch(
    session: Session,
    request: Request,
    found: triage.Found,
    stored: RequestTriage | None,
    settings: Settings,
    now: dt.datetime,
) -> RequestEvent | None:
    """Dispatches a new request without a person when the category model is sure of its category (at or above
    the category's threshold), the resident chose no other category, it is not an emergency (a person looks at
    every emergency at once), and the routing rules give a unit that can take it. Run by the triage worker."""
    classified = found.classified
    if classified is None or not classified.sure or found.urgent:
        return None
    if request.status != Status.received.value:
        return None  # a person dispatched (or answered) it while it was being triaged: theirs stands
    category = classified.first
    if request.category is not None and request.category.id != category.id:
        return None
    # The triage row the worker just added (pending: a query would not find it) is what the rules read.
    suggestion = triage.suggestion_with(session, request, stored, category=category)
    if suggestion.unit_id is None:
        return None
    unit = org_queries.unit_by_id(session, suggestion.unit_id)
    if unit is None or not unit.active or unit.kind == UnitKind.city:
        return None
    # Whether the category is a person's (the resident chose the model's choice) or the model's alone: retraining
    # compares models only on categories people gave (registry.retrain).
    resident_chose = request.category is not None
    request.category_id, request.category = category.id, category
    auto = {
        "resident_chose": resident_chose,
        "model_version": classified.version,
        "probability": round(classified.top[0][1], 4),
        # Why this unit, as a message with its parameters (chengzhi.i18n.Phrase), rendered when it is read.
        "reason": suggestion.why.to_json(),
    }
    # Only the receive step so far: only the hub holds it, and the holders need not be read.
    fresh = request.event_count == 1
    return dispatch_step(
        session, SYSTEM, request, unit.id, settings, (), None, now, extra={"auto": auto}, fresh=fresh
    )


def auto_dispatch_reason(auto: object, lang: str) -> str | None:
    """Why an automatic dispatch chose its unit, in `lang`, from its event's `payload["auto"]`: the stored message
    (`reason`), or, in events written before the catalogues held these reasons, the text stored in each language
    (`reason_zh` / `reason_en`). None when the event says nothing readable."""
    if not isinstance(auto, dict):
        return None
    if "reason" in auto:
        try:
            return render(phrase_from_json(auto["reason"]), lang)
        except ValueError:
            return None
    stored = auto.get("reason_en" if lang == "en" else "reason_zh")
    return stored if isinstance(stored, str) else None
