"""The demo city's organisation: districts, subdistricts and communities with their areas, departments,
categories, and the staff and residents who act in the request histories (see `chengzhi.demo.generate`)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from chengzhi.categories.models import Category
from chengzhi.categories.service import create_category
from chengzhi.demo.catalogue import CATEGORIES, CITY_DEPARTMENTS, DISTRICT_DEPARTMENTS, GROUPS, LIMITS
from chengzhi.demo.geometry import Block, Grid, make_grid, split
from chengzhi.demo.names import NamePool, person_name, phone_number
from chengzhi.org.models import Role, Unit, UnitKind, User
from chengzhi.org.service import Actor, actor_for, create_unit, create_user, hash_password

DEMO_PASSWORD = "chengzhi-demo"  # noqa: S105 - published on purpose: the demo is for trying the platform
CITY_NAME = ("示范市", "Demo City")
# (code, name_zh, name_en, block of grid cells); the grid has 10 columns (west to east) and 6 rows (south to north).
DISTRICTS: tuple[tuple[str, str, str, Block], ...] = (
    ("d1", "青岚区", "Qinglan District", Block(0, 0, 5, 3)),
    ("d2", "云湖区", "Yunhu District", Block(5, 0, 10, 3)),
    ("d3", "金桥区", "Jinqiao District", Block(0, 3, 4, 6)),
    ("d4", "枫林区", "Fenglin District", Block(4, 3, 10, 6)),
)
# The grid of communities: about 31 km by 19 km south-west of 113.1 E, 28.3 N.
COLS, ROWS = 10, 6
WEST, SOUTH, CELL_LON, CELL_LAT = 112.78, 28.10, 0.032, 0.028
OPERATORS = 3
CITY_DISPATCHERS = 2
RESIDENTS = 6


@dataclass
class Community:
    unit: Unit
    street: Unit
    district: Unit
    cell: tuple[int, int]
    compounds: list[str]
    roads: list[str]
    landmark: str
    weight: float


@dataclass
class DemoCity:
    city: Unit
    grid: Grid
    units: dict[str, Unit] = field(default_factory=dict)
    communities: list[Community] = field(default_factory=list)
    users: dict[str, User] = field(default_factory=dict)
    accounts: list[dict[str, str]] = field(default_factory=list)
    handlers: dict[int, Actor] = field(default_factory=dict)  # unit id -> its handler
    operators: list[Actor] = field(default_factory=list)
    dispatchers: list[Actor] = field(default_factory=list)
    city_supervisor: Actor | None = None
    district_supervisors: dict[int, Actor] = field(default_factory=dict)
    leader: Actor | None = None
    residents: list[tuple[Actor, str]] = field(default_factory=list)  # (actor, phone)
    district_of: dict[int, int | None] = field(default_factory=dict)  # unit id -> its district's id
    by_id: dict[int, Unit] = field(default_factory=dict)

    def unit(self, code: str) -> Unit:
        return self.units[code]


def _build_org(session: Session, rng: random.Random, demo: DemoCity, pool: NamePool) -> None:
    city = demo.city
    for code, name_zh, name_en, block in DISTRICTS:
        district = _unit(
            session, demo, code, name_zh, name_en, UnitKind.district, city, demo.grid.geojson(block)
        )
        for s, street_block in enumerate(split(block, rng), start=1):
            street_zh, street_en = pool.take()
            street = _unit(
                session,
                demo,
                f"{code}s{s}",
                f"{street_zh}街道",
                f"{street_en} Subdistrict",
                UnitKind.street,
                district,
                demo.grid.geojson(street_block),
            )
            street_roads = [pool.road()[0] for _ in range(2)]
            for c, (col, row) in enumerate(street_block.cells(), start=1):
                community_zh, community_en = pool.take()
                cell = Block(col, row, col + 1, row + 1)
                unit = _unit(
                    session,
                    demo,
                    f"{code}s{s}c{c}",
                    f"{community_zh}社区",
                    f"{community_en} Community",
                    UnitKind.community,
                    street,
                    demo.grid.geojson(cell),
                )
                demo.communities.append(
                    Community(
                        unit=unit,
                        street=street,
                        district=district,
                        cell=(col, row),
                        compounds=[pool.compound()[0] for _ in range(rng.randint(2, 4))],
                        roads=[pool.road()[0] for _ in range(rng.randint(1, 2))] + street_roads,
                        landmark=pool.landmark()[0],
                        weight=rng.uniform(0.5, 1.6),
                    )
                )
        for function, suffix_zh, suffix_en in DISTRICT_DEPARTMENTS:
            _unit(
                session,
                demo,
                f"{code}-{function}",
                name_zh + suffix_zh,
                f"{name_en} {suffix_en}",
                UnitKind.department,
                district,
                function=function,
            )
    for function, name_zh, name_en in CITY_DEPARTMENTS:
        _unit(
            session, demo, f"city-{function}", name_zh, name_en, UnitKind.department, city, function=function
        )
    for unit in demo.units.values():
        parts = [int(p) for p in unit.path.strip("/").split("/")]
        district_id = parts[1] if len(parts) > 1 else None
        demo.district_of[unit.id] = (
            district_id if demo.by_id[district_id or city.id].kind == UnitKind.district else None
        )


def _unit(
    session: Session,
    demo: DemoCity,
    code: str,
    name_zh: str,
    name_en: str,
    kind: UnitKind,
    parent: Unit | None,
    area: dict[str, Any] | None = None,
    function: str | None = None,
) -> Unit:
    unit = create_unit(
        session,
        code=code,
        name_zh=name_zh,
        name_en=name_en,
        kind=kind,
        parent=parent,
        function=function,
        area=area,
    )
    demo.units[code] = unit
    demo.by_id[unit.id] = unit
    return unit


def _build_categories(session: Session) -> dict[str, Category]:
    categories = {}
    for spec in CATEGORIES:
        group_zh, group_en = GROUPS[spec.group]
        categories[spec.code] = create_category(
            session,
            code=spec.code,
            name_zh=spec.name_zh,
            name_en=spec.name_en,
            handler_kind=spec.handler_kind,
            handler_function=spec.handler_function,
            group_zh=group_zh,
            group_en=group_en,
            description=f"{spec.name_zh}（{group_zh}） / {spec.name_en} ({group_en})",
            keywords=spec.keywords,
            default_priority=spec.priority,
            time_limits=LIMITS[spec.limits],
            attributes=[dict(a) for a in spec.attributes],
            service_type=spec.service_type,
        )
    return categories


def _build_users(session: Session, rng: random.Random, demo: DemoCity) -> None:
    password_hash = hash_password(DEMO_PASSWORD)  # argon2 is slow on purpose: hash once, share it

    def add(username: str, role: Role, unit: Unit, key: bool = False, phone: str | None = None) -> Actor:
        user = create_user(
            session,
            username=username,
            display_name=person_name(rng),
            password=None,
            password_hash=password_hash,
            roles=[(role, unit)],
            phone=phone,
        )
        demo.users[username] = user
        if key:
            demo.accounts.append(
                {"username": username, "role": role.value, "unit": unit.code, "unit_name": unit.name_zh}
            )
        return actor_for(user)

    city = demo.city
    add("admin", Role.admin, city, key=True)
    demo.leader = add("leader", Role.leader, city, key=True)
    add("analyst", Role.analyst, city, key=True)
    demo.city_supervisor = add("supervisor", Role.supervisor, city, key=True)
    for i in range(1, CITY_DISPATCHERS + 1):
        demo.dispatchers.append(
            add("dispatcher" if i == 1 else f"dispatcher{i}", Role.dispatcher, city, key=i == 1)
        )
    for i in range(1, OPERATORS + 1):
        demo.operators.append(add("operator" if i == 1 else f"operator{i}", Role.operator, city, key=i == 1))
    for i in range(1, RESIDENTS + 1):
        phone = phone_number(rng)
        demo.residents.append(
            (add("resident" if i == 1 else f"resident{i}", Role.resident, city, i == 1, phone), phone)
        )
    for code, *_ in DISTRICTS:
        district = demo.unit(code)
        first = code == DISTRICTS[0][0]
        add(f"dispatcher.{code}", Role.dispatcher, district, key=first)
        demo.district_supervisors[district.id] = add(
            f"supervisor.{code}", Role.supervisor, district, key=first
        )
        add(f"leader.{code}", Role.leader, district, key=first)
    for unit in sorted(demo.units.values(), key=lambda u: u.path):
        if unit.kind == UnitKind.city:
            continue
        example = unit.code in ("d1", "d1s1", "d1s1c1", "d1-urban_management", "city-water")
        demo.handlers[unit.id] = add(f"handler.{unit.code}", Role.handler, unit, key=example)
    # Last, so that the draws for everyone above stay as they were.
    add("credit", Role.credit_officer, city, key=True)
    add("knowledge", Role.knowledge_editor, city, key=True)
    add("publisher", Role.data_publisher, city, key=True)


def build_city(session: Session, rng: random.Random) -> DemoCity:
    """The city with its grid of areas, organisation, categories and accounts, flushed."""
    grid = make_grid(rng, cols=COLS, rows=ROWS, west=WEST, south=SOUTH, cell_lon=CELL_LON, cell_lat=CELL_LAT)
    city = create_unit(
        session,
        code="city",
        name_zh=CITY_NAME[0],
        name_en=CITY_NAME[1],
        kind=UnitKind.city,
        parent=None,
        area=grid.geojson(Block(0, 0, COLS, ROWS)),
    )
    demo = DemoCity(city=city, grid=grid, units={"city": city}, by_id={city.id: city})
    _build_org(session, rng, demo, NamePool(rng))
    _build_categories(session)
    _build_users(session, rng, demo)
    session.flush()
    return demo
