"""Intake: a new request received (tracking number, triage, its hub), and dispatched at once when the category
model is sure of it.

Callers own the transaction (the API commits once per call; the demo and the importer batch many steps);
functions here add and flush, never commit.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.categories.models import Category
from chengzhi.categories.service import category_copy_for_intake, category_for_intake, validate_answers
from chengzhi.config import Settings
from chengzhi.db import utcnow
from chengzhi.errors import Conflict, Forbidden, Invalid, NotAuthenticated, NotFound
from chengzhi.idempotency import IdempotencySlot
from chengzhi.org import levels
from chengzhi.org.models import Role, Unit
from chengzhi.org.service import Actor, city_hub_copy
from chengzhi.requests import intake_sql, queue
from chengzhi.requests.log import event_values, projection
from chengzhi.requests.models import Request
from chengzhi.requests.workflow import Action, Step, WorkflowState
from chengzhi.requests.workflow import apply as apply_step
from chengzhi.routing.rules import area_index

CHANNELS = ("web", "phone", "app", "open311", "import", "feed", "email")
STAFF_CHANNELS = ("phone", "import", "feed", "email")


@dataclass
class Submission:
    text: str
    channel: str = "web"
    title: str = ""
    category_code: str | None = None
    priority: str | None = None
    lat: float | None = None
    lon: float | None = None
    address: str | None = None
    contact_name: str | None = None
    contact_phone: str | None = None
    contact_email: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    language: str = "zh"
    source: str = "chengzhi"
    external_id: str | None = None


def new_tracking_number(now: dt.datetime) -> str:
    """Digits only, so that it reads well over the phone: YYMMDD + 8 random digits."""
    return now.strftime("%y%m%d") + f"{secrets.randbelow(10**8):08d}"


def _phone_last4(phone: str | None) -> str | None:
    digits = "".join(ch for ch in phone or "" if ch.isdigit())
    return digits[-4:] if len(digits) >= 4 else None


@dataclass
class Received:
    """A request `receive` wrote: its row (every column, the id and tracking number included), its category (the
    cached copy: read it, never change it nor add it to a session), the path of its hub and, if asked for, the
    acknowledgement's JSON text."""

    row: dict[str, Any]
    category: Category | None
    hub_path: str
    acknowledgement: str = ""


@dataclass(frozen=True)
class Acknowledgement:
    """The answer written with the request: `render(received)` gives its JSON text before and after the new
    request's id (it is called before the insert: the row has no id yet). With a `slot` (an Idempotency-Key) the
    answer is saved for retries in the same statement as the request."""

    render: Callable[[Received], tuple[str, str]]
    slot: IdempotencySlot | None = None
    status_code: int = 201


def submit_request(
    session: Session,
    actor: Actor,
    data: Submission,
    settings: Settings,
    now: dt.datetime | None = None,
    *,
    receiving_unit: Unit | None = None,
    check_location: bool = True,
) -> Request:
    """`receive`, and the new request as the session's persistent object (for callers that go on with it)."""
    received = receive(
        session, actor, data, settings, now, receiving_unit=receiving_unit, check_location=check_location
    )
    category = category_for_intake(session, received.category.code) if received.category else None
    request = Request(**received.row, category=category)
    intake_sql.attach(session, request, received.row["id"])
    return request


def receive(
    session: Session,
    actor: Actor,
    data: Submission,
    settings: Settings,
    now: dt.datetime | None = None,
    *,
    receiving_unit: Unit | None = None,
    check_location: bool = True,
    acknowledgement: Acknowledgement | None = None,
) -> Received:
    """Receive a new request: the request, its first event, its hub and one row of the intake outbox
    (requests/queue.py), nothing else; the triage worker does the rest after the caller commits. Staff channels
    (phone, import, ...) need an operator. Written with Core from plain values (requests/intake_sql.py): no ORM
    object is made (the API's intake answers from the row)."""
    now = now or utcnow()
    if data.channel not in CHANNELS:
        raise Invalid("validation_failed", details=f"channel must be one of {', '.join(CHANNELS)}")
    if data.channel in STAFF_CHANNELS and not actor.has_role(Role.operator, Role.admin, Role.dispatcher):
        if actor.is_anonymous:
            raise NotAuthenticated()
        raise Forbidden("forbidden_role", roles="operator")
    if data.channel not in STAFF_CHANNELS and not actor.is_staff:
        # A city may ask residents for a verified phone (or more) before they report (settings: identity_levels).
        levels.require_level(actor, settings, "submit")
    category: Category | None = None
    answers: dict[str, Any] = {}
    if data.category_code:
        category = category_copy_for_intake(session, data.category_code)
        if not category.active:
            raise NotFound("category_not_found", ref=data.category_code)
        answers = validate_answers(category, data.attributes, enforce_required=data.channel != "import")
    if data.lat is None and data.lon is None:
        if not data.address and data.channel not in STAFF_CHANNELS:
            raise Invalid("location_required")
    elif data.lat is None or data.lon is None:
        raise Invalid("location_required")
    elif check_location and not area_index(session).inside_city(data.lat, data.lon):
        raise Invalid("location_outside_city")
    if actor.is_anonymous and not actor.is_staff and not (data.contact_phone or data.contact_email):
        raise Invalid("contact_required")
    if data.priority == "emergency" and not actor.is_staff:
        # Emergency clocks run in minutes and page people: staff set them, and the triage worker from the words
        # (routing/urgency.py); a resident, or a stranger, describes the danger instead.
        raise Invalid("priority_staff_only")
    priority = data.priority or (category.default_priority.value if category else "normal")
    hub = receiving_unit or city_hub_copy(session)
    given: dict[str, Any] = {
        "title": data.title.strip()[:200] or data.text.strip()[:30],
        "text": data.text,
        "channel": data.channel,
        "language": data.language,
        "category_id": category.id if category else None,
        "priority": priority,
        "lat": data.lat,
        "lon": data.lon,
        "address": data.address,
        "contact_name": data.contact_name,
        "contact_phone": data.contact_phone,
        "contact_email": data.contact_email,
        "phone_last4": _phone_last4(data.contact_phone),
        "submitter_id": actor.user_id if actor.has_role(Role.resident) or not actor.is_staff else None,
        "receiving_unit_id": hub.id,
        "attributes": answers,
        "source": data.source,
        "external_id": data.external_id,
        "received_at": now,
        # Urgency, place, category, duplicates and automatic dispatch come from the triage worker
        # (chengzhi/worker), after the 201: the request says "being triaged" until then.
        "triage_pending": True,
    }
    # The receive step is projected before the row is first written, so that intake is one INSERT, no UPDATE.
    payload = {"channel": data.channel}
    given.update(projection(apply_step(WorkflowState(updated_at=now), Step(Action.receive, now, payload))))
    received = Received(row=intake_sql.row(intake_sql.REQUESTS, given), category=category, hub_path=hub.path)
    request_row = received.row
    hub_row = intake_sql.row(intake_sql.UNITS, {"unit_id": hub.id, "unit_path": hub.path, "role": "hub"})
    event = event_values(None, actor, Action.receive, now, seq=request_row["event_count"], payload=payload)
    # A priority staff chose stands against an emergency the worker finds in the text.
    outbox = queue.row(now, keep_priority=bool(data.priority and actor.is_staff))
    connection = session.connection()
    new_id: int | None = None
    text = ("", "")
    for attempt in range(5):
        request_row["tracking_number"] = new_tracking_number(now)
        saved = None
        if acknowledgement is not None:
            text = acknowledgement.render(received)
            slot = acknowledgement.slot
            if slot is not None:
                saved = intake_sql.Saved(
                    slot.principal, slot.key, slot.fingerprint, acknowledgement.status_code, *text
                )
        new_id = intake_sql.insert_new(connection, request_row, hub_row, event, outbox, saved)
        if new_id is not None:
            break
        if attempt == 4 or (data.external_id and _external_exists(session, data.source, data.external_id)):
            raise Conflict("conflict", details="duplicate request")
    assert new_id is not None
    request_row["id"] = new_id
    if acknowledgement is not None:
        received.acknowledgement = f"{text[0]}{new_id}{text[1]}"
    return received


def _external_exists(session: Session, source: str, external_id: str) -> bool:
    query = select(Request.id).where(Request.source == source, Request.external_id == external_id)
    return session.scalar(query) is not None
