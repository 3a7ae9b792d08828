"""The org domain's read API for other domains: units, areas and users, without reading org's tables.

Sections are by caller, so that each caller's needs stay visible.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from sqlalchemy import Connection, Row, Select, and_, exists, func, or_, select
from sqlalchemy.orm import Session, undefer

from chengzhi.org.models import RoleAssignment, Unit, UnitKind, User

# ---------------------------------------------------------------- for requests


# unit_by_id, units_by_id, display_names: in the section for metrics, which needs them too.


# ---------------------------------------------------------------- for notify


def unit_staff(session: Session, unit_ids: Collection[int], roles: Collection[str]) -> dict[int, list[User]]:
    """Unit id -> the active users holding one of `roles` in it (each user once per unit)."""
    if not unit_ids:
        return {}
    rows = session.execute(
        select(RoleAssignment.unit_id, User)
        .join(User, User.id == RoleAssignment.user_id)
        .where(
            RoleAssignment.unit_id.in_(list(unit_ids)),
            RoleAssignment.role.in_(list(roles)),
            User.active.is_(True),
        )
        .order_by(RoleAssignment.unit_id, User.id)
    ).all()
    staff: dict[int, list[User]] = {}
    for unit_id, user in rows:
        members = staff.setdefault(unit_id, [])
        if all(m.id != user.id for m in members):
            members.append(user)
    return staff


def users_by_id(session: Session, user_ids: Collection[int]) -> dict[int, User]:
    if not user_ids:
        return {}
    return {u.id: u for u in session.scalars(select(User).where(User.id.in_(list(user_ids))))}


# ---------------------------------------------------------------- for routing


def active_unit_areas(
    session: Session,
) -> list[Row[int, UnitKind, int | None, str, str | None, str | None]]:
    """(id, kind, parent_id, name_zh, function, area GeoJSON) of every active unit (routing's area index)."""
    return list(
        session.execute(
            select(Unit.id, Unit.kind, Unit.parent_id, Unit.name_zh, Unit.function, Unit.area).where(
                Unit.active.is_(True)
            )
        ).all()
    )


def active_unit_names_en(session: Session, kinds: Iterable[UnitKind]) -> dict[int, str]:
    """id -> English name of the active units of `kinds`."""
    return {
        unit_id: name_en
        for unit_id, name_en in session.execute(
            select(Unit.id, Unit.name_en).where(Unit.active.is_(True), Unit.kind.in_(tuple(kinds)))
        )
    }


def active_unit_names(session: Session) -> list[Row[int, str]]:
    """(id, Chinese name) of every active unit."""
    return list(session.execute(select(Unit.id, Unit.name_zh).where(Unit.active.is_(True))).all())


# ---------------------------------------------------------------- for metrics


def unit_by_id(session: Session, unit_id: int) -> Unit | None:
    """The unit with this id (from the session's identity map when it holds it), or None."""
    return session.get(Unit, unit_id)


def units_by_id(session: Session, unit_ids: Iterable[int]) -> dict[int, Unit]:
    """The units with these ids (ids without a unit are left out)."""
    wanted = list(unit_ids)
    if not wanted:
        return {}
    return {unit.id: unit for unit in session.scalars(select(Unit).where(Unit.id.in_(wanted)))}


def unit_paths(conn: Connection | Session, unit_ids: Iterable[int]) -> dict[int, str]:
    """Unit id -> materialised path (`/1/4/17/`), in one query on this connection (or session)."""
    wanted = list(unit_ids)
    if not wanted:
        return {}
    return dict(conn.execute(select(Unit.id, Unit.path).where(Unit.id.in_(wanted))).all())


def active_units_under(
    session: Session, path: str, kind: UnitKind, *, with_area: bool = False, by_path: bool = False
) -> list[Unit]:
    """The active units of one kind whose path starts with `path` (the unit itself included), with their area
    polygons loaded (`with_area`) and ordered by path (`by_path`) when asked."""
    query = select(Unit).where(Unit.kind == kind, Unit.path.startswith(path), Unit.active.is_(True))
    if with_area:
        query = query.options(undefer(Unit.area))
    if by_path:
        query = query.order_by(Unit.path)
    return list(session.scalars(query))


def active_children(session: Session, unit_id: int) -> list[Unit]:
    """The active units directly below this one, by path."""
    query = select(Unit).where(Unit.parent_id == unit_id, Unit.active.is_(True)).order_by(Unit.path)
    return list(session.scalars(query))


def display_names(session: Session, user_ids: Iterable[int]) -> dict[int, str]:
    """User id -> display name (ids without a user are left out)."""
    wanted = list(user_ids)
    if not wanted:
        return {}
    query = select(User.id, User.display_name).where(User.id.in_(wanted))
    return dict(session.execute(query).all())


# ---------------------------------------------------------------- for open311


def user_by_id(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def unit_names(session: Session, ids: Collection[int], lang: str) -> dict[int, str]:
    """The units' names in the language ("en" or Chinese)."""
    name = Unit.name_en if lang == "en" else Unit.name_zh
    return {i: n for i, n in session.execute(select(Unit.id, name).where(Unit.id.in_(ids)))}


# ---------------------------------------------------------------- for the admin pages, imports, deps and templating


def find_unit(session: Session, unit_id: int) -> Unit | None:
    """The unit of this id (active or not), or None."""
    return session.get(Unit, unit_id)


def unit_id_of_code(session: Session, code: str) -> int | None:
    return session.scalar(select(Unit.id).where(Unit.code == code))


def active_units_under_any(session: Session, paths: Iterable[str]) -> list[Unit]:
    """Active units whose path starts with one of `paths`, in tree order."""
    query = select(Unit).where(Unit.active.is_(True), or_(*(Unit.path.startswith(p) for p in paths)))
    return list(session.scalars(query.order_by(Unit.path)))


def unit_ids_with_area(session: Session) -> set[int]:
    return set(session.scalars(select(Unit.id).where(Unit.area.is_not(None), Unit.area != "")))


def sibling_areas(session: Session, unit: Unit) -> list[tuple[str, str, str | None]]:
    """(name_zh, name_en, area) of the other active units of the same kind under the same parent that have an
    area."""
    rows = session.execute(
        select(Unit.name_zh, Unit.name_en, Unit.area).where(
            Unit.parent_id == unit.parent_id,
            Unit.id != unit.id,
            Unit.kind == unit.kind,
            Unit.active.is_(True),
            Unit.area.is_not(None),
        )
    ).all()
    return [(zh, en, area) for zh, en, area in rows]


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _managed_users(paths: list[str] | None, query: str = "", role: str = "") -> Select[User]:
    """Users holding a role in a unit under one of `paths` (None: every user), having `role` if given; `query`
    matches the username or the display name."""
    statement = select(User)
    if paths is not None:
        statement = statement.where(
            exists()
            .where(RoleAssignment.user_id == User.id)
            .where(RoleAssignment.unit_id == Unit.id)
            .where(or_(*(Unit.path.startswith(p) for p in paths)))
        )
    if role:
        statement = statement.where(
            exists().where(and_(RoleAssignment.user_id == User.id, RoleAssignment.role == role))
        )
    if query:
        pattern = f"%{_escape_like(query.lower())}%"
        statement = statement.where(
            or_(
                User.username.ilike(pattern, escape="\\"),
                User.display_name.ilike(pattern, escape="\\"),
            )
        )
    return statement


def count_managed_users(session: Session, paths: list[str] | None) -> int:
    """How many users hold a role under one of `paths` (None: all users)."""
    return session.scalar(select(func.count()).select_from(_managed_users(paths).subquery())) or 0


def managed_users_page(
    session: Session, paths: list[str] | None, query: str, role: str, after: int | None, limit: int
) -> list[User]:
    """Up to `limit` managed users (see `_managed_users`) with ids above `after`, by id."""
    statement = _managed_users(paths, query, role).order_by(User.id).limit(limit)
    if after is not None:
        statement = statement.where(User.id > after)
    return list(session.scalars(statement))


def managed_user(session: Session, paths: list[str] | None, user_id: int) -> User | None:
    """The user of this id if it holds a role under one of `paths` (None: any user)."""
    user: User | None = session.scalar(_managed_users(paths).where(User.id == user_id))
    return user


# ---------------------------------------------------------------- for identity


def user_by_username(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def users_with_verified_contact(session: Session, channel: str, target: str) -> list[User]:
    """The active accounts that verified this phone number (`sms`) or e-mail address, the most recently verified
    first."""
    column, verified = (
        (User.phone, User.phone_verified_at) if channel == "sms" else (User.email, User.email_verified_at)
    )
    return list(
        session.scalars(
            select(User)
            .where(column == target, verified.is_not(None), User.active)
            .order_by(verified.desc(), User.id.desc())
        )
    )
