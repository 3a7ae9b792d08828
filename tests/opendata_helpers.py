"""Helpers for the open-data tests: a publisher, datasets at every open level, a table with planted personal data."""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass

from sqlalchemy.orm import Session
from stdnum.cn import ric

from chengzhi.config import Settings
from chengzhi.opendata import resources, service
from chengzhi.opendata.models import Dataset, OpenLevel
from chengzhi.org.models import Role
from chengzhi.org.service import Actor, RoleGrant, actor_for

from .factories import City, make_user

T0 = dt.datetime(2026, 11, 1, 8, 0, tzinfo=dt.UTC)


def planted_id(seed: int) -> str:
    """A resident ID-card number with a valid check digit (born 1980-01-01 in Dongcheng)."""
    body = f"110101198001{1 + seed % 28:02d}{seed % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")  # the function ignores the last digit given


def table_csv(rows: int = 40, personal: bool = False) -> bytes:
    lines = ["街道,日期,数量,金额,姓名,证件号码,电话" if personal else "街道,日期,数量,金额"]
    for i in range(rows):
        street = ["东华门", "景山", "交道口"][i % 3]
        base = f"{street},2026-10-{1 + i % 28:02d},{i},{i * 1.5}"
        if personal:
            base += f",张{i},{planted_id(i)},1391234{i:04d}"
        lines.append(base)
    return ("\n".join(lines) + "\n").encode()


@dataclass
class Catalogue:
    publisher: Actor
    open: Dataset
    conditional: Dataset
    closed: Dataset
    draft: Dataset


def publisher(session: Session, city: City, username: str = "publisher", unit: str = "D1") -> Actor:
    user = make_user(session, city, username, Role.data_publisher, unit)
    session.flush()
    return actor_for(user)


def make_dataset(
    session: Session,
    actor: Actor,
    city: City,
    name: str,
    level: OpenLevel = OpenLevel.unconditional,
    *,
    unit: str = "D1",
    publish: bool = True,
    now: dt.datetime = T0,
    tags: tuple[str, ...] = ("街道",),
) -> Dataset:
    data = service.DatasetInput(
        name=name,
        title=f"数据集 {name}",
        title_en=f"Dataset {name}",
        notes=f"测试数据集 {name} 的说明。",
        unit_id=city.unit(unit).id,
        open_level=level,
        frequency="monthly",
        themes=["regions"],
        tags=list(tags),
        temporal_start=dt.date(2026, 1, 1),
        temporal_end=dt.date(2026, 10, 31),
        spatial_unit_id=city.unit(unit).id,
        contact_name="数据科",
        contact_email="data@example.org",
    )
    ds = service.create_dataset(session, actor, data, now=now)
    if publish:
        service.publish_dataset(session, actor, ds, now=now)
    return ds


def add_table(
    session: Session, settings: Settings, actor: Actor, ds: Dataset, content: bytes, name: str = "table.csv"
) -> None:
    resources.add_file(session, settings, actor, ds, name, io.BytesIO(content), now=ds.modified_at)


def build_catalogue(session: Session, settings: Settings, city: City) -> Catalogue:
    actor = publisher(session, city)
    open_ds = make_dataset(session, actor, city, "street-counts", publish=False)
    add_table(session, settings, actor, open_ds, table_csv())
    service.publish_dataset(session, actor, open_ds, now=T0)
    conditional = make_dataset(
        session, actor, city, "residents-conditional", OpenLevel.conditional, publish=False
    )
    add_table(session, settings, actor, conditional, table_csv(10))
    service.publish_dataset(session, actor, conditional, now=T0)
    closed = make_dataset(session, actor, city, "internal-list", OpenLevel.not_open)
    draft = make_dataset(session, actor, city, "draft-one", publish=False)
    return Catalogue(actor, open_ds, conditional, closed, draft)


STAFF = Actor(user_id=999_999, username="staff", grants=(RoleGrant(Role.operator, 1, "/1/"),))
