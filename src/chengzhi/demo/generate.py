"""The demo city (`chengzhi demo`): organisation, areas, categories, staff and a year of requests.

Everything is made with the platform's own services (`create_unit`, `create_category`, `create_user`,
`submit_request`, `dispatch_request`, ...), so every history is legal by construction and the projections are what
the event log says. The same seed and the same `now` give the same city and the same requests (tracking numbers
aside: they are random by design).

After intake, histories are simulated in time order across all requests (a heap of per-request stories, each a
generator that says when it acts next), so that a duplicate is merged into a request that is still open at that
moment, and overdue stages are flagged when the periodic job would have flagged them.
"""

from __future__ import annotations

import datetime as dt
import heapq
import logging
import random
import tempfile
import time
from collections import Counter
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, event, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from chengzhi.categories.models import Category, HandlerKind, Priority
from chengzhi.categories.service import create_category
from chengzhi.config import Settings
from chengzhi.db import get_engine, get_sessionmaker, make_engine, transaction, utcnow
from chengzhi.demo import texts
from chengzhi.demo.catalogue import (
    CATEGORIES,
    CITY_DEPARTMENTS,
    DISTRICT_DEPARTMENTS,
    GROUPS,
    LIMITS,
    CategorySpec,
)
from chengzhi.demo.geometry import Block, Grid, make_grid, split
from chengzhi.demo.names import (
    COMPANY_SUFFIXES,
    SHOP_SUFFIXES,
    SYLLABLES,
    NamePool,
    caller_name,
    person_name,
    phone_number,
)
from chengzhi.jobs.service import detect_overdue
from chengzhi.migrate import upgrade
from chengzhi.models import Base
from chengzhi.org.models import Role, Unit, UnitKind, User
from chengzhi.org.service import ANONYMOUS, Actor, actor_for, create_unit, create_user, hash_password
from chengzhi.requests import service as svc
from chengzhi.requests.models import Issue, Request, RequestEvent, RequestUnit
from chengzhi.requests.workflow import STAGE_OF_STATUS, Status
from chengzhi.routing import rules

log = logging.getLogger(__name__)

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
SETTLED_DAYS = 60  # requests older than this have finished their whole history
QUEUED_MIN = 3
MIN_EACH = 3  # each kind of history appears at least this often among settled requests (when n allows)

# Kinds of history and how often each is drawn.
SCENARIOS: dict[str, float] = {
    "answered": 0.15,  # a consultation answered by the operator at intake
    "normal": 0.47,
    "unrated": 0.09,  # replied and closed without a rating
    "return": 0.06,  # dispatched to the wrong unit, returned, dispatched again
    "extension_approved": 0.05,
    "extension_refused": 0.03,
    "reopen": 0.05,  # rated unsatisfied, reopened, handled again
    "co_handle": 0.05,  # the lead unit summons co-units (吹哨报到)
    "duplicate": 0.05,  # merged into an open request about the same problem
}
LATE_SHARE = 0.08  # requests with one stage done after its deadline
LATE_STAGES = ("sign", "contact", "reply", "review")
CHANNELS = (("phone", 0.45), ("app", 0.25), ("web", 0.2), ("open311", 0.1))
CONSULTATION_CHANNELS = (("phone", 0.75), ("app", 0.15), ("web", 0.1))
HOUR_WEIGHTS = (
    0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.5, 1.2, 2.0, 2.4, 2.3, 2.0,
    1.6, 1.8, 2.0, 2.0, 1.9, 1.7, 1.5, 1.4, 1.3, 1.0, 0.7, 0.4,
)  # fmt: skip
WEEKDAY_WEIGHTS = (1.15, 1.1, 1.05, 1.05, 1.0, 0.75, 0.7)
SATISFACTION = ((5, 0.5), (4, 0.24), (3, 0.11), (2, 0.08), (1, 0.07))

# Rows the simulation writes in bulk, given their ids (see Simulation.run).
IDENTIFIED: tuple[type[Request] | type[RequestEvent] | type[RequestUnit] | type[Issue], ...] = (
    Request,
    RequestEvent,
    RequestUnit,
    Issue,
)

MINUTE = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


# ---------------------------------------------------------------- the organisation


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


# ---------------------------------------------------------------- what happens, when, where


@dataclass
class Plan:
    """One request to generate: when it arrives, what it is about, where, and the kind of history it has."""

    received_at: dt.datetime
    scenario: str
    spec: CategorySpec | None = None
    late: str | None = None
    queued: bool = False  # still waiting in the hotline's dispatch queue now
    showcase: bool = False  # submitted by the `resident` account, so that it shows requests being handled
    primary: Plan | None = None
    index: int = 0
    rng: random.Random = field(default_factory=random.Random)
    community: Community | None = None
    template: int = 0
    place: str = ""  # the compound or road the request is about, for titles and replies
    slots: dict[str, str] = field(default_factory=dict)
    submission: svc.Submission | None = None
    actor: Actor | None = None
    resident: Actor | None = None  # set when a resident with an account submitted it
    request: Request | None = None


def _weighted(rng: random.Random, pairs: list[tuple[Any, float]] | tuple[tuple[Any, float], ...]) -> Any:
    items = [p[0] for p in pairs]
    weights = [p[1] for p in pairs]
    return rng.choices(items, weights=weights, k=1)[0]


def _plan_times(rng: random.Random, n: int, now: dt.datetime, tz: ZoneInfo) -> list[dt.datetime]:
    today = now.astimezone(tz).date()
    days = [today - dt.timedelta(days=d) for d in range(365)]
    # A little more each month (the hotline becomes better known), fewer at weekends.
    day_weights = [
        WEEKDAY_WEIGHTS[day.weekday()] * (0.85 + 0.3 * (1 - d / 365)) for d, day in enumerate(days)
    ]
    times = []
    latest = now - 10 * MINUTE
    for day in rng.choices(days, weights=day_weights, k=n):
        hour = rng.choices(range(24), weights=HOUR_WEIGHTS, k=1)[0]
        local = dt.datetime.combine(day, dt.time(hour, rng.randrange(60), rng.randrange(60)), tzinfo=tz)
        when = local.astimezone(dt.UTC)
        if when > latest:
            when -= DAY
        times.append(when)
    return times


def _choose_category(rng: random.Random, plan: Plan, tz: ZoneInfo) -> CategorySpec:
    month = plan.received_at.astimezone(tz).month
    pairs = []
    for spec in CATEGORIES:
        weight = spec.weight * (spec.season[month - 1] if spec.season else 1.0)
        if plan.scenario == "answered":
            weight *= 1.0 if spec.consultation else 0.0
        elif spec.consultation:
            weight *= 0.25 if plan.scenario in ("normal", "unrated") else 0.0
        if plan.scenario.startswith("extension") and not LIMITS[spec.limits]["reply"].endswith("wd"):
            weight = 0.0
        if plan.scenario == "co_handle" and spec.handler_kind == HandlerKind.district:
            weight = 0.0
        pairs.append((spec, weight))
    chosen: CategorySpec = _weighted(rng, pairs)
    return chosen


def make_plans(seed: int, n: int, now: dt.datetime, communities: list[Community], tz: ZoneInfo) -> list[Plan]:
    """Decide every request's arrival, kind of history and category; deterministic in `seed` and `now`."""
    rng = random.Random(f"chengzhi-demo:{seed}:plans")
    times = sorted(_plan_times(rng, n, now, tz))
    scenarios = list(SCENARIOS.items())
    plans = [Plan(received_at=t, scenario=_weighted(rng, scenarios)) for t in times]
    settled_before = now - SETTLED_DAYS * DAY
    settled = [p for p in plans if p.received_at < settled_before]
    # Every kind of history at least MIN_EACH times among settled requests, taken from ordinary ones.
    if len(settled) >= 4 * MIN_EACH * len(SCENARIOS):
        for scenario in SCENARIOS:
            missing = MIN_EACH - sum(p.scenario == scenario for p in settled)
            if missing > 0:
                ordinary = [i for i, p in enumerate(settled) if p.scenario == "normal" and i > 0]
                for i in rng.sample(ordinary, missing):
                    settled[i].scenario = scenario
    for plan in plans:
        if (
            plan.scenario in ("normal", "co_handle", "extension_approved", "return")
            and rng.random() < LATE_SHARE
        ):
            plan.late = rng.choice(LATE_STAGES)
    normal_settled = [p for p in settled if p.scenario == "normal"]
    if len(normal_settled) > 3 * MIN_EACH:
        late = [p for p in normal_settled if p.late]
        for plan in rng.sample([p for p in normal_settled if not p.late], max(0, MIN_EACH - len(late))):
            plan.late = "reply"
    for plan in plans:
        if plan.scenario != "duplicate":
            plan.spec = _choose_category(rng, plan, tz)
    # A duplicate repeats an earlier request about a real problem a few hours later. The primary is given working
    # days to reply, so it is still open (it cannot be replied, rated and closed within 20 hours): the merge is legal.
    for position, plan in enumerate(plans):
        if plan.scenario != "duplicate":
            continue
        candidates = [
            p
            for p in plans[max(0, position - 60) : position]
            if p.scenario in ("normal", "unrated", "co_handle")
            and p.spec
            and not p.spec.consultation
            and LIMITS[p.spec.limits]["reply"].endswith("wd")
        ]
        if not candidates:
            plan.scenario = "normal"
            plan.spec = _choose_category(rng, plan, tz)
            continue
        primary = rng.choice(candidates)
        plan.primary, plan.spec = primary, primary.spec
        plan.received_at = min(primary.received_at + rng.uniform(2, 20) * HOUR, now - 10 * MINUTE)
    plans.sort(key=lambda p: p.received_at)
    # The newest few wait for a dispatcher, so that the hotline's queue is not empty when the demo starts.
    waiting = [p for p in plans if p.scenario in ("normal", "unrated")][-max(QUEUED_MIN, n // 400) :]
    for plan in waiting if n >= 50 else ():
        plan.queued = True
    # The `resident` account's latest requests are being handled when the demo starts (the newest is queued).
    newest = [p for p in reversed(plans) if p.scenario == "normal" and p.spec and not p.spec.consultation]
    recent = [p for p in newest if p.received_at > now - 10 * DAY] or newest[:1]
    for plan in recent[:: max(1, len(recent) // 4)][:4]:
        plan.showcase = True
    weights = [(c, c.weight) for c in communities]
    for index, plan in enumerate(plans):
        plan.index = index
        plan.rng = random.Random(f"chengzhi-demo:{seed}:request:{index}")
        plan.community = plan.primary.community if plan.primary else _weighted(plan.rng, weights)
    return plans


# ---------------------------------------------------------------- the request's content


def template_slots(rng: random.Random, plan: Plan) -> dict[str, str]:
    """The words a request's templates may use: places of its community, times, numbers, names."""
    community = plan.community
    assert community is not None
    floor = rng.randint(2, 33)
    roads = rng.sample(community.roads, 2) if len(community.roads) > 1 else community.roads * 2
    shop_a, shop_b = rng.sample(SYLLABLES, 2)
    firm_a, firm_b = rng.sample(SYLLABLES, 2)
    return {
        "compound": rng.choice(community.compounds),
        "building": rng.choice((f"{rng.randint(1, 24)}栋", f"{rng.randint(1, 30)}号楼")),
        "unit_no": f"{rng.randint(1, 4)}单元",
        "room": f"{floor}{rng.randint(1, 4):02d}室",
        "floor": f"{floor}楼",
        "road": roads[0],
        "road2": roads[1],
        "landmark": community.landmark,
        "community": community.unit.name_zh,
        "street": community.street.name_zh,
        "district": community.district.name_zh,
        "days": str(rng.randint(2, 10)),
        "hours": str(rng.randint(2, 12)),
        "weeks": str(rng.randint(1, 4)),
        "months": str(rng.randint(2, 8)),
        "num": str(rng.randint(2, 9)),
        "age": rng.choice(("八十", "九十")),
        "temp": str(rng.randint(12, 16)),
        "minutes": str(rng.randint(20, 45)),
        "arrive": str(rng.randint(12, 30)),
        "since": rng.choice(("昨天晚上", "今天早上", "今天上午", "前天下午", "今天凌晨", "昨天中午")),
        "night_time": rng.choice(("晚上十一点以后", "凌晨一两点", "深夜十二点", "半夜")),
        "shop": shop_a[0] + shop_b[0] + rng.choice(SHOP_SUFFIXES),
        "company": "示范市" + firm_a[0] + firm_b[0] + rng.choice(COMPANY_SUFFIXES),
        "line": f"{rng.randint(1, 399)}路",
    }


def _answers(
    rng: random.Random, spec: CategorySpec, slots: dict[str, str], received: dt.datetime
) -> dict[str, Any]:
    """Answers to the category's questions (required ones always, others often); their wording goes to slots."""
    answers: dict[str, Any] = {}
    for attribute in spec.attributes:
        code, datatype = attribute["code"], attribute.get("datatype", "string")
        values = attribute.get("values", [])
        value: Any
        if datatype == "singlevaluelist":
            chosen = rng.choice(values)
            value, shown = chosen["key"], chosen["name"]
        elif datatype == "multivaluelist":
            chosen_many = rng.sample(values, rng.randint(1, 2))
            value, shown = [v["key"] for v in chosen_many], "、".join(v["name"] for v in chosen_many)
        elif datatype == "number":
            number = {
                "days": rng.randint(2, 9),
                "amount": rng.choice((3, 5, 8, 12, 15, 26, 38, 45, 60)) * 1000 + rng.randrange(10) * 100,
                "workers": rng.randint(1, 30),
            }.get(code, rng.randint(1, 9))
            value, shown = number, str(number)
        elif datatype == "datetime":
            moment = received - rng.uniform(2, 72) * HOUR
            value, shown = moment.isoformat(timespec="minutes"), ""
        elif code == "line":
            value = shown = slots["line"]
        elif code == "lamp_number":
            value = shown = f"LD-{rng.randint(100, 999)}"
        else:
            value = shown = rng.choice(("交通出行", "城市建设", "公共服务", "生态环境", "便民服务"))
        slots[f"attr_{code}"] = shown
        if attribute.get("required") or rng.random() < 0.7:
            answers[code] = value
    return answers


def _prepare(plan: Plan, demo: DemoCity) -> None:
    """Write the request as the resident (or the operator taking the call) would."""
    rng, spec, community = plan.rng, plan.spec, plan.community
    assert spec is not None and community is not None
    channels = CONSULTATION_CHANNELS if spec.consultation else CHANNELS
    channel: str = "app" if plan.showcase else _weighted(rng, channels)
    slots = template_slots(rng, plan)
    answers = _answers(rng, spec, slots, plan.received_at)
    if plan.primary is not None:  # the same problem in another resident's words
        plan.template = plan.primary.template
        slots.update({k: plan.primary.slots[k] for k in ("compound", "building", "road", "road2", "shop")})
        slots.update({k: v for k, v in plan.primary.slots.items() if k.startswith("attr_")})
        answers = dict(plan.primary.submission.attributes) if plan.primary.submission else answers
    else:
        plan.template = rng.randrange(len(texts.PROBLEMS[spec.code]))
    plan.slots = slots
    raw = texts.PROBLEMS[spec.code][plan.template]
    problem = texts.fill(raw, slots)
    text = texts.compose_text(
        rng,
        problem,
        slots,
        by_phone=channel == "phone",
        consultation=spec.consultation,
        group=spec.group,
        personal=spec.group in texts.PERSONAL_GROUPS or spec.code in texts.PERSONAL_CATEGORIES,
    )
    place = slots["compound"] if "{compound}" in raw else slots["road"] if "{road}" in raw else ""
    plan.place = place
    title = texts.compose_title(rng, spec.name_zh, place, spec.consultation)
    lat: float | None = None
    lon: float | None = None
    address: str | None = None
    if spec.consultation:
        address = f"{community.district.name_zh}{community.street.name_zh}" if channel != "phone" else None
    else:
        lon, lat = demo.grid.point_in_cell(rng, *community.cell)
        address = f"{community.district.name_zh}{slots['road']}{rng.randint(1, 399)}号"
        if "{compound}" in raw:
            address += slots["compound"]
    priority = None
    if answers.get("trapped") == "yes":
        priority = Priority.emergency.value
    contact_name = caller_name(rng)
    contact_phone = phone_number(rng)
    if channel == "phone":
        plan.actor = rng.choice(demo.operators)
    elif plan.showcase or (channel in ("web", "app") and rng.random() < 0.12):
        resident, contact_phone = demo.residents[0] if plan.showcase else rng.choice(demo.residents)
        plan.actor = plan.resident = resident
        contact_name = resident.display_name
    else:
        plan.actor = ANONYMOUS
    plan.submission = svc.Submission(
        text=text,
        channel=channel,
        title=title,
        category_code=spec.code,
        priority=priority,
        lat=lat,
        lon=lon,
        address=address,
        contact_name=contact_name,
        contact_phone=contact_phone,
        attributes=answers,
    )


# ---------------------------------------------------------------- the simulation


Story = Generator[dt.datetime, dt.datetime, None]
Steps = Generator[dt.datetime, dt.datetime, dt.datetime]


class Simulation:
    """Runs every request's story in time order, through the request service, inside one session."""

    def __init__(self, session: Session, settings: Settings, demo: DemoCity, now: dt.datetime) -> None:
        self.session = session
        self.settings = settings
        self.demo = demo
        self.now = now
        self.tz = ZoneInfo(settings.timezone)
        self._unsettled: set[int] = set()
        self._last_id: dict[type[Any], int] = {}

    # ------------------------------------------------------------ engine

    def run(self, plans: list[Plan]) -> None:
        # Two ways to write in batches, with the same rows as step-by-step writing:
        # - Flushing before every query (autoflush) would cost a round of INSERT + UPDATE per step. The request
        #   service's queries read static rows (categories, units) or rows of the request being acted on (the
        #   units that hold it, its last extension request), so those are flushed before a step that reads them
        #   (`_settle`) and everything else waits for the next flush.
        # - Rows whose primary key the database assigns are inserted one statement each (the ORM needs each new
        #   id back); ids given here, in the same order, let a flush insert all new rows of a table at once.
        for model in IDENTIFIED:
            self._last_id[model] = self.session.scalar(select(func.max(model.id))) or 0
        event.listen(self.session, "before_flush", self._identify)
        event.listen(self.session, "after_flush", self._flushed)
        try:
            with self.session.no_autoflush:
                self._run(plans)
            # The periodic job, as it would run now: flags what became overdue in the last minute.
            detect_overdue(self.session, self.settings, self.now)
            self.session.flush()
        finally:
            event.remove(self.session, "before_flush", self._identify)
            event.remove(self.session, "after_flush", self._flushed)

    def _identify(self, session: Session, context: Any, instances: Any) -> None:
        for row in session.new:
            model = type(row)
            if model in self._last_id and row.id is None:
                self._last_id[model] += 1
                row.id = self._last_id[model]

    def _run(self, plans: list[Plan]) -> None:
        # Intake first, in order of arrival; then every later step in time order. Each step is given its own
        # time and reads only its own request's state, so the result is the same as a strict replay, with far
        # fewer flushes.
        heap: list[tuple[dt.datetime, int, Plan, Story]] = []
        for plan in plans:
            story = self.story(plan)
            heap.append((next(story), plan.index, plan, story))
        heapq.heapify(heap)
        while heap:
            when, index, plan, story = heap[0]
            if when > self.now:
                break
            heapq.heappop(heap)
            self.flag_overdue(plan, when)
            try:
                following = story.send(when)
            except StopIteration:
                continue
            heapq.heappush(heap, (max(following, when + MINUTE), index, plan, story))
        for _when, _index, plan, story in sorted(heap, key=lambda item: item[1]):
            story.close()
            self.flag_overdue(plan, self.now)
        self.session.flush()

    def _flushed(self, session: Session, context: Any) -> None:
        self._unsettled.clear()

    def _touched(self, request: Request) -> None:
        """The step just taken added rows that a later step of this request reads."""
        self._unsettled.add(request.id)

    def _settle(self, *requests: Request) -> None:
        if any(r.id in self._unsettled for r in requests):
            self.session.flush()

    def flag_overdue(self, plan: Plan, until: dt.datetime) -> None:
        """Flag the current stage overdue when the job (every minute) would have, and sometimes supervise."""
        request = plan.request
        assert request is not None
        status = Status(request.status)
        if status not in STAGE_OF_STATUS or request.due_at is None or request.overdue_stage is not None:
            return
        marked_at = max(request.due_at, request.updated_at) + dt.timedelta(seconds=plan.rng.randint(20, 80))
        if marked_at >= until:
            return
        svc.mark_overdue(self.session, request, now=marked_at)
        # Supervisors follow overdue requests up (always those planned to run late, so that the demo shows it).
        if plan.late is None and plan.rng.random() < 0.6:
            return
        noted_at = marked_at + min(plan.rng.uniform(0.3, 20) * HOUR, (until - marked_at) / 2)
        if plan.rng.random() < 0.15:
            actor, note = self.demo.leader, texts.pick(plan.rng, texts.LEADER_NOTES)
        else:
            actor = self.supervisor_for(plan.rng, request)
            note = texts.pick(plan.rng, texts.SUPERVISION_NOTES, hours=str(plan.rng.choice((4, 8, 24))))
        assert actor is not None
        self._settle(request)
        svc.supervise_request(self.session, actor, request, note, now=noted_at)

    # ------------------------------------------------------------ who acts

    def handler(self, unit_id: int) -> Actor:
        return self.demo.handlers[unit_id]

    def supervisor_for(self, rng: random.Random, request: Request) -> Actor:
        district = self.demo.district_of.get(request.lead_unit_id or 0)
        if district is not None and rng.random() < 0.75:
            return self.demo.district_supervisors[district]
        assert self.demo.city_supervisor is not None
        return self.demo.city_supervisor

    def closer(self, rng: random.Random, request: Request) -> Actor:
        return self.supervisor_for(rng, request) if rng.random() < 0.7 else rng.choice(self.demo.dispatchers)

    def lead_for(self, request: Request, plan: Plan) -> int:
        suggestion = svc.routing_suggestion(self.session, request)
        if suggestion.unit_id is not None:
            return suggestion.unit_id
        assert plan.community is not None
        return plan.community.district.id

    def wrong_unit(self, rng: random.Random, lead: Unit) -> Unit:
        """A unit a dispatcher could plausibly mistake for the right one (a neighbour, a similar department)."""
        units = self.demo.units.values()
        if lead.kind == UnitKind.department:
            same_function = [u for u in units if u.function == lead.function and u.id != lead.id]
            same_parent = [
                u for u in units if u.kind == UnitKind.department and u.parent_id == lead.parent_id
            ]
            options = same_function or [u for u in same_parent if u.id != lead.id]
        else:
            options = [
                u for u in units if u.kind == lead.kind and u.parent_id == lead.parent_id and u.id != lead.id
            ]
            options = options or [u for u in units if u.kind == lead.kind and u.id != lead.id]
        return rng.choice(sorted(options, key=lambda u: u.id))

    def co_units(self, rng: random.Random, plan: Plan, lead: Unit) -> list[int]:
        community = plan.community
        assert community is not None
        district_code = community.district.code
        candidates = [
            community.street,
            self.demo.units[f"{district_code}-urban_management"],
            self.demo.units[f"{district_code}-housing"],
            community.unit,
        ]
        if lead.kind == UnitKind.department and lead.parent_id == self.demo.city.id:
            candidates.append(self.demo.units["city-emergency_management"])
        options = sorted({u.id for u in candidates if u.id != lead.id})
        return rng.sample(options, min(len(options), rng.randint(1, 2)))

    # ------------------------------------------------------------ time

    def local(self, when: dt.datetime) -> dt.datetime:
        return when.astimezone(self.tz)

    def in_office_hours(self, rng: random.Random, when: dt.datetime, due: dt.datetime | None) -> dt.datetime:
        """Staff act in office hours where the deadline allows it."""
        local = self.local(when)
        if 8 <= local.hour < 20:
            return when
        day = local.date() + (dt.timedelta(days=1) if local.hour >= 20 else dt.timedelta())
        morning = dt.datetime.combine(day, dt.time(8, 30), tzinfo=self.tz) + rng.uniform(0, 100) * MINUTE
        moved = morning.astimezone(dt.UTC)
        return moved if due is None or moved < due else when

    def step_time(
        self,
        rng: random.Random,
        after: dt.datetime,
        due: dt.datetime | None,
        *,
        late: bool,
        share: tuple[float, float],
    ) -> dt.datetime:
        """When a staff member takes the next step: within the time left (a share of it), or after the deadline."""
        if due is None:
            return after + rng.uniform(10, 180) * MINUTE
        window = due - after
        if late:
            return max(after, due) + max(window, 30 * MINUTE) * rng.uniform(0.1, 0.7) + 5 * MINUTE
        if window <= 4 * MINUTE:
            return after + rng.uniform(1, 3) * MINUTE
        low, high = share
        when = after + window * (low + (high - low) * rng.random() ** 1.5)
        return self.in_office_hours(rng, max(when, after + MINUTE), due)

    # ------------------------------------------------------------ stories

    def story(self, plan: Plan) -> Story:
        rng, session, settings = plan.rng, self.session, self.settings
        _prepare(plan, self.demo)
        assert plan.submission is not None and plan.actor is not None
        request = svc.submit_request(
            session,
            plan.actor,
            plan.submission,
            settings,
            now=plan.received_at,
            receiving_unit=self.demo.city,
        )
        self._touched(request)
        plan.request = request
        t = plan.received_at
        if plan.scenario == "answered":
            t = yield t + rng.uniform(2, 12) * MINUTE
            operator = plan.actor if plan.actor in self.demo.operators else rng.choice(self.demo.operators)
            assert plan.spec is not None
            answer = texts.compose_answer(rng, plan.spec.code, plan.slots)
            self._settle(request)
            svc.answer_at_intake(session, operator, request, answer, settings, now=t)
            yield from self.follow_up(plan, t, rounds=1, rated=rng.random() < 0.5)
            return
        dispatcher = rng.choice(self.demo.dispatchers)
        if plan.queued:
            yield self.now + DAY  # after the end of the simulation: not dispatched yet
        t = yield t + rng.uniform(3, 90) * MINUTE
        lead = self.lead_for(request, plan)
        primary = plan.primary.request if plan.primary else None
        if primary is not None and primary.status != Status.closed.value:
            note = texts.pick(rng, texts.MERGE_NOTES)
            self._settle(request, primary)
            svc.merge_request(session, dispatcher, request, primary, note=note, now=t)
            lead = primary.lead_unit_id or lead
            t = yield t + rng.uniform(1, 10) * MINUTE
        if plan.scenario == "return":
            wrong = self.wrong_unit(rng, self.demo.by_id[lead])
            self._settle(request)
            svc.dispatch_request(session, dispatcher, request, wrong.id, settings, now=t)
            self._touched(request)
            if rng.random() < 0.5:
                t = yield t + rng.uniform(5, 60) * MINUTE
                svc.sign_request(session, self.handler(wrong.id), request, now=t)
            t = yield t + rng.uniform(0.3, 20) * HOUR
            reason = texts.pick(rng, texts.RETURN_REASONS, correct=self.demo.by_id[lead].name_zh)
            svc.return_request(session, self.handler(wrong.id), request, reason, now=t)
            t = yield t + rng.uniform(10, 180) * MINUTE
            note = texts.pick(rng, texts.REDISPATCH_NOTES)
            self._settle(request)
            svc.dispatch_request(session, dispatcher, request, lead, settings, note=note, now=t)
            self._touched(request)
        else:
            self._settle(request)
            svc.dispatch_request(session, dispatcher, request, lead, settings, now=t)
            self._touched(request)
        t = yield from self.handle(plan, t, lead, first=True)
        yield from self.follow_up(
            plan, t, rounds=2 if plan.scenario == "reopen" else 1, rated=plan.scenario != "unrated"
        )

    def handle(self, plan: Plan, t: dt.datetime, lead: int, *, first: bool) -> Steps:
        """Sign, contact, (summon co-units, ask for more time), reply."""
        rng, session, request = plan.rng, self.session, plan.request
        assert request is not None and plan.spec is not None
        handler = self.handler(lead)
        late = plan.late if first else None
        t = yield self.step_time(rng, t, request.due_at, late=late == "sign", share=(0.02, 0.6))
        svc.sign_request(session, handler, request, now=t)
        if plan.scenario == "co_handle" and first:
            t = yield t + rng.uniform(0.3, 6) * HOUR
            co_units = self.co_units(rng, plan, self.demo.by_id[lead])
            names = "、".join(self.demo.by_id[u].name_zh for u in co_units)
            note = texts.pick(rng, texts.CO_HANDLE_NOTES, units=names)
            self._settle(request)
            svc.co_handle_request(session, handler, request, co_units, note=note, now=t)
            self._touched(request)
        t = yield self.step_time(rng, t, request.due_at, late=late == "contact", share=(0.05, 0.6))
        when = rng.choice(("今天下午", "明天上午", "明天下午", "本周内"))
        svc.contact_resident(
            session, handler, request, texts.pick(rng, texts.CONTACT_NOTES, when=when), now=t
        )
        refused = False
        if plan.scenario.startswith("extension") and first:
            t = yield self.step_time(rng, t, request.due_at, late=False, share=(0.3, 0.7))
            days = rng.choice((3, 5, 5, 7, 10))
            svc.request_extension(
                session, handler, request, days, texts.pick(rng, texts.EXTENSION_REASONS), now=t
            )
            self._touched(request)
            t = yield t + rng.uniform(0.5, 20) * HOUR
            approve = plan.scenario == "extension_approved"
            refused = not approve
            options = texts.EXTENSION_APPROVALS if approve else texts.EXTENSION_REFUSALS
            self._settle(request)
            svc.decide_extension(
                session,
                self.supervisor_for(rng, request),
                request,
                approve,
                self.settings,
                note=texts.pick(rng, options),
                now=t,
            )
        late_reply = late == "reply" or (refused and rng.random() < 0.6)
        t = yield self.step_time(rng, t, request.due_at, late=late_reply, share=(0.15, 0.9))
        day = self.local(t)
        slots = dict(plan.slots, date=f"{day.month}月{day.day}日")
        explain = (plan.scenario == "reopen" and first) or rng.random() < 0.08
        place = plan.place
        reply = texts.compose_reply(
            rng, plan.spec.code, slots, explain=explain, name=plan.spec.name_zh, place=place
        )
        svc.reply_request(session, handler, request, reply, self.settings, now=t)
        return t

    def follow_up(self, plan: Plan, t: dt.datetime, *, rounds: int, rated: bool) -> Story:
        """The follow-up visit (回访) or the resident's own rating, then closing; or reopening if unsatisfied."""
        rng, session, request = plan.rng, self.session, plan.request
        assert request is not None
        if not rated:
            t = yield self.step_time(rng, t, request.due_at, late=False, share=(0.3, 0.95))
            self._settle(request)
            svc.close_request(
                session, self.closer(rng, request), request, texts.pick(rng, texts.UNRATED_CLOSE_NOTES), now=t
            )
            return
        own = plan.resident is not None and rng.random() < 0.75
        reviewer = plan.resident if own and plan.resident else self.supervisor_for(rng, request)
        t = yield self.step_time(rng, t, request.due_at, late=plan.late == "review", share=(0.05, 0.8))
        unhappy = rounds > 1
        satisfaction = rng.choice((1, 1, 2, 2, 3)) if unhappy else _weighted(rng, SATISFACTION)
        resolved = not unhappy and (satisfaction >= 3 or rng.random() < 0.3)
        comment = texts.pick(rng, texts.REVIEW_COMMENTS[satisfaction]) or None
        self._settle(request)
        svc.review_request(session, reviewer, request, resolved, satisfaction, comment, now=t)
        if unhappy:
            complaint = rng.choice(texts.COMPLAINTS)
            if own and plan.resident and rng.random() < 0.5:
                t = yield t + rng.uniform(0.2, 24) * HOUR
                self._settle(request)
                svc.close_request(
                    session,
                    self.closer(rng, request),
                    request,
                    texts.pick(rng, texts.CLOSE_NOTES) or None,
                    now=t,
                )
                t = yield t + rng.uniform(1, 6) * DAY
                reason = texts.pick(rng, texts.RESIDENT_REOPEN_REASONS, complaint=complaint)
                self._settle(request)
                svc.reopen_request(session, plan.resident, request, reason, now=t)
            else:
                t = yield t + rng.uniform(0.5, 24) * HOUR
                reason = texts.pick(rng, texts.REOPEN_REASONS, complaint=complaint)
                self._settle(request)
                svc.reopen_request(session, self.supervisor_for(rng, request), request, reason, now=t)
            lead = request.lead_unit_id
            assert lead is not None
            t = yield t + rng.uniform(10, 180) * MINUTE
            note = texts.pick(rng, texts.REOPEN_DISPATCH_NOTES)
            self._settle(request)
            svc.dispatch_request(
                session, rng.choice(self.demo.dispatchers), request, lead, self.settings, note=note, now=t
            )
            self._touched(request)
            t = yield from self.handle(plan, t, lead, first=False)
            yield from self.follow_up(plan, t, rounds=rounds - 1, rated=True)
            return
        t = yield t + rng.uniform(0.2, 24) * HOUR
        self._settle(request)
        svc.close_request(
            session, self.closer(rng, request), request, texts.pick(rng, texts.CLOSE_NOTES) or None, now=t
        )


# ---------------------------------------------------------------- entry point


def _count_units(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Unit)) or 0)


def summarise(session: Session) -> dict[str, Any]:
    """Counts of what the database holds (units by kind, categories, users, requests by status, events)."""
    kinds = dict(session.execute(select(Unit.kind, func.count()).group_by(Unit.kind)).all())
    statuses = dict(session.execute(select(Request.status, func.count()).group_by(Request.status)).all())
    actions = dict(
        session.execute(select(RequestEvent.action, func.count()).group_by(RequestEvent.action)).all()
    )
    return {
        "units": {kind.value: int(kinds.get(kind, 0)) for kind in UnitKind},
        "categories": int(session.scalar(select(func.count()).select_from(Category)) or 0),
        "users": int(session.scalar(select(func.count()).select_from(User)) or 0),
        "requests": int(sum(statuses.values())),
        "requests_by_status": {k: int(v) for k, v in sorted(statuses.items())},
        "events": int(sum(actions.values())),
        "events_by_action": {k: int(v) for k, v in sorted(actions.items())},
    }


def generate_demo_city(
    settings: Settings,
    seed: int = 12345,
    n_requests: int = 6000,
    if_empty: bool = False,
    now: dt.datetime | None = None,
    train_model: bool = False,
) -> dict[str, Any]:
    """Build the demo city in `settings.database_url` and return a JSON-able summary.

    With `train_model`, a category model is then trained from the city's requests and activated (as a city does
    with `chengzhi model train --from-db --activate`), so that new requests get the model's suggestion and those
    it is sure of are dispatched automatically.

    With `if_empty`, a database that already has units is left alone. The same `seed` and `now` give the same
    data. Everything is written in one transaction: a failure leaves the database as it was.

    A server database (PostgreSQL) gets the city through a staging SQLite file: the histories take some 15
    statements per request, which cost a network round trip each on a server and nothing in-process; the
    finished rows are then copied over in a few bulk inserts.
    """
    if settings.environment == "production":
        raise RuntimeError("the demo city has published passwords: it is not generated in production")
    upgrade(settings.database_url)
    with get_sessionmaker(settings.database_url)() as session:
        existing = _count_units(session)
        occupied = [
            model.__tablename__
            for model in (Category, User, Request)
            if session.scalar(select(func.count()).select_from(model))
        ]
    if existing:
        if if_empty:
            return {
                "created": False,
                "reason": "the database already has units; nothing was generated",
                "units": existing,
            }
        raise RuntimeError("the database already has units: the demo city goes into an empty database")
    if occupied:
        raise RuntimeError(f"{', '.join(occupied)} not empty: the demo city goes into an empty database")
    now = (now or utcnow()).astimezone(dt.UTC)
    started = time.perf_counter()
    if settings.is_sqlite:
        summary = _generate(settings, get_sessionmaker(settings.database_url), seed, n_requests, now)
    else:
        with tempfile.TemporaryDirectory(prefix="chengzhi-demo-") as folder:
            staging = settings.model_copy(update={"database_url": f"sqlite:///{Path(folder) / 'demo.db'}"})
            upgrade(staging.database_url)
            engine = make_engine(staging.database_url)
            try:
                summary = _generate(staging, sessionmaker(engine), seed, n_requests, now)
                copying = time.perf_counter()
                with engine.connect() as source, get_engine(settings.database_url).begin() as target:
                    copy_rows(source, target)
                summary["seconds"]["copy"] = round(time.perf_counter() - copying, 2)
            finally:
                engine.dispose()
    if train_model:
        training = time.perf_counter()
        summary["model"] = _train_model(settings)
        summary["seconds"]["model"] = round(time.perf_counter() - training, 2)
    summary["seconds"]["total"] = round(time.perf_counter() - started, 2)
    log.info("demo city generated: %s requests in %.1f s", summary["requests"], time.perf_counter() - started)
    return summary


def _train_model(settings: Settings) -> dict[str, Any]:
    """The demo's first category model, trained from its requests and activated; or why there is none."""
    from chengzhi.routing import registry
    from chengzhi.routing.classifier_features import ClassifierError

    try:
        with transaction(get_sessionmaker(settings.database_url)) as session:
            row = registry.train_from_db(session, settings=settings, activate=True, note="demo", actor="demo")
            facts = registry.describe(row)
    except ClassifierError as error:
        return {"trained": False, "reason": str(error)}
    keys = ("version", "data_rows", "labels", "macro_f1", "accuracy", "auto_dispatch_share", "left_out")
    return {"trained": True, **{k: facts[k] for k in keys}}


def _generate(
    settings: Settings, factory: sessionmaker[Session], seed: int, n_requests: int, now: dt.datetime
) -> dict[str, Any]:
    started = time.perf_counter()
    rng = random.Random(f"chengzhi-demo:{seed}:city")
    tz = ZoneInfo(settings.timezone)
    try:
        with transaction(factory) as session:
            grid = make_grid(
                rng, cols=COLS, rows=ROWS, west=WEST, south=SOUTH, cell_lon=CELL_LON, cell_lat=CELL_LAT
            )
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
            rules.invalidate()
            organised = time.perf_counter()
            plans = make_plans(seed, n_requests, now, demo.communities, tz)
            Simulation(session, settings, demo, now).run(plans)
            summary = summarise(session)
    finally:
        rules.invalidate()
    summary.update(
        created=True,
        seed=seed,
        now=now.isoformat(),
        password=DEMO_PASSWORD,
        accounts=demo.accounts,
        scenarios=dict(sorted(Counter(p.scenario for p in plans).items())),
        seconds={
            "organisation": round(organised - started, 2),
            "requests": round(time.perf_counter() - organised, 2),
        },
    )
    return summary


def copy_rows(source: Connection, target: Connection, batch: int = 5000) -> None:
    """Copy every row of every table from `source` into the same (empty) tables of `target`, ids included, and
    move PostgreSQL's id sequences past the copied ids."""
    for table in Base.metadata.sorted_tables:
        rows = source.execute(select(table).order_by(*table.primary_key.columns)).mappings().all()
        if not rows:
            continue
        if target.execute(select(func.count()).select_from(table)).scalar():
            raise RuntimeError(f"table {table.name} is not empty: the demo city goes into an empty database")
        for start in range(0, len(rows), batch):
            target.execute(table.insert(), [dict(row) for row in rows[start : start + batch]])
        if target.dialect.name == "postgresql" and "id" in table.c and table.c.id.autoincrement:
            target.execute(
                text("SELECT setval(pg_get_serial_sequence(:table, 'id'), :last)"),
                {"table": table.name, "last": max(row["id"] for row in rows)},
            )
