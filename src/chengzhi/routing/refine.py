"""Embeddings for the category model, off the intake transaction (docs/routing.md, "Embeddings in the category
model").

Triage ranks a new request's categories with the n-gram part of the active model (a few milliseconds); when that
model also reads embeddings (`chengzhi model train --dense`), the periodic job `category_refine` then embeds the
newest triaged texts, 32 per round, outside any transaction, stores their vectors (`routing_text_vectors`, by the
SHA-256 of the embedded text, so that a text is embedded once and later trainings read it) and ranks them again
with the dense stacker: the dispatcher's suggestion is replaced by the refined one, marked `refined`. What triage
decided stays (automatic dispatch, `category_sure`): it was decided on the n-gram ranking's own thresholds.

`vectors_of` gives any texts' vectors the same way (stored ones read, missing ones embedded and stored), for
training from the database."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from chengzhi.categories import service as categories
from chengzhi.config import Settings
from chengzhi.embeddings import Embeddings, embeddings_named, text_key
from chengzhi.jobs import service as jobs_service
from chengzhi.requests import queries as request_queries
from chengzhi.routing import classifier, registry
from chengzhi.routing import text as textpipe
from chengzhi.routing.classifier_dense import dense_text, vectors_for
from chengzhi.routing.classifier_features import ClassifierConfig
from chengzhi.routing.classifier_models import TextVector
from chengzhi.routing.triage import words_of
from chengzhi.routing.triage_models import RequestTriage

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)
JOB = "category_refine"
BATCH = 32
CHUNK = 500


def stored(session: Session, model: str, keys: Sequence[str]) -> dict[str, np.ndarray]:
    """The stored vectors of these text keys (those that have one)."""
    import numpy as np

    wanted = list(dict.fromkeys(keys))
    found: dict[str, np.ndarray] = {}
    for start in range(0, len(wanted), CHUNK):
        query = select(TextVector.text_hash, TextVector.vector).where(
            TextVector.model == model, TextVector.text_hash.in_(wanted[start : start + CHUNK])
        )
        for key, blob in session.execute(query):
            found[key] = np.frombuffer(blob, dtype="<f4").copy()
    return found


def vectors_of(
    factory: sessionmaker[Session], embeddings: Embeddings, texts: Sequence[str], keep: bool = True
) -> np.ndarray:
    """Vectors of `texts` (already cut for embedding): stored ones read, the others embedded outside any
    transaction and (with `keep`) stored a batch at a time, each in a short transaction of its own. Inside another
    transaction that will write (a training), pass `keep=False`: on SQLite a transaction that read before another
    connection's commit cannot write any more."""
    with factory() as session:
        cache = stored(session, embeddings.name, [text_key(t) for t in texts])
    if not keep:
        return vectors_for(texts, embeddings, cache)

    def store(keys: list[str], vectors: np.ndarray) -> None:
        try:
            with factory() as session, session.begin():
                have = set(stored(session, embeddings.name, keys))
                for key, vector in zip(keys, vectors, strict=True):
                    if key not in have:
                        have.add(key)
                        blob = vector.astype("<f4").tobytes()
                        session.add(TextVector(model=embeddings.name, text_hash=key, vector=blob))
        except IntegrityError:  # another process stored some of them meanwhile: theirs are as good
            pass

    return vectors_for(texts, embeddings, cache, store)


def store_training_vectors(
    factory: sessionmaker[Session], embeddings: Embeddings, config: ClassifierConfig, max_rows: int
) -> int:
    """Before a training from the database: the vectors its texts lack are embedded and stored, in short
    transactions of their own (the training's transaction then only reads them). Returns how many texts it read."""
    with factory() as session:
        texts = registry.training_data_from_db(session, config, max_rows=max_rows).data.texts
    cut = []
    for text in texts:
        try:
            cut.append(dense_text(config, text))
        except textpipe.TextError:
            continue
    vectors_of(factory, embeddings, [t for t in cut if t])
    return len(cut)


def refine_job(session: Session, settings: Settings, now: dt.datetime) -> dict[str, Any]:
    """Periodic job (own transactions): the newest triaged requests ranked again with their embeddings."""
    # Everything in sessions of its own: on SQLite the runner's transaction, had it read before these commit,
    # could not record the run afterwards.
    factory = sessionmaker(bind=session.get_bind(), expire_on_commit=False)
    with factory() as reading:
        active = classifier.active_model(reading, settings)
        last = jobs_service.last_result(reading, JOB) or {}
    if active is None or not active[1].embedding:
        return {"refined": 0}
    version, model = active
    embeddings = embeddings_named(model.embedding)
    if embeddings is None:
        return {"refined": 0, "reason": f"the embedding {model.embedding!r} is not available"}
    after = int(last.get("after") or 0) if last.get("version") == version else 0
    with factory() as reading:
        rows = reading.execute(
            select(RequestTriage.request_id, RequestTriage.category_suggestions)
            .where(
                RequestTriage.model_version == version,
                RequestTriage.request_id > after,
                RequestTriage.category_suggestions.is_not(None),
            )
            .order_by(RequestTriage.request_id)
            .limit(BATCH)
        ).all()
        todo = [rid for rid, found in rows if found and not found[0].get("refined")]
        texts = {
            r.id: words_of(r.title or "", r.text or "")
            for r in request_queries.requests_by_ids(reading, todo)
        }
    if not rows:
        return {"refined": 0, "after": after, "version": version}
    ids = [rid for rid in todo if rid in texts]
    refined = 0
    if ids:
        words = [texts[rid] for rid in ids]
        vectors = vectors_of(factory, embeddings, [model.embedded_text(w) for w in words])
        suggestions = model.suggest(words, vectors=vectors)
        with factory() as writing, writing.begin():
            codes = sorted({p.label for s in suggestions for p in s.top})
            by_code = categories.active_categories_by_code(writing, codes)
            for rid, suggestion in zip(ids, suggestions, strict=True):
                top = [
                    {"code": p.label, "probability": round(p.probability, 4), "refined": True}
                    for p in suggestion.top
                    if p.label in by_code
                ]
                triage = writing.get(RequestTriage, rid)
                if top and triage is not None and triage.model_version == version:
                    triage.category_suggestions = top
                    refined += 1
    return {"refined": refined, "after": int(rows[-1][0]), "version": version}
