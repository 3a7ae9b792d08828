"""The org domain's read API for other domains: units, areas and users, without reading org's tables.

Sections are by caller, so that each caller's needs stay visible.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

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


# ---------------------------------------------------------------- for open311


def user_by_id(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def units_by_id(session: Session, ids: Collection[int]) -> dict[int, Unit]:
    return {u.id: u for u in session.scalars(select(Unit).where(Unit.id.in_(ids)))} if ids else {}


def unit_names(session: Session, ids: Collection[int], lang: str) -> dict[int, str]:
    """The units' names in the language ("en" or Chinese)."""
    name = Unit.name_en if lang == "en" else Unit.name_zh
    return {i: n for i, n in session.execute(select(Unit.id, name).where(Unit.id.in_(ids)))}


# ---------------------------------------------------------------- for the admin pages, imports, deps and templating
