"""The process's search index over the published articles. Each question checks a cheap stamp (count and latest
change of the articles, and the day, for validity dates) and rebuilds the index when it moved, so every publish,
edit and withdrawal in any process is followed at the next question.

Embedding passages costs about half a second per article on these cores, so it never runs on a question's path:
an index whose passages are not all embedded yet is BM25 alone, while a background thread embeds them (cached by
text hash); the question after it finishes rebuilds the index with the dense side."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass

from sqlalchemy.orm import Session

from chengzhi.knowledge import service
from chengzhi.knowledge.embeddings import Embeddings, default_embeddings
from chengzhi.knowledge.models import KnowledgeArticle
from chengzhi.knowledge.retrieval import Retriever

logger = logging.getLogger(__name__)

# Confidence (retrieval.Ranked) from which the first answer is "sure", with and without the dense model
# (benchmarks/results/kb-evaluate-2026-12-06.md: chosen on the even rows of the Beijing Q&A so that sure answers
# are wrong at most 5%: the lowest threshold with 97% precision there, a margin for sampling error; reported on the
# odd rows).
SURE_DENSE = 0.83
SURE_BM25 = 0.55


def sure_threshold(dense: bool) -> float:
    return SURE_DENSE if dense else SURE_BM25


@dataclass(frozen=True)
class Answer:
    article: KnowledgeArticle
    score: float
    sure: bool


_lock = threading.Lock()
_state: dict[str, tuple[object, Retriever]] = {}
_warming: dict[str, threading.Thread] = {}


def reset() -> None:
    with _lock:
        _state.clear()
        _failed.clear()


_failed: set[str] = set()


def _warm(url: str, embeddings: Embeddings, texts: list[str]) -> None:
    try:
        embeddings.embed(texts, "passage")
    except Exception:  # the model's engine failed: BM25 alone for this process, logged once
        logger.exception("knowledge: embedding the passages failed; retrieval uses BM25 alone")
        with _lock:
            _failed.add(url)


def retriever_for(session: Session, url: str, embeddings: Embeddings | None) -> Retriever:
    today = dt.date.today()
    stamp = (service.published_stamp(session), today, embeddings is not None)
    with _lock:
        held = _state.get(url)
        warming = _warming.get(url)
        if (
            held is not None
            and held[0] == stamp
            and (held[1].dense or embeddings is None or not held[1].keys)
        ):
            return held[1]
        if held is not None and held[0] == stamp and (url in _failed or (warming and warming.is_alive())):
            return held[1]  # BM25 alone until the passages are embedded
    docs = service.published_documents(session, today)
    texts = [t for _, t in docs]
    ready = embeddings is not None and embeddings.cached(texts, "passage")
    built = Retriever(docs, embeddings if ready else None)
    if embeddings is not None and not ready:
        thread = threading.Thread(
            target=_warm, args=(url, embeddings, texts), name="knowledge-embed", daemon=True
        )
        with _lock:
            _warming[url] = thread
        thread.start()
    with _lock:
        _state[url] = (stamp, built)
    return built


def ask(
    session: Session, url: str, question: str, k: int = 5, *, dense: bool = True, sure_only: bool = False
) -> list[Answer]:
    """The published articles that best answer `question`, best first; with `sure_only`, the first alone when it is
    sure, else nothing."""
    embeddings = default_embeddings() if dense else None
    retriever = retriever_for(session, url, embeddings)
    ranked = retriever.rank(question, k)
    hits = ranked.hits
    sure = bool(hits) and ranked.confidence >= sure_threshold(retriever.dense)
    if sure_only:
        hits = hits[:1] if sure else []
    articles = service.published_by_ids(session, [h.key for h in hits])
    return [
        Answer(articles[h.key], h.score, sure and n == 0) for n, h in enumerate(hits) if h.key in articles
    ]
