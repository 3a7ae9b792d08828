"""REST API of the organisation: sign-in, the current user, units and their areas, users and roles."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from sqlalchemy import or_, select

from chengzhi.db import MAX_ID
from chengzhi.deps import ActorDep, LanguageDep, SessionDep, SettingsDep, UserDep
from chengzhi.errors import Forbidden, NotAuthenticated, NotFound
from chengzhi.org import mfa, schemas, sessions, signin
from chengzhi.org import service as svc
from chengzhi.org.models import Role, RoleAssignment, Unit, UnitKind, User
from chengzhi.org.signals import areas_changed
from chengzhi.ratelimit import check_rate

router = APIRouter(prefix="/api/v1", tags=["organisation"])

UnitId = Annotated[int, Path(ge=1, le=MAX_ID, description="A unit's id")]


def _unit_public(unit: Unit, lang: str) -> schemas.UnitPublic:
    return schemas.UnitPublic(
        id=unit.id,
        code=unit.code,
        name=unit.name(lang),
        name_zh=unit.name_zh,
        name_en=unit.name_en,
        kind=unit.kind,
        parent_id=unit.parent_id,
        path=unit.path,
        function=unit.function,
        has_area=bool(unit.area),
    )


def _user_public(user: User, lang: str) -> schemas.UserPublic:
    return schemas.UserPublic(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        active=user.active,
        roles=[
            schemas.RolePublic(role=r.role, unit_id=r.unit_id, unit_name=r.unit.name(lang))
            for r in user.roles
        ],
    )


def _client(http: Request) -> str:
    return http.client.host if http.client else "unknown"


@router.post(
    "/auth/token", response_model=schemas.TokenPublic, tags=["auth"], summary="Sign in for an API token"
)
def create_token(
    body: schemas.Credentials, http: Request, session: SessionDep, settings: SettingsDep
) -> schemas.TokenPublic:
    check_rate(settings.rate_limit_storage, settings.login_rate, "login", _client(http))
    user = _authenticate(session, settings, body)
    token, record = svc.issue_token(session, user, settings.api_token_days)
    session.commit()
    return schemas.TokenPublic(access_token=token, expires_at=record.expires_at)


@router.delete("/auth/token", status_code=204, tags=["auth"], summary="Revoke the token in use")
def delete_token(http: Request, session: SessionDep, actor: UserDep) -> None:
    header = http.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        svc.revoke_token(session, header[7:].strip())
        session.commit()


@router.post(
    "/auth/session",
    response_model=schemas.SessionPublic,
    tags=["auth"],
    summary="Sign in with a session cookie (pages); returns the CSRF token for writes",
)
def create_session(
    body: schemas.Credentials, http: Request, session: SessionDep, settings: SettingsDep
) -> schemas.SessionPublic:
    check_rate(settings.rate_limit_storage, settings.login_rate, "login", _client(http))
    user = _authenticate(session, settings, body)
    earlier = http.session.get(sessions.COOKIE_KEY)
    if earlier:
        sessions.revoke_token(session, str(earlier), "replaced")
    signin.finish(http, session, settings, user, sessions.HowSignedIn(second_factor=_factor_used(body)))
    return schemas.SessionPublic(csrf_token=http.session["csrf"], username=user.username)


def _factor_used(body: schemas.Credentials) -> str | None:
    return "code" if body.one_time_code else None


def _authenticate(session: SessionDep, settings: SettingsDep, body: schemas.Credentials) -> User:
    """Password, then the second factor where one is owed (given as `one_time_code`); failures are committed (they
    count towards the lock-out) before the error goes back."""
    try:
        user = svc.authenticate(session, body.username, body.password, signin.lockout(settings))
        owed = mfa.needed(session, user, settings)
        if owed == "enrol":
            raise Forbidden("second_factor_enrolment_required")
        if owed == "verify":
            if not body.one_time_code:
                raise NotAuthenticated("second_factor_required")
            mfa.verify(session, user, body.one_time_code, settings, lockout=signin.lockout(settings))
    except NotAuthenticated:
        session.commit()
        raise
    return user


@router.delete(
    "/auth/session", status_code=204, tags=["auth"], summary="Sign out (ends the session on the server)"
)
def delete_session(http: Request, session: SessionDep, actor: ActorDep) -> None:
    signin.sign_out(http, session)


@router.get("/me", response_model=schemas.MePublic, tags=["auth"], summary="Who I am and my roles")
def me(session: SessionDep, actor: UserDep, lang: LanguageDep) -> schemas.MePublic:
    user = session.get(User, actor.user_id)
    if user is None:
        raise NotFound()
    public = _user_public(user, lang)
    return schemas.MePublic(
        id=user.id, username=user.username, display_name=user.display_name, roles=public.roles
    )


@router.get("/units", response_model=list[schemas.UnitPublic], summary="Units of the organisation tree")
def list_units(
    session: SessionDep,
    lang: LanguageDep,
    kind: UnitKind | None = None,
    under: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only this unit's subtree")] = None,
) -> list[schemas.UnitPublic]:
    parent = svc.get_unit(session, under) if under is not None else None
    return [_unit_public(u, lang) for u in svc.list_units(session, kind, parent, with_areas=True)]


@router.get("/units/{unit_id}", response_model=schemas.UnitPublic, summary="One unit")
def read_unit(unit_id: UnitId, session: SessionDep, lang: LanguageDep) -> schemas.UnitPublic:
    return _unit_public(svc.get_unit(session, unit_id), lang)


@router.get("/units/{unit_id}/area", summary="A unit's area as GeoJSON")
def read_area(unit_id: UnitId, session: SessionDep) -> dict[str, object]:

    unit = svc.get_unit(session, unit_id)
    if not unit.area:
        raise NotFound()
    return {
        "type": "Feature",
        "properties": {"id": unit.id, "name": unit.name_zh},
        "geometry": json.loads(unit.area),
    }


def _admin_over(actor: ActorDep, unit: Unit | None) -> None:
    svc.require_role(actor, Role.admin)
    if unit is not None and not actor.covers(unit.path, Role.admin):
        raise Forbidden("out_of_scope")


@router.post("/units", status_code=201, response_model=schemas.UnitPublic, summary="Create a unit (admin)")
def create_unit(
    body: schemas.UnitCreate, session: SessionDep, actor: ActorDep, lang: LanguageDep
) -> schemas.UnitPublic:
    parent = svc.get_unit(session, body.parent_id) if body.parent_id is not None else None
    if parent is None:
        svc.require_role(actor, Role.admin)
        if not actor.holds_at_root(Role.admin):  # only a city's administrators may add a root unit
            raise Forbidden("out_of_scope")
    else:
        _admin_over(actor, parent)
    unit = svc.create_unit(
        session,
        code=body.code,
        name_zh=body.name_zh,
        name_en=body.name_en,
        kind=body.kind,
        parent=parent,
        function=body.function,
        area=body.area,
    )
    session.commit()
    areas_changed()
    return _unit_public(unit, lang)


@router.put(
    "/units/{unit_id}/area", response_model=schemas.UnitPublic, summary="Replace a unit's area (admin)"
)
def put_area(
    unit_id: UnitId, body: schemas.AreaBody, session: SessionDep, actor: ActorDep, lang: LanguageDep
) -> schemas.UnitPublic:
    unit = svc.get_unit(session, unit_id)
    _admin_over(actor, unit)
    svc.set_unit_area(session, unit, body.area)
    session.commit()
    areas_changed()
    return _unit_public(unit, lang)


@router.get(
    "/users", response_model=list[schemas.UserPublic], summary="Users with roles in your units (admin)"
)
def list_users(
    session: SessionDep,
    actor: ActorDep,
    lang: LanguageDep,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[schemas.UserPublic]:
    svc.require_role(actor, Role.admin)
    paths = actor.paths_for(Role.admin)
    query = (
        select(User)
        .join(RoleAssignment, RoleAssignment.user_id == User.id)
        .join(Unit, Unit.id == RoleAssignment.unit_id)
        .distinct()
        .order_by(User.id)
        .offset(offset)
        .limit(limit)
    )
    query = query.where(or_(*(Unit.path.startswith(p) for p in paths)))
    return [_user_public(u, lang) for u in session.scalars(query)]


@router.post("/users", status_code=201, response_model=schemas.UserPublic, summary="Create a user (admin)")
def create_user(
    body: schemas.UserCreate, session: SessionDep, actor: ActorDep, lang: LanguageDep
) -> schemas.UserPublic:
    svc.require_role(actor, Role.admin)
    roles = []
    for grant in body.roles:
        unit = svc.get_unit(session, grant.unit_id)
        _admin_over(actor, unit)
        roles.append((grant.role, unit))
    user = svc.create_user(
        session,
        username=body.username,
        display_name=body.display_name,
        password=body.password,
        roles=roles,
        phone=body.phone,
        email=body.email,
    )
    session.commit()
    return _user_public(user, lang)


@router.post("/users/{user_id}/roles", response_model=schemas.UserPublic, summary="Grant a role (admin)")
def grant_role(
    user_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    body: schemas.RoleGrantBody,
    session: SessionDep,
    actor: ActorDep,
    lang: LanguageDep,
) -> schemas.UserPublic:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("user_not_found", ref=user_id)
    unit = svc.get_unit(session, body.unit_id)
    _admin_over(actor, unit)
    svc.grant_role(session, user, body.role, unit)
    session.commit()
    return _user_public(user, lang)
