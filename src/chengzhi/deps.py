"""FastAPI dependencies shared by every domain's API: settings, database session, language, current actor."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from functools import lru_cache
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.db import get_engine, get_sessionmaker
from chengzhi.errors import Forbidden, NotAuthenticated
from chengzhi.i18n import Language, negotiate_language
from chengzhi.org.service import ANONYMOUS, Actor, actor_for_token
from chengzhi.org.signin import cookie_actor

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


@lru_cache(maxsize=8)
def _sqlite_writer(url: str) -> Engine:
    return get_engine(url).execution_options(sqlite_begin_immediate=True)


def open_session(request: Request) -> Session:
    """The session of one HTTP request (the caller closes it); endpoints that write commit once, at the end."""
    settings: Settings = request.app.state.settings
    factory = get_sessionmaker(settings.database_url)
    if settings.is_sqlite and request.method not in SAFE_METHODS:
        # A write takes SQLite's write lock at BEGIN (see db._sqlite_begin): a deferred transaction that reads
        # first fails at its first write, without waiting, when another process has committed in between.
        return factory(bind=_sqlite_writer(settings.database_url))
    return factory()


def get_session(request: Request) -> Iterator[Session]:
    with open_session(request) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


async def get_language(request: Request) -> Language:
    return negotiate_language(request, request.app.state.settings.default_language)


LanguageDep = Annotated[Language, Depends(get_language)]


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def get_actor(request: Request, session: SessionDep) -> Actor:
    return actor_of(request, session)


def actor_of(request: Request, session: Session) -> Actor:
    """The caller: a bearer token (API clients), else the server-side session of the cookie (pages), else
    anonymous.

    Cookie-authenticated writes must carry the session's CSRF token in the X-CSRF-Token header (or a form
    field `csrf_token` checked by the page handlers), so that another site cannot act in a user's name.
    """
    token = bearer_token(request)
    if token:
        return actor_for_token(session, token)
    actor = cookie_actor(request, session, request.app.state.settings)
    if actor.is_anonymous:
        return ANONYMOUS
    if request.method not in SAFE_METHODS:
        expected = request.session.get("csrf")
        given = request.headers.get(CSRF_HEADER, "")
        if not expected or not secrets.compare_digest(str(expected), given):
            raise Forbidden("csrf_failed")
    return actor


ActorDep = Annotated[Actor, Depends(get_actor)]


def require_user(actor: ActorDep) -> Actor:
    if actor.is_anonymous:
        raise NotAuthenticated()
    return actor


UserDep = Annotated[Actor, Depends(require_user)]
