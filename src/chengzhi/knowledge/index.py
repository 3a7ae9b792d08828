"""The process's search index over the published articles. Each question checks a cheap stamp (count and latest
change of the articles, and the day, for validity dates) and rebuilds the index when it moved, so every publish,
edit and withdrawal in any process is followed at the next question; embeddings are cached by text hash, so a
rebuild embeds only new texts."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass

from sqlalchemy.orm import Session

from chengzhi.knowledge import service
from chengzhi.knowledge.embeddings import Embeddings, default_embeddings
from chengzhi.knowledge.models import KnowledgeArticle
from chengzhi.knowledge.retrieval import Retriever

# Confidence (retrieval.Ranked) from which the first answer is "sure", with and without the dense model
# (benchmarks/results/kb-evaluate-2026-12-06.md: chosen on the even rows of the Beijing Q&A so that sure answers
# are wrong at most 5%, reported on the odd rows).
SURE_DENSE = 0.9
SURE_BM25 = 0.51


def sure_threshold(dense: bool) -> float:
    return SURE_DENSE if dense else SURE_BM25


@dataclass(frozen=True)
class Answer:
    article: KnowledgeArticle
    score: float
    sure: bool


_lock = threading.Lock()
_state: dict[str, tuple[object, Retriever]] = {}


def reset() -> None:
    with _lock:
        _state.clear()


def retriever_for(session: Session, url: str, embeddings: Embeddings | None) -> Retriever:
    today = dt.date.today()
    stamp = (service.published_stamp(session), today, embeddings is not None)
    with _lock:
        held = _state.get(url)
        if held is not None and held[0] == stamp:
            return held[1]
    built = Retriever(service.published_documents(session, today), embeddings)
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
    sure = bool(hits) and ranked.confidence >= sure_threshold(embeddings is not None)
    if sure_only:
        hits = hits[:1] if sure else []
    articles = service.published_by_ids(session, [h.key for h in hits])
    return [
        Answer(articles[h.key], h.score, sure and n == 0) for n, h in enumerate(hits) if h.key in articles
    ]
