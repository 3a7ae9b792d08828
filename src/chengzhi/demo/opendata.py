"""The demo city's open data: a few departments' tables at every open level (one whose personal data was masked
before it could be opened without conditions), an approved and a pending application, and the platform's own
requests and three rates published by the periodic job. Deterministic for a seed and a `now`."""

from __future__ import annotations

import datetime as dt
import io
import random
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.opendata import access, resources, service
from chengzhi.opendata.models import Dataset, OpenLevel
from chengzhi.opendata.platform import publish_platform_data
from chengzhi.org.models import Role, Unit, User
from chengzhi.org.service import Actor, RoleGrant, actor_for, get_unit_by_code

STREETS = ("青岚街道", "云湖街道", "金桥街道", "枫林街道", "东湖街道", "西城街道")


def _csv(header: list[str], rows: list[list[Any]]) -> io.BytesIO:
    lines = [",".join(header), *(",".join(str(v) for v in row) for row in rows)]
    return io.BytesIO(("\n".join(lines) + "\n").encode())


def _water(rng: random.Random, today: dt.date) -> io.BytesIO:
    rows = []
    for day in range(60):
        date = today - dt.timedelta(days=60 - day)
        for point in ("青岚水厂出水", "云湖水厂出水", "金桥管网末梢", "枫林管网末梢"):
            rows.append(
                [point, date.isoformat(), round(rng.uniform(6.8, 8.2), 2), round(rng.uniform(0.1, 0.9), 2)]
            )
    return _csv(["监测点", "日期", "pH", "浑浊度NTU"], rows)


def _bus(rng: random.Random) -> io.BytesIO:
    rows = [
        [f"{n}路", rng.choice(STREETS), rng.randint(8, 35), rng.choice(["是", "否"])] for n in range(1, 81)
    ]
    return _csv(["线路", "起点街道", "站点数", "夜班"], rows)


def _elderly(rng: random.Random) -> io.BytesIO:
    rows = [
        [f"{street}第{i}养老服务站", street, rng.randint(20, 120), rng.randint(0, 30)]
        for street in STREETS
        for i in range(1, 6)
    ]
    return _csv(["服务站", "街道", "床位", "空余床位"], rows)


def _volunteers(rng: random.Random) -> io.BytesIO:
    rows = [
        [
            f"志愿者{i:03d}",
            rng.choice(STREETS),
            f"13{rng.randint(0, 9)}{rng.randint(10**7, 10**8 - 1)}",
            rng.randint(1, 300),
        ]
        for i in range(1, 121)
    ]
    return _csv(["姓名", "街道", "联系电话", "服务时长"], rows)


def _grid_staff(rng: random.Random) -> io.BytesIO:
    rows = [[street, f"网格{i:02d}", rng.randint(1, 4)] for street in STREETS for i in range(1, 9)]
    return _csv(["街道", "网格", "网格员人数"], rows)


def _publisher(unit: Unit) -> Actor:
    return Actor(user_id=None, username="demo", grants=(RoleGrant(Role.data_publisher, unit.id, unit.path),))


def _dataset(
    session: Session,
    settings: Settings,
    unit: Unit,
    name: str,
    title: tuple[str, str],
    notes: str,
    level: OpenLevel,
    file: io.BytesIO,
    *,
    frequency: str = "monthly",
    themes: tuple[str, ...] = ("regions",),
    tags: tuple[str, ...] = (),
    now: dt.datetime,
    mask: bool = False,
) -> Dataset:
    actor = _publisher(unit)
    ds = service.create_dataset(
        session,
        actor,
        service.DatasetInput(
            name=name,
            title=title[0],
            title_en=title[1],
            notes=notes,
            unit_id=unit.id,
            open_level=level,
            license_id="cc-by-4.0" if level == OpenLevel.unconditional else "other-closed",
            frequency=frequency,
            themes=list(themes),
            tags=list(tags),
            temporal_start=(now - dt.timedelta(days=365)).date(),
            temporal_end=now.date(),
            spatial_unit_id=unit.id,
            contact_name=f"{unit.name_zh}数据管理科",
            contact_email="opendata@demo.example.org",
        ),
        now=now,
    )
    res = resources.add_file(session, settings, actor, ds, f"{name}.csv", file, name=title[0], now=now)
    if mask:
        resources.reload(session, settings, actor, res, mask=True)
    service.publish_dataset(session, actor, ds, now=now)
    return ds


def publish_demo_data(session: Session, settings: Settings, seed: int, now: dt.datetime) -> dict[str, Any]:
    rng = random.Random(f"chengzhi-demo:{seed}:opendata")
    today = now.date()

    def unit(code: str) -> Unit:
        return get_unit_by_code(session, code)

    made = [
        _dataset(
            session,
            settings,
            unit("city-water"),
            "water-quality",
            ("供水水质监测", "Drinking water quality"),
            "各水厂出水和管网末梢的 pH 与浑浊度，每日监测。",
            OpenLevel.unconditional,
            _water(rng, today),
            frequency="daily",
            themes=("environment", "health"),
            tags=("水质", "供水"),
            now=now,
        ),
        _dataset(
            session,
            settings,
            unit("city-transport"),
            "bus-lines",
            ("公交线路", "Bus lines"),
            "全市公交线路、起点街道、站点数和是否开行夜班。",
            OpenLevel.unconditional,
            _bus(rng),
            themes=("transport",),
            tags=("公交",),
            now=now,
        ),
        _dataset(
            session,
            settings,
            unit("city-civil_affairs"),
            "volunteer-hours",
            ("志愿服务时长", "Volunteer hours"),
            "志愿者服务时长；联系电话已脱敏后开放。",
            OpenLevel.unconditional,
            _volunteers(rng),
            themes=("society",),
            tags=("志愿服务",),
            now=now,
            mask=True,
        ),
        _dataset(
            session,
            settings,
            unit("city-civil_affairs"),
            "elderly-care-beds",
            ("养老服务站床位", "Elderly care beds"),
            "各街道养老服务站床位与空余床位，申请后使用。",
            OpenLevel.conditional,
            _elderly(rng),
            themes=("society", "health"),
            tags=("养老",),
            now=now,
        ),
        _dataset(
            session,
            settings,
            unit("d1"),
            "grid-staff",
            ("网格员配置", "Grid staff"),
            "各街道网格员人数，仅供单位间共享。",
            OpenLevel.not_open,
            _grid_staff(rng),
            themes=("government",),
            tags=("网格",),
            now=now,
        ),
    ]
    conditional = made[3]
    applicants = list(
        session.scalars(
            select(User).where(User.username.in_(("resident", "resident2"))).order_by(User.username)
        )
    )
    decider = _publisher(unit("city-civil_affairs"))
    for i, user in enumerate(applicants):
        application = access.apply(
            session, actor_for(user), conditional, "研究各街道养老床位的供需情况，用于课程作业。", True
        )
        if i == 0:
            access.decide(session, decider, application, True, days=180, now=now)
    # Two weeks of use of the public datasets, for their pages' use-by-day tables.
    for ds in made[:4]:
        for back in range(14, 0, -1):
            day = today - dt.timedelta(days=back)
            service.add_usage(session, ds.id, day, downloads=rng.randint(0, 6), api_calls=rng.randint(0, 25))
    platform = publish_platform_data(session, settings, now)
    return {"datasets": [d.name for d in made], "platform": platform}
