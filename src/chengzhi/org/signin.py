"""Signing a browser in and out, for the pages and for `POST /api/v1/auth/session`.

The signed cookie (Starlette's SessionMiddleware) carries the server-side session id (`sessions.COOKIE_KEY`) and
the CSRF token, nothing else of the person. Sign-in starts a new session and clears the cookie's earlier content
(no fixation); a staff member who still owes a second factor gets a short "pending" mark instead
(`PENDING_KEY`: who, until when, where to go next), which only the second-factor pages accept.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import asdict
from typing import Any

from fastapi import Request
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.db import get_engine, utcnow
from chengzhi.org import mfa, sessions
from chengzhi.org.models import User, UserSession
from chengzhi.org.queries import user_by_id
from chengzhi.org.service import ANONYMOUS, Actor, Lockout, actor_for

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
    if settings.is_sqlite and request.method not in SAFE_METHODS:
        # This request's transaction holds SQLite's write lock already (deps.get_session): write in it.
        record.last_seen_at = utcnow()
        return
    try:
        with get_engine(settings.database_url).begin() as connection:
            sessions.touch(connection, record.id)
    except OperationalError:
        pass  # busy: the next request records it


def cookie_actor(request: Request, session: Session, settings: Settings) -> Actor:
    found = cookie_session(request, session, settings)
    if found is None:
        return ANONYMOUS
    record, user = found
    return actor_for(user, record.id)


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
