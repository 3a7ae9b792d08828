"""Small factory functions for tests: a city of two districts, units, categories, one user per role."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from chengzhi.categories.models import Category, HandlerKind, Priority
from chengzhi.categories.service import create_category
from chengzhi.org.models import Role, Unit, UnitKind, User
from chengzhi.org.service import create_user, hash_password

PASSWORD = "demo-password-1"
_HASH: list[str] = []


def rectangle(x0: float, y0: float, width: float, height: float) -> dict[str, Any]:
    """A GeoJSON rectangle with its south-west corner at (lon x0, lat y0)."""
    ring = [[x0, y0], [x0 + width, y0], [x0 + width, y0 + height], [x0, y0 + height], [x0, y0]]
    return {"type": "Polygon", "coordinates": [ring]}


@dataclass
class City:
    units: dict[str, Unit] = field(default_factory=dict)
    categories: dict[str, Category] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)

    def unit(self, code: str) -> Unit:
        return self.units[code]


def _password_hash() -> str:
    if not _HASH:
        _HASH.append(hash_password(PASSWORD))
    return _HASH[0]


def make_unit(
    session: Session,
    city: City,
    code: str,
    kind: UnitKind,
    parent: str | None,
    area: dict[str, Any] | None = None,
    function: str | None = None,
) -> Unit:
    from chengzhi.org.service import create_unit

    unit = create_unit(
        session,
        code=code,
        name_zh=f"{code}中文",
        name_en=code,
        kind=kind,
        parent=city.units[parent] if parent else None,
        function=function,
        area=area,
    )
    city.units[code] = unit
    return unit


def make_user(session: Session, city: City, username: str, role: Role, unit_code: str) -> User:
    user = create_user(
        session,
        username=username,
        display_name=username,
        password=None,
        password_hash=_password_hash(),
        roles=[(role, city.units[unit_code])],
        phone="13800000000",
    )
    city.users[username] = user
    return user


def build_city(session: Session) -> City:
    """City (0..2, 0..1 in lon/lat) → districts D1 (west) and D2 (east) → two streets each → two communities each."""
    city = City()
    make_unit(session, city, "city", UnitKind.city, None, rectangle(0, 0, 2, 1))
    for d, x in (("D1", 0.0), ("D2", 1.0)):
        make_unit(
            session,
            city,
            d,
            UnitKind.district,
            "city",
            rectangle(x, 0, 1, 1),
        )
        make_unit(session, city, f"{d}-water", UnitKind.department, d, function="water")
        for s, y in (("S1", 0.0), ("S2", 0.5)):
            street = f"{d}{s}"
            make_unit(
                session,
                city,
                street,
                UnitKind.street,
                d,
                rectangle(x, y, 1, 0.5),
            )
            for c, cx in (("C1", 0.0), ("C2", 0.5)):
                make_unit(
                    session, city, f"{street}{c}", UnitKind.community, street, rectangle(x + cx, y, 0.5, 0.5)
                )
    make_unit(session, city, "city-transport", UnitKind.department, "city", function="transport")
    city.categories["litter"] = create_category(
        session,
        code="litter",
        name_zh="乱扔垃圾",
        name_en="Litter",
        handler_kind=HandlerKind.community,
        time_limits={"sign": "2h", "contact": "1d", "reply": "7wd", "review": "1wd"},
    )
    city.categories["road"] = create_category(
        session,
        code="road",
        name_zh="道路破损",
        name_en="Road damage",
        handler_kind=HandlerKind.street,
        attributes=[
            {
                "code": "size",
                "datatype": "singlevaluelist",
                "required": True,
                "values": [{"key": "small", "name": "小"}, {"key": "large", "name": "大"}],
            }
        ],
    )
    city.categories["water"] = create_category(
        session,
        code="water",
        name_zh="停水",
        name_en="Water outage",
        handler_kind=HandlerKind.department,
        handler_function="water",
        default_priority=Priority.high,
        time_limits={"reply": "24h"},
    )
    city.categories["bus"] = create_category(
        session,
        code="bus",
        name_zh="公交",
        name_en="Buses",
        handler_kind=HandlerKind.department,
        handler_function="transport",
    )
    make_user(session, city, "operator", Role.operator, "city")
    make_user(session, city, "dispatcher", Role.dispatcher, "city")
    make_user(session, city, "supervisor", Role.supervisor, "city")
    make_user(session, city, "leader", Role.leader, "city")
    make_user(session, city, "admin", Role.admin, "city")
    make_user(session, city, "resident", Role.resident, "city")
    make_user(session, city, "resident2", Role.resident, "city")
    make_user(session, city, "d1-dispatcher", Role.dispatcher, "D1")
    make_user(session, city, "d1s1-handler", Role.handler, "D1S1")
    make_user(session, city, "d1s2-handler", Role.handler, "D1S2")
    make_user(session, city, "d1s1c1-handler", Role.handler, "D1S1C1")
    make_user(session, city, "d1-water-handler", Role.handler, "D1-water")
    make_user(session, city, "d2-supervisor", Role.supervisor, "D2")
    session.flush()
    return city


def give_level(session: Session, user: User, level: int) -> User:
    """Mark a user's identity as verified up to `level` (1: phone verified, 2: real name verified), as the
    verification pages and identity providers do (tests/test_identity_space.py, test_oidc.py drive those)."""
    from chengzhi.db import utcnow

    now = utcnow()
    user.phone_verified_at = now if level >= 1 else None
    user.real_name_verified_at = now if level >= 2 else None
    session.flush()
    return user
