"""The demo city's publishing point: a few units' notices and replies published with consent (deterministic)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.demo.city import DemoCity
from chengzhi.org.models import Unit, UnitKind
from chengzhi.publish import service as publish
from chengzhi.requests.models import Request

NOTICES = (
    (
        "water_outage",
        "管网检修停水通知",
        "因供水管网检修，本周六 9:00 至 15:00 辖区部分小区停水，请提前储水。恢复供水后如水质浑浊，放水片刻即可。",
    ),
    (
        "road_damage",
        "道路集中修补",
        "下周一至周三夜间对辖区主干道坑槽集中修补，施工路段半幅通行，请绕行并注意安全。",
    ),
    (
        "garbage",
        "垃圾分类宣传周",
        "本月第三周为垃圾分类宣传周，各社区设咨询点，居民可现场领取分类指南与厨余垃圾袋。",
    ),
)
REPLIES = 3


def publish_demo(session: Session, settings: Settings, demo: DemoCity, now: dt.datetime) -> int:
    """Notices of the first districts and replies of the first closed requests, published by the city's
    supervisor, who noted the residents' consent. Returns how many were published."""
    actor = demo.city_supervisor
    assert actor is not None
    # Read in this session: the city's objects belong to the transaction that built it.
    districts = session.scalars(
        select(Unit.id).where(Unit.kind == UnitKind.district).order_by(Unit.code)
    ).all()
    published = 0
    for index, (category, title, body) in enumerate(NOTICES):
        publish.publish_notice(
            session,
            actor,
            settings,
            unit_id=districts[index % len(districts)],
            title=title,
            body=body,
            category_code=category,
            language="zh",
            now=now - dt.timedelta(days=index + 1),
        )
        published += 1
    closed = session.scalars(
        select(Request.tracking_number)
        .where(
            Request.status == "closed",
            Request.reply_text.is_not(None),
            Request.lead_unit_id.is_not(None),  # not the consultations answered at intake
            Request.channel != "import",
        )
        .order_by(Request.id)
        .limit(REPLIES)
    ).all()
    for index, number in enumerate(closed):
        publish.publish_reply(
            session, actor, settings, number, consent=True, now=now - dt.timedelta(hours=index + 1)
        )
        published += 1
    return published
