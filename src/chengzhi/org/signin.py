"""Signing a browser in and out, for the pages and for `POST /api/v1/auth/session`.

The signed cookie (Starlette's SessionMiddleware) carries the server-side session id (`sessions.COOKIE_KEY`) and
the CSRF token, nothing else of the person. Sign-in starts a new session and clears the cookie's earlier content
(no fixation); a staff member who still owes a second factor gets a short "pending" mark instead
(`PENDING_KEY`: who, until when, where to go next), which only the second-factor pages accept.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from dataclasses import asdict
from typing import Any

from fastapi import Request
from sqlalchemy import bindparam, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.db import get_engine, utcnow
from chengzhi.org import mfa, sessions
from chengzhi.org.models import RoleAssignment, Unit, User, UserSession
from chengzhi.org.queries import user_by_id
from chengzhi.org.service import ANONYMOUS, Actor, Lockout, RoleGrant

PENDING_KEY = "pending"
PENDING_SECONDS = 300
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def lockout(settings: Settings) -> Lockout:
    return Lockout(attempts=settings.login_lockout_attempts, minutes=settings.login_lockout_minutes)


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def _cookie(request: Request) -> dict[str, Any] | None:
    return request.session if "session" in request.scope else None


def cookie_session(request: Request, session: Session, settings: Settings) -> tuple[UserSession, User] | None:
    """The live server-side session of this browser's cookie, and its user (None: not signed in)."""
    cookie = _cookie(request)
    token = cookie.get(sessions.COOKIE_KEY) if cookie is not None else None
    if not token:
        return None
    found = sessions.live_session(session, str(token), settings)
    if found is None:
        if cookie is not None:
            cookie.pop(sessions.COOKIE_KEY, None)
        return None
    record, _user = found
    if sessions.needs_touch(record):
        _touch(request, session, settings, record)
    return found


def _touch(request: Request, session: Session, settings: Settings, record: UserSession) -> None:
    _touch_id(request, session, settings, record.id)


def _touch_id(request: Request, session: Session, settings: Settings, session_id: int) -> None:
    if settings.is_sqlite and request.method not in SAFE_METHODS:
        # This request's transaction holds SQLite's write lock already (deps.get_session): write in it.
        sessions.touch(session.connection(), session_id)
        return
    try:
        with get_engine(settings.database_url).begin() as connection:
            sessions.touch(connection, session_id)
    except OperationalError:
        pass  # busy: the next request records it
    else:
        if settings.is_sqlite:
            # This request's read transaction began before the touch was committed: on its snapshot, a later
            # write of the request (a GET that records something, e.g. the data export) would fail at once with
            # "database is locked". It has written nothing (the touch could not have committed otherwise): end it.
            session.rollback()


_ACTOR_OF_SESSION = (
    select(
        UserSession.id.label("session_id"),
        UserSession.revoked_at,
        UserSession.expires_at,
        UserSession.last_seen_at,
        User.id,
        User.username,
        User.display_name,
        User.active,
        User.phone_verified_at,
        User.email_verified_at,
        User.real_name_verified_at,
        RoleAssignment.role,
        RoleAssignment.unit_id,
        Unit.path,
    )
    .join(User, User.id == UserSession.user_id)
    .outerjoin(RoleAssignment, RoleAssignment.user_id == User.id)
    .outerjoin(Unit, Unit.id == RoleAssignment.unit_id)
    .where(UserSession.token_hash == bindparam("token_hash"))
    .order_by(RoleAssignment.id)
)


def live_actor(
    session: Session, token: str, settings: Settings, now: dt.datetime | None = None
) -> tuple[Actor, dt.datetime] | None:
    """The actor of a live session (the rules of `live_session`) and the session's last use, in one Core query."""
    if not token or len(token) > 200:
        return None
    rows = session.connection().execute(_ACTOR_OF_SESSION, {"token_hash": sessions.token_hash(token)}).all()
    first = rows[0] if rows else None
    now = now or utcnow()
    idle = dt.timedelta(minutes=settings.session_idle_minutes)
    if (
        first is None
        or first.revoked_at is not None
        or first.expires_at <= now
        or first.last_seen_at + idle <= now
        or not first.active
    ):
        return None
    level = (
        2 if first.real_name_verified_at else 1 if (first.phone_verified_at or first.email_verified_at) else 0
    )
    grants = tuple(RoleGrant(r.role, r.unit_id, r.path) for r in rows if r.role is not None)
    actor = Actor(
        user_id=first.id,
        username=first.username,
        display_name=first.display_name,
        grants=grants,
        session_id=first.session_id,
        level=level,
    )
    return actor, first.last_seen_at


def cookie_actor(request: Request, session: Session, settings: Settings) -> Actor:
    """The actor of this browser's session, in one Core query (session, user, roles with their units' paths) and
    without loading ORM objects: this runs on every page and cookie-authenticated API call."""
    cookie = _cookie(request)
    token = cookie.get(sessions.COOKIE_KEY) if cookie is not None else None
    if not token:
        return ANONYMOUS
    found = live_actor(session, str(token), settings)
    if found is None:
        if cookie is not None:
            cookie.pop(sessions.COOKIE_KEY, None)
        return ANONYMOUS
    actor, last_seen = found
    if last_seen + sessions.TOUCH_EVERY <= utcnow() and actor.session_id is not None:
        _touch_id(request, session, settings, actor.session_id)
    return actor


def start(
    request: Request,
    session: Session,
    settings: Settings,
    user: User,
    how: sessions.HowSignedIn,
    *,
    next_url: str = "",
) -> str | None:
    """Sign this browser in as `user` after their first factor: ends the browser's earlier session, clears the
    cookie and either starts the server-side session (returns None) or, when a second factor is owed, marks the
    cookie as pending and returns what is owed ("verify" or "enrol"). Commits."""
    cookie = request.session
    earlier = cookie.get(sessions.COOKIE_KEY)
    if earlier:
        sessions.revoke_token(session, str(earlier), "replaced")
    owed = mfa.needed(session, user, settings, done_by_provider=how.second_factor == "idp")
    cookie.clear()
    cookie["csrf"] = secrets.token_urlsafe(24)
    if owed is not None:
        fields = {k: v for k, v in asdict(how).items() if k != "id_token"}
        cookie[PENDING_KEY] = {
            "uid": user.id,
            "until": time.time() + PENDING_SECONDS,
            "next": next_url,
            "how": fields,
        }
        session.commit()
        return owed
    finish(request, session, settings, user, how)
    return None


def finish(
    request: Request, session: Session, settings: Settings, user: User, how: sessions.HowSignedIn
) -> str:
    """Start the server-side session and put its id in the cookie (with a fresh CSRF token). Commits."""
    token, _record = sessions.start_session(
        session,
        user,
        settings,
        user_agent=request.headers.get("user-agent", ""),
        address=client_address(request),
        how=how,
    )
    session.commit()
    cookie = request.session
    cookie.clear()
    cookie[sessions.COOKIE_KEY] = token
    cookie["csrf"] = secrets.token_urlsafe(24)
    return token


def pending(request: Request, session: Session) -> tuple[User, sessions.HowSignedIn, str] | None:
    """The user whose sign-in waits for a second factor in this browser, how they signed in, and where to go."""
    mark = request.session.get(PENDING_KEY)
    if not isinstance(mark, dict) or float(mark.get("until", 0)) < time.time():
        request.session.pop(PENDING_KEY, None)
        return None
    try:
        user = user_by_id(session, int(mark["uid"]))
        how = sessions.HowSignedIn(**dict(mark.get("how") or {}))
    except (KeyError, TypeError, ValueError):
        return None
    if user is None or not user.active:
        return None
    return user, how, str(mark.get("next") or "")


def sign_out(request: Request, session: Session) -> UserSession | None:
    """End this browser's session on the server and clear its cookie. Commits."""
    token = request.session.get(sessions.COOKIE_KEY)
    record = sessions.revoke_token(session, str(token), "logout") if token else None
    session.commit()
    request.session.clear()
    return record
