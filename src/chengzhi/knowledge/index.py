"""The process's search index over the published articles, and `ask`, the question that intake pages and the API
put to it.

**Following the articles.** Each question reads a cheap stamp (count and latest change of the articles, the day
for validity dates, and the number of stored vectors) and follows the articles when it moved, so every publish,
edit and withdrawal in any process is followed at the next question. A small index is rebuilt at once. A large
one (`SYNC_LIMIT` articles or more: 20,000 take about a minute to rebuild on the shared machine) keeps its main
index and gets a **delta index** beside it: the articles changed since the main index was built (a few, built in
milliseconds, BM25 scored with the main index's statistics: retrieval.Layered), searched together with the main
index whose copies of the changed articles are left out. The delta is folded into a new main index in a
background thread now and then (`DELTA_LIMIT`, `FOLD_AFTER`, a new day, vectors arriving); questions use the main
index and its delta meanwhile. Tokens and vectors are remembered per process by text hash, so a rebuild only
tokenises and loads what is new.

**Vectors.** Passages are embedded off the request path and stored (knowledge.vectors): when the index sees
published articles without a vector it starts a background thread that embeds and stores them; until then those
articles take part through BM25 alone.

**The question's vector** takes 15–300 ms on these shared cores (more than the 50 ms a question may take), so
questions are answered **BM25 first**: the vector is used when it is at hand (cached by text) or arrives within
`knowledge_query_budget_ms` (default 0: do not wait); otherwise BM25 alone answers (with its own threshold for
"sure"), the vector is computed in the background, and the answer says it can be refined (`Asked.refinable`): the
intake panel asks once more a moment later and gets the fused ranking."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from chengzhi.config import Settings
from chengzhi.embeddings import Embeddings, default_embeddings, text_key
from chengzhi.knowledge import service, vectors
from chengzhi.knowledge.models import KnowledgeArticle
from chengzhi.knowledge.retrieval import Layered, Ranked, Retriever

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

logger = logging.getLogger(__name__)

# Confidence (retrieval.Ranked) from which the first answer is "sure", with and without the dense model
# (benchmarks/results/kb-evaluate-2026-12-06.md: chosen on the even rows of the Beijing Q&A so that sure answers
# are wrong at most 5%: the lowest threshold with 97% precision there, a margin for sampling error; reported on the
# odd rows).
SURE_DENSE = 0.83
SURE_BM25 = 0.55
SYNC_LIMIT = 2_000


REFINE_WAIT = 2.0  # seconds a refining question waits for its vector


def budget(settings: Settings, refine: bool = False) -> float:
    """Seconds a question may wait for its vector: the setting, or REFINE_WAIT when asked again to refine."""
    return REFINE_WAIT if refine else settings.knowledge_query_budget_ms / 1000


def sure_threshold(dense: bool) -> float:
    return SURE_DENSE if dense else SURE_BM25


@dataclasses.dataclass(frozen=True)
class Answer:
    article: KnowledgeArticle
    score: float
    sure: bool


Stamp = tuple[tuple[int, dt.datetime | None], dt.date, int]  # (article count, latest change), day, vectors
Searched = Retriever | Layered


@dataclasses.dataclass(frozen=True)
class _Held:
    stamp: Stamp  # the articles as the searched index follows them
    searched: Searched  # what questions use: the main index, or the main index and a delta
    main: Retriever
    since: dt.datetime | None  # the latest change the main index holds
    day: dt.date  # the day whose validity dates the main index applied
    vectors: int  # stored vectors when the main index was built
    missing: int  # the main index's articles without a vector
    built: float  # time.monotonic() when the main index was built


_lock = threading.Lock()
_state: dict[str, _Held] = {}
_threads: dict[tuple[str, str], threading.Thread] = {}
_failed: set[str] = set()
_vectors: dict[str, dict[str, npt.NDArray[np.float32]]] = {}  # model -> text key -> vector
_query_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="knowledge-query")
_questions: dict[str, npt.NDArray[np.float32]] = {}  # model and text key -> the question's vector
_pending: dict[str, Future[npt.NDArray[np.float32]]] = {}
QUESTION_CACHE = 5_000
MAX_QUEUED = 8  # questions waiting for their vector at most (the rest: BM25 alone, nothing queued)
DELTA_LIMIT = 200  # this many articles changed since the main index was built: fold them into a new one
FOLD_AFTER = 300.0  # seconds after which a main index behind the articles (changes, new vectors) is rebuilt


def reset() -> None:
    with _lock:
        _state.clear()
        _threads.clear()  # a thread still running finishes into the cleared state; it is not waited for
        _failed.clear()
        _vectors.clear()
        _questions.clear()
        _pending.clear()


def _stamp(session: Session, embeddings: Embeddings | None) -> Stamp:
    count = vectors.stored_count(session, embeddings.name) if embeddings is not None else -1
    return (service.published_stamp(session), dt.date.today(), count)


def _passages(
    session: Session, embeddings: Embeddings, docs: list[tuple[int, str]]
) -> tuple[npt.NDArray[np.float32] | None, int]:
    """The stored vectors of `docs` (a zero row for those without one; None when none has one), and how many
    have none."""
    import numpy as np

    keys = [text_key(t) for _, t in docs]
    with _lock:
        known = _vectors.setdefault(embeddings.name, {})
        wanted = [k for k in keys if k not in known]
    loaded = vectors.stored(session, embeddings.name, wanted)
    with _lock:
        known.update(loaded)
        rows = [known.get(k) for k in keys]
    present = [r for r in rows if r is not None]
    if not present:
        return None, len(docs)
    zero = np.zeros(present[0].shape[0], dtype=np.float32)
    passages = np.vstack([zero if r is None else r for r in rows]).astype(np.float32)
    return passages, sum(1 for r in rows if r is None)


def _build(session: Session, embeddings: Embeddings | None) -> _Held:
    """A main index over the published articles (the stamp read first: a change made meanwhile is newer)."""
    stamp = _stamp(session, embeddings)
    docs = service.published_documents(session, stamp[1])
    if embeddings is None or not docs:
        main, missing = Retriever(docs), 0 if embeddings is None else len(docs)
    else:
        passages, missing = _passages(session, embeddings, docs)
        main = Retriever(docs, passages=passages)
    (_, since), day, count = stamp
    return _Held(stamp, main, main, since, day, count, missing, time.monotonic())


def _with_delta(
    session: Session, held: _Held, stamp: Stamp, embeddings: Embeddings | None
) -> tuple[_Held, int, int]:
    """`held`'s main index with a delta of the articles changed since it was built; how many changed, and how many
    of the delta's articles have no vector."""
    if held.since is None:
        docs, changed = service.published_documents(session, held.day), set(held.main.keys)
    else:
        docs, changed = service.changed_documents(session, held.since, held.day)
    passages, missing = None, 0
    if held.main.dense and embeddings is not None and docs:
        passages, missing = _passages(session, embeddings, docs)
    delta = Retriever(docs, passages=passages, base=held.main)
    return (
        dataclasses.replace(held, stamp=stamp, searched=Layered(held.main, delta, changed)),
        len(docs),
        missing,
    )


def _start(url: str, what: str, target: object, *args: object) -> None:
    with _lock:
        running = _threads.get((url, what))
        if running is not None and running.is_alive():
            return
        thread = threading.Thread(target=target, args=args, name=f"knowledge-{what}", daemon=True)  # type: ignore[arg-type]
        _threads[(url, what)] = thread
    thread.start()


def _embed(url: str, factory: sessionmaker[Session], embeddings: Embeddings) -> None:
    try:
        vectors.embed_missing(factory, embeddings)
    except Exception:  # the model's engine failed: BM25 alone for this process (the periodic job retries)
        logger.exception("knowledge: embedding the passages failed; retrieval uses BM25 alone")
        with _lock:
            _failed.add(url)


def _rebuild(url: str, factory: sessionmaker[Session], embeddings: Embeddings | None) -> None:
    """Fold: a new main index over all published articles, in the background."""
    try:
        with factory() as session:
            built = _build(session, embeddings)
        with _lock:
            _state[url] = built
        if built.missing and embeddings is not None and url not in _failed:
            _start(url, "embed", _embed, url, factory, embeddings)
    except Exception:
        logger.exception("knowledge: rebuilding the index failed; the previous one stays")


def retriever_for(session: Session, url: str, embeddings: Embeddings | None) -> Searched:
    """The index to search, following the articles: a small knowledge base is rebuilt at once on every change; a
    large one (`SYNC_LIMIT` articles or more) gets a delta index of the changed articles beside its main index (a
    change is answerable at the next question), and the main index is rebuilt in the background with the delta
    folded in once `DELTA_LIMIT` articles changed, at a new day (validity dates), and `FOLD_AFTER` seconds after
    it was built when it is behind (changed articles, or vectors stored for its articles that had none)."""
    stamp = _stamp(session, embeddings)
    with _lock:
        held = _state.get(url)
    if held is not None and held.stamp == stamp:
        return held.searched
    factory = sessionmaker(bind=session.get_bind(), expire_on_commit=False)
    if held is None or len(held.main) < SYNC_LIMIT:
        built = _build(session, embeddings)
        with _lock:
            _state[url] = built
        if built.missing and embeddings is not None and url not in _failed:
            _start(url, "embed", _embed, url, factory, embeddings)
        return built.searched
    layered, changed, missing = _with_delta(session, held, stamp, embeddings)
    with _lock:
        if _state.get(url) is held:  # not if a fold finished meanwhile: the next question builds on it
            _state[url] = layered
    behind = changed > 0 or (held.missing > 0 and stamp[2] != held.vectors)  # changes, or vectors came
    if (
        changed >= DELTA_LIMIT
        or stamp[1] != held.day
        or (behind and time.monotonic() - held.built >= FOLD_AFTER)
    ):
        _start(url, "rebuild", _rebuild, url, factory, embeddings)
    if missing and embeddings is not None and url not in _failed:
        _start(url, "embed", _embed, url, factory, embeddings)
    return layered.searched


def _embed_question(embeddings: Embeddings, key: str, text: str) -> npt.NDArray[np.float32]:
    vector: npt.NDArray[np.float32] = embeddings.embed([text], "query")[0]
    with _lock:
        _questions[key] = vector
        while len(_questions) > QUESTION_CACHE:
            _questions.pop(next(iter(_questions)))
    return vector


def query_vector(embeddings: Embeddings, text: str, budget: float | None) -> npt.NDArray[np.float32] | None:
    """The question's vector if it is at hand, or comes within `budget` seconds (None: no limit; 0: only if at
    hand). Otherwise None, and the vector is being computed in the background for the next time it is asked."""
    key = f"{embeddings.name}\0{text_key(text)}"
    with _lock:
        held = _questions.get(key)
        running = _pending.get(key)
    if held is not None:
        return held
    if budget is None:
        return _embed_question(embeddings, key, text)
    if running is None or running.done():
        with _lock:
            for done in [k for k, f in _pending.items() if f.done()]:
                del _pending[done]
            if len(_pending) >= MAX_QUEUED:  # a burst of questions: the newest are answered by BM25 alone
                return None
            running = _query_pool.submit(_embed_question, embeddings, key, text)
            _pending[key] = running
    if budget <= 0:
        return None
    try:
        return running.result(timeout=budget)
    except FutureTimeout:
        return None
    except Exception:
        logger.exception("knowledge: embedding a question failed; BM25 alone")
        return None


@dataclasses.dataclass(frozen=True)
class Asked:
    answers: list[Answer]
    refinable: bool  # answered by BM25 alone while the question's vector is computed: ask again to refine


def rank(
    session: Session, url: str, question: str, k: int = 5, *, dense: bool = True, budget: float | None = None
) -> tuple[Ranked, bool]:
    """The ranking, and whether it would be refined by asking again (the question's vector was not ready)."""
    embeddings = default_embeddings() if dense else None
    retriever = retriever_for(session, url, embeddings)
    vector = None
    if retriever.dense and embeddings is not None and retriever.keys:
        vector = query_vector(embeddings, question, budget)
    ranked = retriever.rank(question, k, query_vector=vector)
    return ranked, retriever.dense and vector is None and bool(retriever.keys)


def ask_more(
    session: Session,
    url: str,
    question: str,
    k: int = 5,
    *,
    dense: bool = True,
    sure_only: bool = False,
    budget: float | None = None,
) -> Asked:
    """The published articles that best answer `question`, best first; with `sure_only`, the first alone when it is
    sure, else nothing."""
    ranked, refinable = rank(session, url, question, k, dense=dense, budget=budget)
    hits = ranked.hits
    sure = bool(hits) and ranked.confidence >= sure_threshold(ranked.dense)
    if sure_only:
        hits = hits[:1] if sure else []
    articles = service.published_by_ids(session, [h.key for h in hits])
    found = [
        Answer(articles[h.key], h.score, sure and n == 0) for n, h in enumerate(hits) if h.key in articles
    ]
    return Asked(found, refinable)


def ask(
    session: Session,
    url: str,
    question: str,
    k: int = 5,
    *,
    dense: bool = True,
    sure_only: bool = False,
    budget: float | None = None,
) -> list[Answer]:
    return ask_more(session, url, question, k, dense=dense, sure_only=sure_only, budget=budget).answers
