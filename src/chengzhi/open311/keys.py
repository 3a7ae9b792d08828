"""API keys for apps that post requests (and, when bound to a unit, push updates): only SHA-256 digests are
stored; each key has its own rate limit."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from limits import parse
from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.db import utcnow
from chengzhi.errors import Conflict, Invalid, NotFound
from chengzhi.open311.models import Open311Key
from chengzhi.org import queries as org_queries
from chengzhi.org.models import Role, Unit, User
from chengzhi.org.service import create_user, set_user_active

KEY_PREFIX = "o311_"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def check_rate_syntax(rate: str) -> str:
    try:
        parse(rate)
    except ValueError:
        raise Invalid("validation_failed", details=f"rate {rate!r}: use the form 60/minute") from None
    return rate


def service_user(session: Session, username: str, display_name: str, unit: Unit) -> User:
    """A service account with the handler role in `unit`, in whose name an outside system moves our workflow.
    It has no password: nobody can sign in with it."""
    return create_user(
        session,
        username=username[:80],
        display_name=display_name[:120],
        password=None,
        roles=[(Role.handler, unit)],
    )


@dataclass(frozen=True)
class NewKey:
    key: str
    record: Open311Key


def create_key(session: Session, name: str, rate: str, unit: Unit | None = None) -> NewKey:
    name = name.strip()
    if not name or len(name) > 80:
        raise Invalid("validation_failed", details="the key's name needs 1-80 characters")
    if session.scalar(select(Open311Key.id).where(Open311Key.name == name)) is not None:
        raise Conflict("code_taken", code=name)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    record = Open311Key(name=name, key_hash=digest(key), prefix=key[:12], rate=check_rate_syntax(rate))
    if unit is not None:
        user = service_user(session, f"open311-key-{name}", f"Open311 {name}", unit)
        record.unit_id, record.user_id = unit.id, user.id
    session.add(record)
    session.flush()
    return NewKey(key, record)


def list_keys(session: Session) -> list[Open311Key]:
    return list(session.scalars(select(Open311Key).order_by(Open311Key.id)))


def revoke_key(session: Session, name: str, now: dt.datetime | None = None) -> Open311Key:
    record = session.scalar(select(Open311Key).where(Open311Key.name == name))
    if record is None:
        raise NotFound("not_found")
    if record.revoked_at is None:
        record.revoked_at = now or utcnow()
        if record.user_id is not None:
            user = org_queries.user_by_id(session, record.user_id)
            if user is not None:
                set_user_active(session, user, False)
    session.flush()
    return record


def key_for(session: Session, key: str | None) -> Open311Key | None:
    """The live key record for `key`, or None (missing, unknown or revoked)."""
    if not key:
        return None
    record = session.scalar(select(Open311Key).where(Open311Key.key_hash == digest(key.strip())))
    if record is None or record.revoked_at is not None:
        return None
    return record
