"""The org domain's read API for other domains: units, areas and users, without reading org's tables.

Sections are by caller, so that each caller's needs stay visible.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from sqlalchemy import Connection, Row, select
from sqlalchemy.orm import Session, undefer

from chengzhi.org.models import Unit, UnitKind, User

# ---------------------------------------------------------------- for requests


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
