"""Notifications written in the transaction of the step that causes them: the step stays quick, the sending job
does the slow part later (docs/channels.md).

Two writers: `write_outbox`, a session-wide `before_flush` hook over new request events (dispatch, reply,
reopen, overdue, supervision), registered at start-up by `chengzhi.reactions`; and `notify_received`, the triage
worker's step for freshly received requests (intake's own transaction stays untouched). Steps older than
`STALE_AFTER` (an import's history, a demo city's past year) notify nobody.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.db import utcnow
from chengzhi.generations import GenerationCache
from chengzhi.notify.models import Notification, NotificationPreference
from chengzhi.notify.texts import CHANNELS
from chengzhi.org import queries as org_queries
from chengzhi.org.models import Unit, User
from chengzhi.participate import service as participate
from chengzhi.requests import queries as requests_queries
from chengzhi.requests.models import Request, RequestEvent
from chengzhi.security.masking import mask_text

STALE_AFTER = dt.timedelta(days=2)
RESIDENT_ACTIONS = {"dispatch": "dispatched", "answer": "replied", "reply": "replied", "reopen": "reopened"}
STAFF_ACTIONS = {"dispatch": "assigned", "mark_overdue": "overdue", "supervise": "supervised"}
STAFF_ROLES = ("handler",)  # who hears about a request their unit holds
T = TypeVar("T")


@dataclass(frozen=True)
class Recipient:
    user_id: int | None
    language: str
    addresses: dict[str, str]  # channel -> address ("" for in-app)


def _preferences(session: Session, user_ids: Iterable[int]) -> dict[int, NotificationPreference]:
    ids = list(set(user_ids))
    if not ids:
        return {}
    query = select(NotificationPreference).where(NotificationPreference.user_id.in_(ids))
    return {p.user_id: p for p in session.scalars(query)}


def _filtered(
    recipient: Recipient, kind: str, preferences: dict[int, NotificationPreference]
) -> Recipient | None:
    """The channels the person accepts for this kind (everything, without a preference row)."""
    chosen = preferences.get(recipient.user_id) if recipient.user_id is not None else None
    if chosen is None:
        return recipient
    if kind in (chosen.muted or []):
        return None
    accepted = set(chosen.channels or CHANNELS)
    return Recipient(
        recipient.user_id,
        recipient.language,
        {c: a for c, a in recipient.addresses.items() if c in accepted},
    )


def resident_of(request: Request, users: dict[int, User]) -> Recipient:
    """The resident: their account (in-app, and its addresses where the request gave none), else the contact
    details given with the request."""
    user = users.get(request.submitter_id) if request.submitter_id is not None else None
    addresses: dict[str, str] = {}
    email = request.contact_email or (user.email if user else None)
    phone = request.contact_phone or (user.phone if user else None)
    if email:
        addresses["email"] = email
    if phone:
        addresses["sms"] = phone
    if user is not None:
        addresses["in_app"] = ""
        return Recipient(user.id, user.language or request.language, addresses)
    return Recipient(None, request.language or "zh", addresses)


def follower(user: User) -> Recipient:
    """Someone following a public request: in-app and e-mail (no SMS for what is not their own request)."""
    addresses = {"in_app": ""}
    if user.email:
        addresses["email"] = user.email
    return Recipient(user.id, user.language or "zh", addresses)


FOLLOWED_KINDS = ("dispatched", "replied", "reopened")


def staff_member(user: User) -> Recipient:
    addresses = {"in_app": ""}
    if user.email:
        addresses["email"] = user.email
    if user.phone:
        addresses["sms"] = user.phone
    return Recipient(user.id, user.language or "zh", addresses)


# Units' names and their handlers change a few times a day: each process keeps them (generations.py: a change
# anywhere empties these caches in every process within `cache_check_seconds`). A dispatch's flush reads two
# queries fewer (docs/channels.md, "What the outbox hooks cost").
_UNIT_NAMES: GenerationCache[dict[str, str] | None] = GenerationCache("units", maxsize=20_000)
_UNIT_STAFF: GenerationCache[tuple[Recipient, ...]] = GenerationCache("auth", maxsize=20_000)


def _unit_names(session: Session, unit_ids: Iterable[int]) -> dict[int, dict[str, str]]:
    wanted = {u for u in unit_ids if u}
    missing = [u for u in wanted if not _UNIT_NAMES.holds(session, u)]
    units = org_queries.units_by_id(session, missing)
    names = {u: _UNIT_NAMES.get(session, u, _given(_names_of(units.get(u)))) for u in wanted}
    return {u: n for u, n in names.items() if n is not None}


def _given(value: T) -> Callable[[], T]:
    """A loader that hands over what the batch's one query found."""
    return lambda: value


def _names_of(unit: Unit | None) -> dict[str, str] | None:
    return {"unit_zh": unit.name_zh, "unit_en": unit.name_en} if unit is not None else None


def _unit_staff(session: Session, unit_ids: Iterable[int]) -> dict[int, tuple[Recipient, ...]]:
    """Unit id -> its handlers as recipients (in-app, and their e-mail and phone)."""
    wanted = set(unit_ids)
    missing = [u for u in wanted if not _UNIT_STAFF.holds(session, u)]
    found = org_queries.unit_staff(session, missing, STAFF_ROLES)
    members = {u: tuple(staff_member(m) for m in found.get(u, [])) for u in missing}
    return {u: _UNIT_STAFF.get(session, u, _given(members.get(u, ()))) for u in wanted}


def _add(
    session: Session,
    existing: set[str],
    recipient: Recipient,
    kind: str,
    request: Request,
    seq: int,
    params: dict[str, Any],
    at: dt.datetime,
    *,
    deferred: bool = False,
) -> None:
    """One notification per channel of the recipient (once: `existing` holds the keys written already). In-app
    messages are delivered by being written, unless `deferred` (the sending job decides when they are due)."""
    who = f"u{recipient.user_id}" if recipient.user_id is not None else "r"
    for channel, address in recipient.addresses.items():
        key = f"{kind}:{request.id}:{seq}:{channel}:{who}"
        if key in existing:
            continue
        existing.add(key)
        delivered = channel == "in_app" and not deferred
        session.add(
            Notification(
                dedup_key=key,
                kind=kind,
                channel=channel,
                user_id=recipient.user_id,
                recipient=address[:200],
                language=recipient.language if recipient.language in ("zh", "en") else "zh",
                request_id=request.id,
                reference=request.tracking_number,
                params=params,
                state="sent" if delivered else "pending",
                attempts=0,
                next_attempt_at=at,
                sent_at=at if delivered else None,
                created_at=at,
            )
        )


def _existing_keys(session: Session, request_ids: Sequence[int], kinds: Sequence[str]) -> set[str]:
    if not request_ids:
        return set()
    query = select(Notification.dedup_key).where(
        Notification.request_id.in_(list(request_ids)), Notification.kind.in_(list(kinds))
    )
    return set(session.scalars(query))


def _params(request: Request, names: dict[int, dict[str, str]], **extra: Any) -> dict[str, Any]:
    unit = names.get(request.lead_unit_id or 0, {"unit_zh": "", "unit_en": ""})
    return {"number": request.tracking_number, "request_id": request.id, **unit, **extra}


def write_outbox(session: Session, _context: Any, _instances: Any) -> None:
    """`before_flush`: the notifications of each new request event that concerns a resident or a unit's staff."""
    events = [
        e
        for e in session.new
        if isinstance(e, RequestEvent)
        and e.request_id is not None
        and (e.action in RESIDENT_ACTIONS or e.action in STAFF_ACTIONS)
    ]
    if not events:
        return
    now = utcnow()
    events = [e for e in events if e.at is None or e.at >= now - STALE_AFTER]
    if not events:
        return
    with session.no_autoflush:
        write_for_events(session, events, now)


def write_for_events(session: Session, events: Sequence[RequestEvent], now: dt.datetime) -> None:
    requests = requests_queries.requests_for_messages(session, {e.request_id for e in events})
    staff = _unit_staff(session, {r.lead_unit_id for r in requests.values() if r.lead_unit_id is not None})
    followers = participate.followers_of(session, list(requests))
    people = org_queries.users_by_id(
        session,
        {r.submitter_id for r in requests.values() if r.submitter_id is not None}
        | {u for ids in followers.values() for u in ids},
    )
    submitters = people
    preferences = _preferences(
        session,
        [*people, *(m.user_id for members in staff.values() for m in members if m.user_id is not None)],
    )
    names = _unit_names(session, [r.lead_unit_id or 0 for r in requests.values()])
    existing = _existing_keys(
        session, list(requests), [*RESIDENT_ACTIONS.values(), *STAFF_ACTIONS.values(), "rate"]
    )
    for e in events:
        request = requests.get(e.request_id)
        if request is None:
            continue
        at = e.at or now
        payload = e.payload or {}
        resident = resident_of(request, submitters)
        kind = RESIDENT_ACTIONS.get(e.action)
        if kind is not None:
            params = _params(request, names, reply=(request.reply_text or "")[:2000])
            chosen = _filtered(resident, kind, preferences)
            if chosen is not None:
                _add(session, existing, chosen, kind, request, e.seq, params, at)
            rating = _filtered(resident, "rate", preferences)
            if kind == "replied" and rating is not None:
                _add(session, existing, rating, "rate", request, e.seq, params, at, deferred=True)
            # A follower is anyone signed in: they read the reply as the public does (masked).
            shown = {**params, "reply": mask_text(params["reply"], public=True, names=[request.contact_name])}
            for user_id in followers.get(request.id, []) if kind in FOLLOWED_KINDS else []:
                if user_id != request.submitter_id and user_id in people:
                    chosen = _filtered(follower(people[user_id]), kind, preferences)
                    if chosen is not None:
                        _add(session, existing, chosen, kind, request, e.seq, shown, at)
        kind = STAFF_ACTIONS.get(e.action)
        if kind is not None:
            params = _params(
                request,
                names,
                deadline=(request.deadlines or {}).get("sign", ""),
                stage=str(payload.get("stage", request.overdue_stage or "")),
                note=(e.note or "")[:500],
            )
            for member in staff.get(request.lead_unit_id or 0, ()):
                chosen = _filtered(member, kind, preferences)
                if chosen is not None:
                    _add(session, existing, chosen, kind, request, e.seq, params, at)


def notify_received(
    session: Session, settings: Settings, requests: Sequence[Request], now: dt.datetime
) -> None:
    """The triage worker's step: tell each freshly received request's resident its tracking number."""
    fresh = [r for r in requests if r.received_at is None or r.received_at >= now - STALE_AFTER]
    if not fresh:
        return
    submitters = org_queries.users_by_id(
        session, {r.submitter_id for r in fresh if r.submitter_id is not None}
    )
    preferences = _preferences(session, submitters)
    existing = _existing_keys(session, [r.id for r in fresh], ["received"])
    for request in fresh:
        chosen = _filtered(resident_of(request, submitters), "received", preferences)
        if chosen is not None:
            _add(session, existing, chosen, "received", request, 1, _params(request, {}), now)


def register() -> None:
    """Write notifications on every session's flush from now on (idempotent)."""
    if not event.contains(Session, "before_flush", write_outbox):
        event.listen(Session, "before_flush", write_outbox)


def unregister() -> None:
    if event.contains(Session, "before_flush", write_outbox):
        event.remove(Session, "before_flush", write_outbox)
