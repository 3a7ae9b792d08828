"""The demo city's residents taking part (deterministic): comments on the newest public issues (one waiting for a
moderator: it holds a word of the early-warning domain's sensitive-word list; one hidden by three residents'
reports), a resident following an issue, and monthly focus topics: next month's candidates (the monthly job's
proposals from the early-warning domain's hottest issues, two accepted by the leader and the third left for them to
decide, then hand-written ones) with residents' votes, and this month's topic chosen, with a progress report."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.demo.city import DemoCity
from chengzhi.org.models import Unit, UnitKind, User
from chengzhi.participate import service as participate
from chengzhi.participate import topics
from chengzhi.requests.models import Request
from chengzhi.webhooks import service as webhooks

COMMENTS = (
    "我家楼下也是这样，希望尽快处理。",
    "上周已经有人反映过，请相关部门重视。",
    "物业收了钱不办事，再不处理我们就拉横幅。",  # holds a word of the sensitive-word list: waits for a moderator
    "加微信领红包，点击链接。",  # spam: hidden by three reports
)
CANDIDATES = ("老旧小区停车难", "夜间施工噪声扰民", "共享单车乱停放")


def _month(day: dt.date, ahead: int = 0) -> str:
    index = day.year * 12 + day.month - 1 + ahead
    return f"{index // 12}-{index % 12 + 1:02d}"


def take_part(session: Session, settings: Settings, demo: DemoCity, now: dt.datetime) -> dict[str, Any]:
    """Comments, a follow, focus topics and votes; returns what was made."""
    assert demo.leader is not None
    residents = [actor for actor, _phone in demo.residents[:6]]
    # The residents who take part verified their phone numbers (identity level 1), as commenting and voting need.
    session.execute(
        update(User).where(User.id.in_([a.user_id for a in residents])).values(phone_verified_at=now)
    )
    residents = [replace(a, level=1) for a in residents]
    listed = settings.model_copy(update={"comment_moderation": "post"})
    newest = session.scalars(
        select(Request.id).where(Request.channel != "import").order_by(Request.id.desc()).limit(3)
    ).all()
    made = {"comments": 0, "waiting": 0, "hidden": 0, "follows": 0, "topics": 0, "proposed": 0, "votes": 0}
    # A city generated without requests (`--requests 0`) has no issue to comment on or follow.
    for k, text in enumerate(COMMENTS if newest else ()):
        comment = participate.add_comment(
            session, residents[k % len(residents)], listed, newest[k % len(newest)], text, now
        )
        made["comments"] += 1
        made["waiting"] += comment.state == "pending"
        if text.startswith("加微信"):
            for reporter in residents[:3]:  # others than its author (residents[3])
                participate.report_comment(session, reporter, listed, comment.id, "广告", now)
            made["hidden"] += comment.state == "hidden"
    if newest:
        participate.follow(session, residents[0], listed, newest[0], now)
        made["follows"] += 1

    leader = demo.leader
    today = now.astimezone(ZoneInfo(settings.timezone)).date()
    # The monthly job's proposals from the hottest issues: the leader accepted two, one waits for a decision.
    proposed = topics.propose_from_hot_issues(session, settings, _month(today, 1), now)
    candidates = [topics.decide_proposal(session, leader, t.id, accept=True) for t in proposed[:2]]
    made["proposed"] = len(proposed) - len(candidates)
    candidates += [
        topics.propose(session, leader, month=_month(today, 1), title=title, now=now)
        for title in CANDIDATES[: 3 - len(candidates)]
    ]
    for k, resident in enumerate(residents):
        topics.vote(session, resident, settings, candidates[min(k // 3, len(candidates) - 1)].id, now)
        made["votes"] += 1
    current = topics.propose(
        session, leader, month=_month(today), title="背街小巷环境整治", category_code="garbage", now=now
    )
    districts = session.scalars(select(Unit).where(Unit.kind == UnitKind.district).order_by(Unit.code)).all()
    topics.choose(
        session,
        leader,
        current.id,
        lead_unit_id=districts[0].id,
        co_unit_ids=[d.id for d in districts[1:2]],
        goal="月底前完成 20 条背街小巷的垃圾清运和立面整治。",
        deadline=today + dt.timedelta(days=28),
    )
    topics.report(session, leader, current.id, "已完成 8 条背街小巷的摸排和清运。", now)
    made["topics"] = len(candidates) + 1
    return made


# The city's data hub subscribes to every event; outside production deliveries are recorded, never sent, so the
# address is a placeholder. Its delivery log and replay buttons are at /staff/webhooks (admin).
WEBHOOK_URL = "http://127.0.0.1:9/city-data-hub"


def subscribe_webhook(session: Session, settings: Settings, now: dt.datetime) -> dict[str, Any]:
    """A webhook subscription to every event type, made before the demo's requests are triaged (so the fresh
    ones' `request.created` events are delivered, that is recorded, by the job once the server runs)."""
    subscription, _secret = webhooks.subscribe(
        session, settings, "城市数据中台", WEBHOOK_URL, list(webhooks.EVENT_TYPES), now
    )
    return {"subscription": subscription.id, "events": len(subscription.events)}
