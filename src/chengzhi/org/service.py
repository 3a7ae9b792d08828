"""Units, users, roles, sign-in and the scope of what each user may see."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from shapely.errors import ShapelyError
from shapely.geometry import shape
from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, undefer

from chengzhi.db import utcnow
from chengzhi.errors import Conflict, Forbidden, Invalid, NotAuthenticated, NotFound
from chengzhi.generations import GenerationCache, attach_copy, cached_copy
from chengzhi.org import sessions
from chengzhi.org.models import (
    ALLOWED_PARENTS,
    TERRITORIAL,
    ApiToken,
    Passkey,
    RecoveryCode,
    Role,
    RoleAssignment,
    SecondFactor,
    Unit,
    UnitKind,
    User,
)

_hasher = PasswordHasher()
# Verifying against this keeps sign-in time the same whether or not the username exists.
_DUMMY_HASH = _hasher.hash("not a real password")

MIN_PASSWORD = 10
STAFF_ROLES = frozenset(Role) - {Role.resident}
# The roles that work on residents' requests and so may read those their units hold. Listed, not derived: a role
# added for another domain (credit, knowledge, open data...) sees no request until it is added here on purpose.
REQUEST_ROLES = frozenset(
    {
        Role.operator,
        Role.dispatcher,
        Role.handler,
        Role.supervisor,
        Role.leader,
        Role.admin,
        Role.analyst,
    }
)


@dataclass(frozen=True)
class RoleGrant:
    role: Role
    unit_id: int
    unit_path: str


@dataclass(frozen=True)
class Actor:
    """Who is acting: a signed-in user with their roles, or nobody (anonymous)."""

    user_id: int | None
    username: str = "anonymous"
    display_name: str = ""
    grants: tuple[RoleGrant, ...] = field(default_factory=tuple)
    # The server-side session this actor came with (None for API tokens and anonymous callers).
    session_id: int | None = None
    # Identity level (docs/identity.md): 0 anonymous or unverified, 1 phone or e-mail verified, 2 real name verified.
    level: int = 0

    @property
    def is_anonymous(self) -> bool:
        return self.user_id is None

    @property
    def roles(self) -> set[Role]:
        return {g.role for g in self.grants}

    def has_role(self, *roles: Role) -> bool:
        return any(g.role in roles for g in self.grants)

    def paths_for(self, *roles: Role) -> list[str]:
        return [g.unit_path for g in self.grants if g.role in roles]

    def units_for(self, *roles: Role) -> list[int]:
        return [g.unit_id for g in self.grants if g.role in roles]

    def covers(self, unit_path: str, *roles: Role) -> bool:
        """True if the actor holds one of `roles` in the unit at `unit_path` or above it."""
        return any(unit_path.startswith(p) for p in self.paths_for(*roles))

    def holds_at_root(self, *roles: Role) -> bool:
        """True if the actor holds one of `roles` in a root unit (a city): the whole tree is theirs."""
        return any(g.role in roles and g.unit_path.count("/") == 2 for g in self.grants)

    @property
    def is_staff(self) -> bool:
        return any(g.role in STAFF_ROLES for g in self.grants)

    @property
    def works_on_requests(self) -> bool:
        """Holds a role that reads and acts on residents' requests (`REQUEST_ROLES`)."""
        return any(g.role in REQUEST_ROLES for g in self.grants)

    @property
    def primary_unit_id(self) -> int | None:
        for grant in self.grants:
            if grant.role in STAFF_ROLES:
                return grant.unit_id
        return self.grants[0].unit_id if self.grants else None


ANONYMOUS = Actor(user_id=None)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def identity_level(user: User) -> int:
    """2 once an identity provider verified the real name, 1 once a phone number or e-mail address was verified
    by a one-time code, else 0."""
    if user.real_name_verified_at is not None:
        return 2
    if user.phone_verified_at is not None or user.email_verified_at is not None:
        return 1
    return 0


def actor_for(user: User, session_id: int | None = None) -> Actor:
    grants = tuple(RoleGrant(r.role, r.unit_id, r.unit.path) for r in user.roles)
    return Actor(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        grants=grants,
        session_id=session_id,
        level=identity_level(user),
    )


@dataclass(frozen=True)
class Lockout:
    """After `attempts` consecutive wrong passwords an account refuses every password for `minutes`."""

    attempts: int = 10
    minutes: int = 15


def authenticate(session: Session, username: str, password: str, lockout: Lockout | None = None) -> User:
    """The user of these credentials, or NotAuthenticated. Wrong passwords are counted on the account (flushed:
    the caller commits even when this raises, so that the count survives); a locked account refuses every
    password, right or wrong, until its time is up, with the same `bad_credentials` as an unknown name."""
    lockout = lockout or Lockout()
    user = session.scalar(select(User).where(User.username == username))
    now = utcnow()
    locked = user is not None and user.locked_until is not None and user.locked_until > now
    stored = _DUMMY_HASH
    if user is not None and user.active and user.password_hash and not locked:
        stored = user.password_hash
    try:
        # Always one hash check, so that an unknown name, a locked account and a wrong password take as long.
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        if user is not None and not locked:
            user.failed_logins = (user.failed_logins or 0) + 1
            if user.failed_logins >= lockout.attempts:
                user.locked_until = now + dt.timedelta(minutes=lockout.minutes)
                user.failed_logins = 0
            session.flush()
        raise NotAuthenticated("bad_credentials") from None
    if user is None or stored is _DUMMY_HASH or user.password_hash is None:
        # A locked account answers as an unknown name does: a guesser who locked it learns nothing of whether it
        # exists (the message says that accounts pause after repeated failures).
        raise NotAuthenticated("bad_credentials")
    if user.failed_logins or user.locked_until is not None:
        user.failed_logins = 0
        user.locked_until = None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user


def change_password(session: Session, user: User, current: str, new: str, *, keep_session: int | None) -> int:
    """Change a user's own password (the current one is asked again); every other session of theirs ends.
    Returns how many sessions ended."""
    if not user.password_hash:
        raise NotAuthenticated("bad_credentials")
    try:
        _hasher.verify(user.password_hash, current)
    except (VerificationError, InvalidHashError):
        raise NotAuthenticated("bad_credentials") from None
    return set_password(session, user, new, keep_session=keep_session)


def set_password(session: Session, user: User, new: str, *, keep_session: int | None = None) -> int:
    """Set a password (a reset or the user's own change): every session but `keep_session` ends."""
    if len(new) < MIN_PASSWORD:
        raise Invalid("password_too_short", min=MIN_PASSWORD)
    user.password_hash = _hasher.hash(new)
    user.password_changed_at = utcnow()
    user.failed_logins, user.locked_until = 0, None  # a reset through a verified channel ends a lock-out
    session.flush()
    return sessions.revoke_all(session, user.id, "password_changed", keep=keep_session)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, user: User, days: int, name: str = "api") -> tuple[str, ApiToken]:
    token = "czt_" + secrets.token_urlsafe(32)
    record = ApiToken(
        user_id=user.id,
        token_hash=_token_hash(token),
        name=name,
        expires_at=utcnow() + dt.timedelta(days=days),
    )
    session.add(record)
    session.flush()
    return token, record


def revoke_token(session: Session, token: str) -> None:
    record = session.scalar(select(ApiToken).where(ApiToken.token_hash == _token_hash(token)))
    if record:
        record.revoked = True


# Statements of every API call, built once: building one (and computing its cache key) costs more than the query.
_ACTOR_OF_TOKEN = (
    select(
        ApiToken.revoked,
        ApiToken.expires_at,
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
    .join(User, User.id == ApiToken.user_id)
    .outerjoin(RoleAssignment, RoleAssignment.user_id == User.id)
    .outerjoin(Unit, Unit.id == RoleAssignment.unit_id)
    .where(ApiToken.token_hash == bindparam("token_hash"))
    .order_by(RoleAssignment.id)
)


# Valid tokens' actors, kept until a token, user, role or unit changes anywhere (chengzhi/generations.py).
_TOKEN_ACTORS: GenerationCache[tuple[Actor, dt.datetime]] = GenerationCache("auth")


def actor_for_token(session: Session, token: str) -> Actor:
    """The actor of a valid API token (not revoked, not expired, its user active). Read in one query (the token,
    its user and the user's roles with their units' paths, one row per role) without loading ORM objects, and
    then kept in the process until the "auth" generation moves: this runs on every API call."""
    token_hash = _token_hash(token)
    actor, expires_at = _TOKEN_ACTORS.get(session, token_hash, lambda: _read_token_actor(session, token_hash))
    if expires_at < utcnow():
        raise NotAuthenticated("token_invalid")
    return actor


def _read_token_actor(session: Session, token_hash: str) -> tuple[Actor, dt.datetime]:
    rows = session.connection().execute(_ACTOR_OF_TOKEN, {"token_hash": token_hash}).all()
    first = rows[0] if rows else None
    if first is None or first.revoked or first.expires_at < utcnow() or not first.active:
        raise NotAuthenticated("token_invalid")  # not cached: a stranger's guesses must not fill the cache
    grants = tuple(RoleGrant(r.role, r.unit_id, r.path) for r in rows if r.role is not None)
    # The identity level, as for a session (identity_level): API clients act at their account's level too.
    level = (
        2 if first.real_name_verified_at else 1 if (first.phone_verified_at or first.email_verified_at) else 0
    )
    actor = Actor(
        user_id=first.id,
        username=first.username,
        display_name=first.display_name,
        grants=grants,
        level=level,
    )
    return actor, first.expires_at


# ---------------------------------------------------------------- units


def get_unit(session: Session, unit_id: int) -> Unit:
    unit = session.get(Unit, unit_id)
    if unit is None:
        raise NotFound("unit_not_found", ref=unit_id)
    return unit


def get_unit_by_code(session: Session, code: str) -> Unit:
    unit = session.scalar(select(Unit).where(Unit.code == code))
    if unit is None:
        raise NotFound("unit_not_found", ref=code)
    return unit


def validate_area(area: dict[str, Any] | str | None) -> str | None:
    """Normalise a GeoJSON Polygon/MultiPolygon (or a Feature of one) to compact text, or refuse it."""
    if area is None:
        return None
    try:
        data = json.loads(area) if isinstance(area, str) else area
        if isinstance(data, dict) and data.get("type") == "Feature":
            data = data.get("geometry")
        if not isinstance(data, dict) or data.get("type") not in ("Polygon", "MultiPolygon"):
            raise ValueError("expected a Polygon or MultiPolygon")
        geometry = shape(data)
        if geometry.is_empty or not geometry.is_valid:
            raise ValueError("the polygon is empty or intersects itself")
        minx, miny, maxx, maxy = geometry.bounds
        if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
            raise ValueError("coordinates must be longitude, latitude in WGS 84")
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, ShapelyError) as exc:
        raise Invalid("invalid_area", details=str(exc)) from None
    return json.dumps(data, separators=(",", ":"))


def create_unit(
    session: Session,
    *,
    code: str,
    name_zh: str,
    name_en: str,
    kind: UnitKind,
    parent: Unit | None,
    function: str | None = None,
    area: dict[str, Any] | str | None = None,
) -> Unit:
    parent_kind = parent.kind if parent else None
    if parent_kind not in ALLOWED_PARENTS[kind]:
        raise Invalid(
            "invalid_parent", kind=kind.value, parent_kind=parent_kind.value if parent_kind else "root"
        )
    if session.scalar(select(Unit.id).where(Unit.code == code)) is not None:
        raise Conflict("code_taken", code=code)
    unit = Unit(
        code=code,
        name_zh=name_zh,
        name_en=name_en,
        kind=kind,
        parent_id=parent.id if parent else None,
        function=function,
        area=validate_area(area) if kind in TERRITORIAL else None,
        path="",
    )
    session.add(unit)
    session.flush()
    unit.path = f"{parent.path if parent else '/'}{unit.id}/"
    session.flush()
    return unit


def set_unit_area(session: Session, unit: Unit, area: dict[str, Any] | str | None) -> Unit:
    if unit.kind not in TERRITORIAL:
        raise Invalid("invalid_area", details="departments have no area")
    unit.area = validate_area(area)
    session.flush()
    return unit


def list_units(
    session: Session, kind: UnitKind | None = None, under: Unit | None = None, *, with_areas: bool = False
) -> list[Unit]:
    """Active units in tree order; `with_areas` loads their polygons in the same query (deferred otherwise)."""
    query = select(Unit).where(Unit.active.is_(True)).order_by(Unit.path)
    if with_areas:
        query = query.options(undefer(Unit.area))
    if kind is not None:
        query = query.where(Unit.kind == kind)
    if under is not None:
        query = query.where(Unit.path.startswith(under.path))
    return list(session.scalars(query))


_CITY_UNIT = select(Unit).where(Unit.kind == UnitKind.city).order_by(Unit.id).limit(1)  # built once (intake)


def city_unit(session: Session) -> Unit:
    unit = session.scalar(_CITY_UNIT)
    if unit is None:
        raise NotFound("unit_not_found", ref="city")
    return unit


_CITY_HUB: GenerationCache[Unit] = GenerationCache("units", maxsize=1)


def city_hub(session: Session) -> Unit:
    """The city's unit as intake needs it (its id and path), from memory until a unit changes anywhere."""
    return attach_copy(session, city_hub_copy(session))


def city_hub_copy(session: Session) -> Unit:
    """`city_hub`'s cached copy itself, to be read only (its id and path): no session object is made."""
    return cached_copy(_CITY_HUB, session, "city", lambda: city_unit(session))


# ---------------------------------------------------------------- users


def create_user(
    session: Session,
    *,
    username: str,
    display_name: str,
    password: str | None,
    roles: Iterable[tuple[Role, Unit]] = (),
    phone: str | None = None,
    email: str | None = None,
    language: str = "zh",
    password_hash: str | None = None,
) -> User:
    user = User(
        username=username,
        display_name=display_name,
        password_hash=password_hash or (hash_password(password) if password else None),
        phone=phone,
        email=email,
        language=language,
    )
    session.add(user)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict("username_taken", username=username) from None
    for role, unit in roles:
        user.roles.append(RoleAssignment(role=role, unit_id=unit.id, unit=unit))
    session.flush()
    return user


def grant_role(session: Session, user: User, role: Role, unit: Unit) -> None:
    if any(r.role == role and r.unit_id == unit.id for r in user.roles):
        return
    user.roles.append(RoleAssignment(role=role, unit_id=unit.id, unit=unit))
    session.flush()


def require_role(actor: Actor, *roles: Role) -> None:
    if actor.is_anonymous:
        raise NotAuthenticated()
    if not actor.has_role(*roles):
        raise Forbidden("forbidden_role", roles=", ".join(r.value for r in roles))


def revoke_role(session: Session, user: User, assignment_id: int) -> RoleAssignment:
    """Take one role assignment away from a user (the user keeps their other roles)."""
    assignment = next((r for r in user.roles if r.id == assignment_id), None)
    if assignment is None:
        raise NotFound("not_found")
    user.roles.remove(assignment)
    session.flush()
    return assignment


def set_user_active(session: Session, user: User, active: bool) -> User:
    """Deactivate (or reactivate) a user: a deactivated user can no longer sign in, and their sessions and API
    tokens stop working at once (both check `User.active`); their history stays. Deactivation also revokes the
    user's API tokens and ends their sessions for good: a later reactivation brings neither back to life."""
    user.active = active
    if not active:
        session.execute(
            update(ApiToken)
            .where(ApiToken.user_id == user.id, ApiToken.revoked.is_(False))
            .values(revoked=True)
        )
    session.flush()
    if not active:
        sessions.revoke_all(session, user.id, "deactivated")
    return user


# ---------------------------------------------------------------- identity (for the identity domain)


def record_verified(
    session: Session,
    user: User,
    *,
    name: str | None = None,
    phone: str | None = None,
    email: str | None = None,
    real_name: bool = False,
) -> User:
    """What a verification established about a person: a verified phone number or e-mail address (identity level
    1), a name verified by a real-name identity provider (level 2)."""
    now = utcnow()
    if phone:
        user.phone = phone[:40]
        user.phone_verified_at = now
    if email:
        user.email = email[:200]
        user.email_verified_at = now
    if real_name:
        if name:
            user.display_name = name[:120]
        user.real_name_verified_at = now
    session.flush()
    return user


def forget_person(session: Session, user: User) -> None:
    """Delete a person's account data at their request (PIPL): name, contacts, password, verifications, sessions,
    tokens and second factor go; the row stays as an anonymous shell so that history keeps its references."""
    user.username = f"deleted-{user.id}"
    user.display_name = ""
    user.phone = None
    user.email = None
    user.password_hash = None
    user.active = False
    user.phone_verified_at = user.email_verified_at = user.real_name_verified_at = None
    session.execute(update(ApiToken).where(ApiToken.user_id == user.id).values(revoked=True))
    mfa_rows = (SecondFactor, RecoveryCode, Passkey)
    for table in mfa_rows:
        session.execute(delete(table).where(table.user_id == user.id))
    session.flush()
    sessions.revoke_all(session, user.id, "account_deleted")
