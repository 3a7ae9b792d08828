"""`chengzhi kb evaluate FILE`: every row's answer is indexed as an article beside the published ones, every
question (or those of the even or odd data rows, `--rows even|odd`, counting the first data row as 0, to keep a
held-out half) is asked, and the ranking is scored. Passage vectors are read from the store (`knowledge_vectors`) when
known and stored when computed: a second evaluation of the same file embeds only its questions.

A question is answered right when a document carrying its row's answer text comes back (identical answers in
several rows all count as right)."""

from __future__ import annotations

import datetime as dt
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chengzhi.embeddings import Embeddings, text_key
from chengzhi.knowledge import service, vectors
from chengzhi.knowledge.importer import ImportFailed, read_rows
from chengzhi.knowledge.index import sure_threshold
from chengzhi.knowledge.retrieval import Retriever

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

Rows = Literal["all", "even", "odd"]


@dataclass(frozen=True)
class Report:
    questions: int
    documents: int
    dense: str | None
    hit_at_1: float
    recall_at_5: float
    recall_at_10: float
    mrr: float
    p95_ms: float
    mean_ms: float
    sure_threshold: float
    sure_share: float
    sure_precision: float | None
    index_seconds: float
    vectors_reused: int = 0  # passage vectors read from the store instead of embedded again
    # CPU time of the asking thread per question (embedding included): on a shared machine the wall time is mostly
    # waiting for a core, the CPU time is what a question costs.
    p95_cpu_ms: float = 0.0
    mean_cpu_ms: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)] if ordered else 0.0


def _passages(
    session: Session, embeddings: Embeddings, texts: list[str]
) -> tuple[npt.NDArray[np.float32], int]:
    """The passage vectors of `texts`: those stored (`knowledge_vectors`, by text hash) are read, the others
    embedded and stored, each batch committed, so that the next evaluation of the same file embeds nothing.
    Returns the vectors and how many were read from the store."""
    import numpy as np

    keys = [text_key(t) for t in texts]
    found = vectors.stored(session, embeddings.name, keys)
    reused = len(found)
    todo = list(dict.fromkeys((k, t) for k, t in zip(keys, texts, strict=True) if k not in found))
    for start in range(0, len(todo), vectors.BATCH * 4):
        chunk = todo[start : start + vectors.BATCH * 4]
        made = embeddings.embed([t for _, t in chunk], "passage")
        found.update(zip([k for k, _ in chunk], made, strict=True))
        try:
            vectors.save(session, embeddings.name, [k for k, _ in chunk], made)
            session.commit()
        except IntegrityError:  # another process stored some of them meanwhile: theirs are as good
            session.rollback()
    return np.vstack([found[k] for k in keys]).astype(np.float32), reused


def evaluate(
    session: Session | None, path: Path, embeddings: Embeddings | None, rows: Rows = "all"
) -> Report:
    table = read_rows(path)
    missing = [c for c in ("question", "answer") if table and c not in table[0]]
    if missing or not table:
        raise ImportFailed([f"{path.name}: needs the columns question and answer"])
    # (row number in the file from 0, question, answer); rows lacking either are skipped, parity kept.
    numbered = [(n, r["question"], r["answer"]) for n, r in enumerate(table) if r["question"] and r["answer"]]
    pairs = [(q, a) for _, q, a in numbered]
    published = service.published_documents(session, dt.date.today()) if session is not None else []
    docs = published + [(-(i + 1), answer) for i, (_, answer) in enumerate(pairs)]
    keys_of: dict[str, set[int]] = {}
    for i, (_, answer) in enumerate(pairs):
        keys_of.setdefault(answer, set()).add(-(i + 1))
    started = time.perf_counter()
    passages = None
    reused = 0
    if embeddings is not None and session is not None:
        passages, reused = _passages(session, embeddings, [t for _, t in docs])
    retriever = Retriever(docs, embeddings, passages=passages)
    index_seconds = time.perf_counter() - started
    asked = [i for i, (n, _, _) in enumerate(numbered) if rows == "all" or (n % 2 == 0) == (rows == "even")]
    hit1 = r5 = r10 = 0
    mrr = 0.0
    latencies: list[float] = []
    cpu: list[float] = []
    threshold = sure_threshold(embeddings is not None)
    sure = sure_right = 0
    for i in asked:
        question, answer = pairs[i]
        t0, c0 = time.perf_counter(), time.thread_time()
        ranked = retriever.rank(question, 10)
        latencies.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
        right = [h.key in keys_of[answer] for h in ranked.hits]
        hit1 += bool(right[:1] and right[0])
        r5 += any(right[:5])
        r10 += any(right)
        mrr += next((1 / (n + 1) for n, ok in enumerate(right) if ok), 0.0)
        if ranked.confidence >= sure_threshold(ranked.dense):
            sure += 1
            sure_right += bool(right[:1] and right[0])
    n = max(1, len(asked))
    return Report(
        questions=len(asked),
        documents=len(docs),
        dense=embeddings.name if embeddings is not None else None,
        hit_at_1=round(hit1 / n, 4),
        recall_at_5=round(r5 / n, 4),
        recall_at_10=round(r10 / n, 4),
        mrr=round(mrr / n, 4),
        p95_ms=round(_p95(latencies) * 1000, 1),
        mean_ms=round(sum(latencies) / n * 1000, 1),
        sure_threshold=threshold,
        sure_share=round(sure / n, 4),
        sure_precision=round(sure_right / sure, 4) if sure else None,
        index_seconds=round(index_seconds, 1),
        vectors_reused=reused,
        p95_cpu_ms=round(_p95(cpu) * 1000, 1),
        mean_cpu_ms=round(sum(cpu) / n * 1000, 1),
    )
