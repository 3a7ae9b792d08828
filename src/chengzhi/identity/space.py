"""A resident's own space: everything they submitted through any channel, their notification preferences, and the
personal-information rights of PIPL: see, export (JSON and CSV), correct and delete their data, each traced in
`data_rights_events` (what was done and when; field names and counts, never the data itself)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.db import utcnow
from chengzhi.errors import Invalid
from chengzhi.identity import sharing
from chengzhi.identity.models import DataRightsEvent, UserIdentity, VerificationCode
from chengzhi.identity.service import identities_of
from chengzhi.notify import service as notify
from chengzhi.open311 import accounts as open311_accounts
from chengzhi.org import passkeys as org_passkeys
from chengzhi.org import service as org
from chengzhi.org import sessions as org_sessions
from chengzhi.org.models import User
from chengzhi.requests import queries as request_queries
from chengzhi.requests import service as requests_service
from chengzhi.requests.models import Request

# The choices of the resident's own space, over the notify domain's preferences (channels, muted kinds).
DEFAULT_CHOICES: dict[str, bool] = {"sms": True, "email": True, "progress": True, "closure": True}
PROGRESS_KINDS = ("dispatched", "reopened")
CLOSURE_KINDS = ("replied", "rate")
CSV_DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


def record(session: Session, user_id: int, action: str, **details: Any) -> DataRightsEvent:
    event = DataRightsEvent(user_id=user_id, action=action, at=utcnow(), details=details, anonymised=False)
    session.add(event)
    session.flush()
    return event


def trace_of(session: Session, user_id: int) -> list[DataRightsEvent]:
    return list(
        session.scalars(
            select(DataRightsEvent).where(DataRightsEvent.user_id == user_id).order_by(DataRightsEvent.id)
        )
    )


def my_requests(session: Session, user: User) -> list[Request]:
    """The person's requests from every channel: by account, by verified phone number or e-mail address
    (unverified ones match nothing: anyone can type a phone number into a form), and by the app accounts linked to
    them on proof (Open311: a vouching client's (client, account_id) pair, `open311.accounts`)."""
    phone = user.phone if user.phone_verified_at is not None else None
    email = user.email if user.email_verified_at is not None else None
    linked = open311_accounts.linked_request_ids(session, user.id)
    return request_queries.requests_of_person(session, user.id, phone, email, linked_ids=linked)


def preferences(session: Session, user_id: int) -> dict[str, bool]:
    chosen = notify.preferences_of(session, user_id)
    return {
        "sms": "sms" in chosen.channels,
        "email": "email" in chosen.channels,
        "progress": not set(PROGRESS_KINDS) & set(chosen.muted),
        "closure": not set(CLOSURE_KINDS) & set(chosen.muted),
    }


def set_preferences(session: Session, user_id: int, choices: dict[str, bool]) -> dict[str, bool]:
    chosen = notify.preferences_of(session, user_id)
    channels = [c for c in chosen.channels if c not in ("sms", "email")]
    channels += [c for c in ("sms", "email") if choices.get(c)]
    muted = [k for k in chosen.muted if k not in PROGRESS_KINDS + CLOSURE_KINDS]
    muted += [] if choices.get("progress") else list(PROGRESS_KINDS)
    muted += [] if choices.get("closure") else list(CLOSURE_KINDS)
    notify.set_preferences(session, user_id, channels, muted, utcnow())
    session.flush()
    return preferences(session, user_id)


def verified_addresses(user: User) -> list[str]:
    return [
        a
        for a, at in ((user.phone, user.phone_verified_at), (user.email, user.email_verified_at))
        if a and at is not None
    ]


def gather(session: Session, settings: Settings, user: User) -> dict[str, Any]:
    """Everything the platform holds about the person, as plain data (the export, and the page's "see")."""
    found = my_requests(session, user)
    timelines = request_queries.timelines_of(session, [r.id for r in found])
    messages = notify.person_notifications(
        session,
        settings,
        user.language,
        user_id=user.id,
        addresses=verified_addresses(user),
        request_ids=[r.id for r in found],
    )
    by_request: dict[str, list[dict[str, Any]]] = {}
    for m in messages:
        by_request.setdefault(m["reference"], []).append(m)
    return {
        "profile": {
            "username": user.username,
            "display_name": user.display_name,
            "phone": user.phone,
            "email": user.email,
            "language": user.language,
            "created_at": user.created_at.isoformat(),
            "phone_verified_at": _iso(user.phone_verified_at),
            "email_verified_at": _iso(user.email_verified_at),
            "real_name_verified_at": _iso(user.real_name_verified_at),
            "identity_level": org.identity_level(user),
        },
        "identities": [
            {
                "provider": i.provider,
                "issuer": i.issuer,
                "subject": i.subject,
                "linked_at": _iso(i.created_at),
            }
            for i in identities_of(session, user.id)
        ],
        "app_accounts": [
            {
                "id": a.id,
                "client": a.client,
                "account_id": a.account_id,
                "proved_by": a.proof,
                "linked_at": _iso(a.linked_at),
                "requests": a.requests,
            }
            for a in open311_accounts.links_of(session, user.id)
        ],
        "sessions": [
            {
                "created_at": _iso(s.created_at),
                "last_seen_at": _iso(s.last_seen_at),
                "user_agent": s.user_agent,
                "network": s.ip_prefix,
                "method": s.method,
            }
            for s in org_sessions.sessions_of(session, user.id, settings)
        ],
        "passkeys": [
            {"name": p.name, "created_at": _iso(p.created_at), "last_used_at": _iso(p.last_used_at)}
            for p in org_passkeys.passkeys_of(session, user.id)
        ],
        "notification_preferences": preferences(session, user.id),
        "requests": [
            {
                "tracking_number": r.tracking_number,
                "channel": r.channel,
                "received_at": _iso(r.received_at),
                "title": r.title,
                "text": r.text,
                "address": r.address,
                "contact_name": r.contact_name,
                "contact_phone": r.contact_phone,
                "contact_email": r.contact_email,
                "status": r.status,
                "reply": r.reply_text,
                "resolved": r.resolved,
                "satisfaction": r.satisfaction,
                "timeline": [{"action": a, "at": _iso(at)} for a, at in timelines.get(r.id, [])],
                "notifications": [_message(m) for m in by_request.get(r.tracking_number, [])],
            }
            for r in found
        ],
        "notifications": [_message(m) for m in messages],
        "sharing": sharing.consent_of(session, user.id),
        "detail_views": [
            {"at": _iso(v.at), "request": v.tracking_number, "unit": v.unit, "fields": list(v.fields)}
            for v in sharing.views_of_resident(session, user.id, user.language)
        ],
        "data_rights_trace": [
            {"action": e.action, "at": _iso(e.at), "details": e.details} for e in trace_of(session, user.id)
        ],
    }


def _message(m: dict[str, Any]) -> dict[str, Any]:
    return {
        "at": _iso(m["sent_at"] or m["created_at"]),
        "channel": m["channel"],
        "to": m["recipient"],
        "request": m["reference"],
        "subject": m["subject"],
        "text": m["text"],
        "state": m["state"],
    }


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def export_json(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2)


def _cell(value: Any) -> str:
    """A CSV cell a spreadsheet shows as text, never runs as a formula."""
    text = (
        ""
        if value is None
        else (json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else str(value))
    )
    return "'" + text if text.startswith(CSV_DANGEROUS) else text


def export_csv(data: dict[str, Any]) -> str:
    """One table with columns section, item, field, value: the same content as the JSON export."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["section", "item", "field", "value"])
    for field_name, value in data["profile"].items():
        writer.writerow(["profile", "", field_name, _cell(value)])
    for section in (
        "identities",
        "app_accounts",
        "sessions",
        "requests",
        "notifications",
        "detail_views",
        "data_rights_trace",
    ):
        for index, item in enumerate(data[section], start=1):
            for field_name, value in item.items():
                writer.writerow([section, index, field_name, _cell(value)])
    for section in ("notification_preferences", "sharing"):
        for field_name, value in data[section].items():
            writer.writerow([section, "", field_name, _cell(value)])
    return out.getvalue()


@dataclass(frozen=True)
class Correction:
    display_name: str | None = None
    language: str | None = None


def correct(session: Session, user: User, change: Correction) -> list[str]:
    """Correct the person's own details (phone numbers and e-mail addresses are changed by verifying new ones);
    returns the fields changed, traced."""
    changed = []
    if change.display_name is not None:
        name = change.display_name.strip()
        if not name or len(name) > 120:
            raise Invalid("validation_failed", details="display_name: 1 to 120 characters")
        if name != user.display_name and user.real_name_verified_at is not None:
            # A real name verified by an identity provider is what units may rely on: it changes there.
            raise Invalid("name_verified_by_provider")
        if name != user.display_name:
            user.display_name = name
            changed.append("display_name")
    if change.language is not None and change.language != user.language:
        if change.language not in ("zh", "en"):
            raise Invalid("validation_failed", details="language: zh or en")
        user.language = change.language
        changed.append("language")
    if changed:
        record(session, user.id, "correct", fields=changed)
    session.flush()
    return changed


def unlink_app_account(session: Session, user: User, link_id: int) -> None:
    """End the link of one of the person's app accounts (its requests leave "My requests"), traced."""
    ended = open311_accounts.unlink(session, user.id, link_id)
    record(session, user.id, "unlink_app", client=ended.client)


def delete_person(session: Session, user: User) -> int:
    """Delete the person's data: their requests stay for the public record with the contact details erased; the
    account becomes an anonymous shell; identities, linked app accounts (and the app account ids kept on their
    requests), codes, preferences, sessions and tokens go. Returns how many
    requests were anonymised. The trace keeps the deletion (with the counts), not the data."""
    found = my_requests(session, user)
    anonymised = requests_service.anonymise_contacts(session, [r.id for r in found])
    identities = len(identities_of(session, user.id))
    for model in (UserIdentity, VerificationCode):
        session.execute(delete(model).where(model.user_id == user.id))
    messages = notify.forget_person(session, user.id, verified_addresses(user), [r.id for r in found])
    app_accounts = open311_accounts.forget_person(session, user.id, [r.id for r in found])
    sharing.forget(session, user.id)
    org.forget_person(session, user)
    record(
        session,
        user.id,
        "delete",
        requests_anonymised=anonymised,
        identities_removed=identities,
        notifications_removed=messages,
        app_accounts_removed=app_accounts,
    )
    return anonymised
