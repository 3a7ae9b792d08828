"""Sentiment and message type of live requests: the triage worker's step `text-labels` and the backfill
(`chengzhi hot label`). The model is the file `chengzhi hot train-text` wrote (`warning_text_model`); without it
nothing is labelled and the heat index's negativity term stays 0."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.requests import queries as requests_queries
from chengzhi.warning import sentiment
from chengzhi.warning.models import HotIssueMember, TextLabel

if TYPE_CHECKING:
    from chengzhi.requests.models import Request

_lock = threading.Lock()
_cache: dict[str, tuple[float, sentiment.TextModel]] = {}


def model_path(settings: Settings) -> Path:
    return (
        Path(settings.warning_text_model)
        if settings.warning_text_model
        else settings.model_dir / "warning-text.model"
    )


def current_model(settings: Settings) -> sentiment.TextModel | None:
    """The saved model, read once per process and again when the file changes; None when there is no file."""
    path = model_path(settings)
    try:
        changed = path.stat().st_mtime
    except OSError:
        return None
    key = str(path.resolve())
    with _lock:
        cached = _cache.get(key)
        if cached is not None and cached[0] == changed:
            return cached[1]
    model = sentiment.load(path)
    with _lock:
        _cache[key] = (changed, model)
    return model


def warm(session: Session, settings: Settings) -> None:
    """The triage worker reads the model before a batch (a changed file is read here, not inside the batch)."""
    current_model(settings)


def reset_cache() -> None:
    with _lock:
        _cache.clear()


def text_of(title: str | None, text: str | None) -> str:
    return f"{title or ''}。{text or ''}".strip("。")


def _store(
    session: Session, model: sentiment.TextModel, ids: Sequence[int], texts: Sequence[str], now: dt.datetime
) -> int:
    done = set(session.scalars(select(TextLabel.request_id).where(TextLabel.request_id.in_(list(ids)))))
    todo = [(i, t) for i, t in zip(ids, texts, strict=True) if i not in done]
    if not todo:
        return 0
    found = sentiment.label(model, [t for _i, t in todo])
    rows = [
        {
            "request_id": request_id,
            "negativity": result.negativity,
            "sentiment": result.sentiment,
            "message_type": result.type,
            "model_version": model.version[:40],
            "labelled_at": now,
        }
        for (request_id, _t), result in zip(todo, found, strict=True)
    ]
    session.execute(insert(TextLabel), rows)
    # The heat index reads the negativity from the memberships (placement ran first for a new request).
    members = cast(Table, HotIssueMember.__table__)
    session.connection().execute(
        update(members)
        .where(members.c.request_id == bindparam("member"))
        .values(negativity=bindparam("value")),
        [{"member": row["request_id"], "value": row["negativity"]} for row in rows],
    )
    return len(rows)


def negativities(session: Session, request_ids: Sequence[int]) -> dict[int, float]:
    """The requests' negativity from their text labels (those labelled already), for their memberships."""
    found: dict[int, float] = {}
    for start in range(0, len(request_ids), 1000):
        chunk = list(request_ids[start : start + 1000])
        rows = session.execute(
            select(TextLabel.request_id, TextLabel.negativity).where(TextLabel.request_id.in_(chunk))
        )
        found.update((request_id, negativity) for request_id, negativity in rows)
    return found


def label_requests(
    session: Session, settings: Settings, requests: Sequence[Request], now: dt.datetime
) -> None:
    """The triage worker's step: each new request's sentiment and type, when a model exists. Idempotent."""
    model = current_model(settings) if requests else None
    if model is None:
        return
    _store(session, model, [r.id for r in requests], [text_of(r.title, r.text) for r in requests], now)


def label_backlog(
    session: Session, settings: Settings, now: dt.datetime, *, days: int = 90, limit: int = 100_000
) -> dict[str, int]:
    """Labels the requests of the last `days` that have no label yet (after a first model, or for the demo)."""
    model = current_model(settings)
    if model is None:
        raise sentiment.TextModelError(f"{model_path(settings)}: no text model (run chengzhi hot train-text)")
    rows = requests_queries.texts_received_since(session, now - dt.timedelta(days=days), limit)
    labelled = 0
    for start in range(0, len(rows), 500):
        chunk = rows[start : start + 500]
        labelled += _store(
            session, model, [r.id for r in chunk], [text_of(r.title, r.text) for r in chunk], now
        )
    return {"requests": len(rows), "labelled": labelled}


def label_counts(session: Session, request_ids: Sequence[int]) -> dict[str, Counter[str]]:
    """How many of the requests are of each sentiment and each type (for an issue's page)."""
    found: dict[str, Counter[str]] = {"sentiment": Counter(), "type": Counter()}
    for start in range(0, len(request_ids), 1000):
        chunk = list(request_ids[start : start + 1000])
        for feeling, kind in session.execute(
            select(TextLabel.sentiment, TextLabel.message_type).where(TextLabel.request_id.in_(chunk))
        ):
            found["sentiment"][feeling] += 1
            found["type"][kind] += 1
    return found
