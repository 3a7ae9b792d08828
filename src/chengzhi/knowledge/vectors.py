"""Stored passage vectors: computed off the request path, once per text and model, shared by every process.

`embed_missing` embeds the published articles that have no vector yet, a few at a time, each batch committed in a
short transaction of its own (the model runs outside any transaction: on SQLite it must not hold the write lock).
It runs in a background thread started by the index when it sees articles without vectors (so a publication gets
its vector within seconds) and as the periodic job `knowledge_embed` (another process, a restart)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from chengzhi.config import Settings
from chengzhi.db import utcnow
from chengzhi.embeddings import Embeddings, default_embeddings, text_key
from chengzhi.knowledge import service
from chengzhi.knowledge.models import KnowledgeVector

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

logger = logging.getLogger(__name__)
BATCH = 8
CHUNK = 500


def stored(session: Session, model: str, keys: Iterable[str]) -> dict[str, npt.NDArray[np.float32]]:
    """The stored vectors of these text keys (those that have one)."""
    import numpy as np

    wanted = list(dict.fromkeys(keys))
    found: dict[str, npt.NDArray[np.float32]] = {}
    for start in range(0, len(wanted), CHUNK):
        rows = session.execute(
            select(KnowledgeVector.text_hash, KnowledgeVector.vector).where(
                KnowledgeVector.model == model, KnowledgeVector.text_hash.in_(wanted[start : start + CHUNK])
            )
        )
        for key, blob in rows:
            found[key] = np.frombuffer(blob, dtype="<f4").copy()
    return found


def stored_count(session: Session, model: str) -> int:
    return int(
        session.scalar(select(func.count(KnowledgeVector.id)).where(KnowledgeVector.model == model)) or 0
    )


def save(session: Session, model: str, keys: list[str], vectors: npt.NDArray[np.float32]) -> None:
    import numpy as np

    have = set(stored(session, model, keys))
    now = utcnow()
    for key, vector in zip(keys, vectors, strict=True):
        if key not in have:
            have.add(key)
            blob = np.asarray(vector, dtype="<f4").tobytes()
            session.add(KnowledgeVector(model=model, text_hash=key, vector=blob, created_at=now))


def missing(session: Session, model: str, today: dt.date) -> list[tuple[str, str]]:
    """(key, text) of the published articles' texts that have no vector of `model` yet."""
    texts = {text_key(t): t for _, t in service.published_documents(session, today)}
    have = stored(session, model, texts)
    return [(k, t) for k, t in texts.items() if k not in have]


def embed_missing(factory: sessionmaker[Session], embeddings: Embeddings, limit: int | None = None) -> int:
    """Embed and store the published texts without a vector (at most `limit`); returns how many were stored."""
    with factory() as session:
        todo = missing(session, embeddings.name, dt.date.today())[:limit]
    done = 0
    for start in range(0, len(todo), BATCH):
        chunk = todo[start : start + BATCH]
        vectors = embeddings.embed([t for _, t in chunk], "passage")
        try:
            with factory() as session, session.begin():
                save(session, embeddings.name, [k for k, _ in chunk], vectors)
        except IntegrityError:  # another process stored some of them meanwhile: theirs are as good
            continue
        done += len(chunk)
    return done


def embed_job(session: Session, settings: Settings, now: dt.datetime) -> dict[str, Any]:
    """Periodic job: store the vectors the published articles lack (a few hundred per round at most)."""
    embeddings = default_embeddings() if settings.knowledge_dense else None
    if embeddings is None:
        return {"embedded": 0}
    bind = session.get_bind()
    factory = sessionmaker(bind=bind, expire_on_commit=False)
    return {"embedded": embed_missing(factory, embeddings, limit=200)}
