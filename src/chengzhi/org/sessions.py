"""Sessions on the server: the browser's cookie carries a random session id; `user_sessions` keeps only its SHA-256.

A session starts at sign-in (a new id every time: an id planted before sign-in is never promoted, so session
fixation is impossible), is seen on each request, and ends when its user signs out, changes their password, is
deactivated, signs out everywhere, or an administrator ends it; also after `session_idle_minutes` without use and
`session_max_hours` after sign-in. Sessions are listed with their browser and network so that a person can
recognise, and end, one that is not theirs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import secrets
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.db import utcnow
from chengzhi.errors import NotFound
from chengzhi.org.models import User, UserSession

# The key of the session id in the signed cookie (Starlette's SessionMiddleware).
COOKIE_KEY = "sid"
# Last-seen times are written at most once a minute per session (a read of a page is not a write).
TOUCH_EVERY = dt.timedelta(seconds=60)


@dataclass(frozen=True)
class HowSignedIn:
    """What a new session records about the sign-in."""

    method: str = "password"
    acr: str | None = None
    amr: str | None = None
    second_factor: str | None = None
    id_token: str | None = None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def ip_prefix(address: str | None) -> str:
    """The client's network, not its address (personal data): /24 for IPv4, /48 for IPv6."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return ""
    bits = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{bits}", strict=False))


def start_session(
    session: Session,
    user: User,
    settings: Settings,
    *,
    user_agent: str = "",
    address: str | None = None,
    how: HowSignedIn | None = None,
) -> tuple[str, UserSession]:
    """A new session for `user`: returns the id for the cookie (shown once) and the stored row."""
    how = how or HowSignedIn()
    token = secrets.token_urlsafe(32)
    now = utcnow()
    record = UserSession(
        user_id=user.id,
        token_hash=token_hash(token),
        created_at=now,
        last_seen_at=now,
        expires_at=now + dt.timedelta(hours=settings.session_max_hours),
        user_agent=user_agent[:200],
        ip_prefix=ip_prefix(address),
        method=how.method[:60],
        acr=how.acr[:200] if how.acr else None,
        amr=how.amr[:200] if how.amr else None,
        second_factor=how.second_factor,
        id_token=how.id_token,
    )
    session.add(record)
    session.flush()
    return token, record


_SESSION_OF_TOKEN = (
    select(UserSession, User)
    .join(User, User.id == UserSession.user_id)
    .where(UserSession.token_hash == bindparam("token_hash"))
)


def live_session(
    session: Session, token: str, settings: Settings, now: dt.datetime | None = None
) -> tuple[UserSession, User] | None:
    """The session of this cookie id and its user, if neither ended: not revoked, not expired, not idle too long,
    the user active."""
    if not token or len(token) > 200:
        return None
    row = session.execute(_SESSION_OF_TOKEN, {"token_hash": token_hash(token)}).first()
    if row is None:
        return None
    record, user = row[0], row[1]
    now = now or utcnow()
    idle = dt.timedelta(minutes=settings.session_idle_minutes)
    if record.revoked_at is not None or record.expires_at <= now or record.last_seen_at + idle <= now:
        return None
    if not user.active:
        return None
    return record, user


def needs_touch(record: UserSession, now: dt.datetime | None = None) -> bool:
    return record.last_seen_at + TOUCH_EVERY <= (now or utcnow())


def touch(connection: Connection, session_id: int, now: dt.datetime | None = None) -> None:
    """Record that the session was used (in the caller's own short transaction, not the request's)."""
    connection.execute(
        update(UserSession)
        .where(UserSession.id == session_id, UserSession.revoked_at.is_(None))
        .values(last_seen_at=now or utcnow())
    )


def revoke(session: Session, record: UserSession, reason: str) -> None:
    if record.revoked_at is None:
        record.revoked_at = utcnow()
        record.revoked_reason = reason[:40]
        session.flush()


def revoke_token(session: Session, token: str, reason: str = "logout") -> UserSession | None:
    """End the session of this cookie id (sign-out); returns it (None for an unknown id)."""
    record = session.scalar(select(UserSession).where(UserSession.token_hash == token_hash(token)))
    if record is not None:
        revoke(session, record, reason)
    return record


def revoke_all(session: Session, user_id: int, reason: str, *, keep: int | None = None) -> int:
    """End every live session of a user (but `keep`, the one in use, where given); returns how many."""
    query = update(UserSession).where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
    if keep is not None:
        query = query.where(UserSession.id != keep)
    result = session.execute(
        query.values(revoked_at=utcnow(), revoked_reason=reason[:40]).execution_options(
            synchronize_session=False
        )
    )
    session.expire_all()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def revoke_one(session: Session, user_id: int, session_id: int, reason: str) -> UserSession:
    """End one session of a user (from the list of their sessions): another user's id is not found."""
    record = session.get(UserSession, session_id)
    if record is None or record.user_id != user_id:
        raise NotFound("not_found")
    revoke(session, record, reason)
    return record


def sessions_of(session: Session, user_id: int, settings: Settings) -> list[UserSession]:
    """The user's live sessions, most recently used first."""
    now = utcnow()
    idle_since = now - dt.timedelta(minutes=settings.session_idle_minutes)
    return list(
        session.scalars(
            select(UserSession)
            .where(
                UserSession.user_id == user_id,
                UserSession.revoked_at.is_(None),
                UserSession.expires_at > now,
                UserSession.last_seen_at > idle_since,
            )
            .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
        )
    )


def session_by_id(session: Session, session_id: int) -> UserSession | None:
    return session.get(UserSession, session_id)


def prune(session: Session, before: dt.datetime, _now: dt.datetime) -> dict[str, int]:
    """Retention by age (chengzhi.requests.retention `on_cutoff`): sessions that ended before the cut-off (every
    session ends by `expires_at` at the latest; a revoked one earlier), with their browser and network."""
    due = UserSession.expires_at < before
    if session.scalar(select(UserSession.id).where(due).limit(1)) is None:
        return {}  # a read only: no write lock taken when nothing is due (SQLite)
    done = session.execute(delete(UserSession).where(due))
    return {"sessions_deleted": int(getattr(done, "rowcount", 0) or 0)}
