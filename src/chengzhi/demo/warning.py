"""Early warning in the demo city: a sensitive-word list, the sentiment and type model when a labelled file is
given (`chengzhi demo --text-data FILE`; the demo ships no model and no real data), and the alerts of its history."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.warning import alerts, labels, posts, sentiment
from chengzhi.warning.models import HotIssueMember, SensitiveWord

# Words a city watches for (rights disputes, collective action): "维权" occurs in the demo's texts.
DEMO_WORDS = (("维权", "劳动纠纷、消费纠纷的维权诉求"), ("集体上访", "群体性诉求"), ("拉横幅", "群体性诉求"))


def add_words(session: Session) -> int:
    for word, note in DEMO_WORDS:
        session.add(SensitiveWord(word=word, note=note))
    alerts.reset_cache()
    return len(DEMO_WORDS)


def train_text_model(settings: Settings, data: Path | None) -> dict[str, Any]:
    """Trains the sentiment and type model from `data` unless the model file exists; or says why there is none."""
    path = labels.model_path(settings)
    if path.exists():
        return {"trained": False, "reason": f"{path} exists: used as it is"}
    if data is None:
        return {"trained": False, "reason": "no labelled file given (--text-data): negativity stays 0"}
    try:
        model = sentiment.train(sentiment.read_examples(data))
    except sentiment.TextModelError as error:
        return {"trained": False, "reason": str(error)}
    sentiment.save(model, path)
    labels.reset_cache()
    return {"trained": True, "version": model.version, "examples": model.examples, "path": str(path)}


# What residents add when they re-post a problem on a message board (the demo's outside posts).
REPOSTS = (
    "大家都遇到了吗？",
    "已经好几次了，希望有人管。",
    "转发扩散，求关注。",
    "楼上说的没错，我们这里也一样。",
)


def add_posts(session: Session, settings: Settings, now: dt.datetime) -> dict[str, int]:
    """Outside posts (channel feed) from a message board about the city's three largest issues of the last month:
    they join those hot issues beside the requests (`/dashboard/hot/{id}` lists them)."""
    since = now - dt.timedelta(days=30)
    largest = session.execute(
        select(HotIssueMember.issue_id, func.count(), func.min(HotIssueMember.title))
        .where(HotIssueMember.received_at >= since)
        .group_by(HotIssueMember.issue_id)
        .order_by(func.count().desc(), HotIssueMember.issue_id)
        .limit(3)
    ).all()
    found = [
        posts.PostIn(
            external_id=f"demo-{issue_id}-{k}",
            title=title,
            text=f"{title}。{comment}",
            url=None,
            author=f"网友{issue_id % 97}{k}",
            received_at=now - dt.timedelta(hours=6 * k + 1),
            likes=3 * k,
        )
        for issue_id, _count, title in largest
        for k, comment in enumerate(REPOSTS)
    ]
    return posts.ingest(session, settings, "市民论坛（演示）", found, now).as_dict()


def raise_alerts(session: Session, settings: Settings, now: dt.datetime) -> dict[str, Any]:
    return alerts.alerts_job(session, settings, now)
