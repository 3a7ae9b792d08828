"""The signed-in person's own account (sessions, password) and administrators' help with others' sessions and
second factors: the API half of docs/identity.md."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from chengzhi.db import MAX_ID
from chengzhi.deps import SessionDep, SettingsDep, UserDep
from chengzhi.errors import Forbidden, NotFound
from chengzhi.org import mfa, schemas, sessions
from chengzhi.org import service as svc
from chengzhi.org.models import Role, User, UserSession

router = APIRouter(prefix="/api/v1", tags=["auth"])

SessionId = Annotated[int, Path(ge=1, le=MAX_ID, description="A session's id (from the list)")]
UserId = Annotated[int, Path(ge=1, le=MAX_ID, description="A user's id")]


def _info(record: UserSession, current: int | None) -> schemas.SessionInfo:
    return schemas.SessionInfo(
        id=record.id,
        created_at=record.created_at,
        last_seen_at=record.last_seen_at,
        expires_at=record.expires_at,
        user_agent=record.user_agent,
        ip_prefix=record.ip_prefix,
        method=record.method,
        second_factor=record.second_factor,
        current=record.id == current,
    )


@router.get("/me/sessions", response_model=list[schemas.SessionInfo], summary="My signed-in browsers")
def my_sessions(session: SessionDep, settings: SettingsDep, actor: UserDep) -> list[schemas.SessionInfo]:
    assert actor.user_id is not None
    return [_info(r, actor.session_id) for r in sessions.sessions_of(session, actor.user_id, settings)]


@router.delete("/me/sessions/{session_id}", status_code=204, summary="End one of my sessions")
def end_my_session(session_id: SessionId, http: Request, session: SessionDep, actor: UserDep) -> None:
    assert actor.user_id is not None
    sessions.revoke_one(session, actor.user_id, session_id, "ended_by_user")
    session.commit()
    if session_id == actor.session_id:
        http.session.clear()


@router.post(
    "/me/sessions/end-all",
    response_model=schemas.SessionsEnded,
    summary="Sign out everywhere (every session of mine, this one included)",
)
def end_all_my_sessions(http: Request, session: SessionDep, actor: UserDep) -> schemas.SessionsEnded:
    assert actor.user_id is not None
    ended = sessions.revoke_all(session, actor.user_id, "signed_out_everywhere")
    session.commit()
    http.session.clear()
    return schemas.SessionsEnded(ended=ended)


@router.put(
    "/me/password",
    response_model=schemas.SessionsEnded,
    summary="Change my password (every other session of mine ends)",
)
def change_password(
    body: schemas.PasswordChange, session: SessionDep, settings: SettingsDep, actor: UserDep
) -> schemas.SessionsEnded:
    user = session.get(User, actor.user_id)
    if user is None:
        raise NotFound()
    ended = svc.change_password(
        session, user, body.current_password, body.new_password, keep_session=actor.session_id
    )
    session.commit()
    return schemas.SessionsEnded(ended=ended)


def _user_in_scope(session: SessionDep, actor: UserDep, user_id: int) -> User:
    """A user an administrator may help: one holding a role in the administrator's subtree."""
    svc.require_role(actor, Role.admin)
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("user_not_found", ref=user_id)
    if not any(actor.covers(r.unit.path, Role.admin) for r in user.roles):
        raise Forbidden("out_of_scope")
    return user


@router.get(
    "/users/{user_id}/sessions",
    response_model=list[schemas.SessionInfo],
    summary="A user's signed-in browsers (admin)",
)
def user_sessions(
    user_id: UserId, session: SessionDep, settings: SettingsDep, actor: UserDep
) -> list[schemas.SessionInfo]:
    user = _user_in_scope(session, actor, user_id)
    return [_info(r, actor.session_id) for r in sessions.sessions_of(session, user.id, settings)]


@router.delete(
    "/users/{user_id}/sessions/{session_id}", status_code=204, summary="End a user's session (admin)"
)
def end_user_session(user_id: UserId, session_id: SessionId, session: SessionDep, actor: UserDep) -> None:
    user = _user_in_scope(session, actor, user_id)
    sessions.revoke_one(session, user.id, session_id, "ended_by_admin")
    session.commit()


@router.delete(
    "/users/{user_id}/sessions",
    response_model=schemas.SessionsEnded,
    summary="End every session of a user (admin)",
)
def end_user_sessions(user_id: UserId, session: SessionDep, actor: UserDep) -> schemas.SessionsEnded:
    user = _user_in_scope(session, actor, user_id)
    ended = sessions.revoke_all(session, user.id, "ended_by_admin")
    session.commit()
    return schemas.SessionsEnded(ended=ended)


@router.delete(
    "/users/{user_id}/second-factor",
    status_code=204,
    summary="Remove a user's second factor (a lost phone; they enrol again at next sign-in) (admin)",
)
def reset_second_factor(user_id: UserId, session: SessionDep, actor: UserDep) -> None:
    user = _user_in_scope(session, actor, user_id)
    mfa.reset(session, user)
    sessions.revoke_all(session, user.id, "second_factor_reset")
    session.commit()
