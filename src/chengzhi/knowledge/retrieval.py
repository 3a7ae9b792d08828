"""Retrieval: BM25 (`bm25s`) over jieba tokens plus character bigrams (the fallback for words jieba does not
know), fused with dense vectors from `embeddings` by reciprocal-rank fusion (RRF).

Pure and database-free: `Retriever` indexes (key, text) pairs; `knowledge.index` keeps one per process that follows
the published articles."""

from __future__ import annotations

import logging
import re
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chengzhi.embeddings import Embeddings, text_key

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

RRF_K = 60
# Candidates each side contributes to the fusion.
DEPTH = 50
_WORD = re.compile(r"[\u4e00-\u9fff]+|[a-zA-Z]+|[0-9]+")
STOP = frozenset(
    [
        "的",
        "了",
        "是",
        "在",
        "和",
        "与",
        "及",
        "或",
        "吗",
        "呢",
        "啊",
        "吧",
        "怎么",
        "如何",
        "什么",
        "哪些",
        "哪里",
        "是否",
        "可以",
        "能",
        "我",
        "你",
        "他",
        "有",
        "要",
        "请问",
        "请",
    ]
)


_jieba: Any = None
_jieba_lock = threading.Lock()


def _tokenizer() -> Any:
    """jieba, imported and initialised once, quietly and offline."""
    global _jieba
    with _jieba_lock:
        if _jieba is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # jieba 0.42 has invalid escapes and may import pkg_resources
                import jieba

                jieba.setLogLevel(logging.WARNING)
                logging.getLogger("jieba").setLevel(logging.WARNING)
                jieba.initialize()
            _jieba = jieba
    return _jieba


def tokenize(text: str) -> list[str]:
    """jieba's search-engine tokens (stop words dropped) and the character bigrams of every Chinese run."""
    jieba = _tokenizer()
    tokens: list[str] = []
    for run in _WORD.findall(text.lower()):
        if "\u4e00" <= run[0] <= "\u9fff":
            tokens.extend(w for w in jieba.lcut_for_search(run) if w not in STOP)
            tokens.extend("#" + run[i : i + 2] for i in range(len(run) - 1))
        else:
            tokens.append(run)
    return tokens


_tokens: dict[str, list[str]] = {}
_tokens_lock = threading.Lock()
TOKEN_CACHE = 50_000


def cached_tokens(text: str) -> list[str]:
    """`tokenize`, remembered per process by the text's hash: rebuilding the index after a publication tokenises
    only the new texts (jieba takes ~1 ms per article; bm25s indexes 20,000 tokenised articles in seconds)."""
    key = text_key(text)
    with _tokens_lock:
        found = _tokens.get(key)
    if found is None:
        found = tokenize(text)
        with _tokens_lock:
            if len(_tokens) >= TOKEN_CACHE:
                _tokens.clear()
            _tokens[key] = found
    return found


@dataclass(frozen=True)
class Hit:
    key: int
    score: float  # fused RRF score (higher is better)
    bm25: float  # raw BM25 score
    cosine: float | None  # dense cosine similarity, when a model is in use


@dataclass(frozen=True)
class Ranked:
    hits: list[Hit]
    # How far the first answer stands out: its relative BM25 lead over the best other document, plus (with a
    # dense model) DENSE_GAP_WEIGHT times its cosine lead. "Sure" answers are those above a threshold.
    confidence: float
    dense: bool = False  # the dense side took part (the threshold for "sure" differs)


DENSE_GAP_WEIGHT = 10.0
# Weight of the dense ranking in the fusion (BM25's is 1), chosen on the even rows of the Beijing Q&A.
DENSE_WEIGHT = 1.5


class Retriever:
    def __init__(
        self,
        docs: Sequence[tuple[int, str]],
        embeddings: Embeddings | None = None,
        passages: npt.NDArray[np.float32] | None = None,
        dense_weight: float = DENSE_WEIGHT,
    ) -> None:
        import bm25s

        self.keys = [k for k, _ in docs]
        self.embeddings = embeddings
        self.dense_weight = dense_weight
        self._bm25: Any = None
        if docs:
            self._bm25 = bm25s.BM25(k1=1.2, b=0.75)  # k1 chosen on the even rows of the Beijing Q&A
            self._bm25.index([cached_tokens(t) or ["\0"] for _, t in docs], show_progress=False)
        self._passages = passages
        if embeddings is not None and passages is None and docs:
            self._passages = embeddings.embed([t for _, t in docs], "passage")

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def dense(self) -> bool:
        """True when the dense side takes part (the passages are embedded)."""
        return self._passages is not None

    def search(self, query: str, k: int = 10) -> list[Hit]:
        return self.rank(query, k).hits

    def rank(self, query: str, k: int = 10, query_vector: npt.NDArray[np.float32] | None = None) -> Ranked:
        import numpy as np

        if not self.keys:
            return Ranked([], 0.0)
        tokens = tokenize(query)
        n = len(self.keys)
        bm = (
            np.asarray(self._bm25.get_scores(tokens), dtype=np.float32) if tokens else np.zeros(n, np.float32)
        )
        fused = np.zeros(n, dtype=np.float64)
        depth = min(DEPTH, n)
        for rank, i in enumerate(np.argsort(-bm)[:depth]):
            if bm[i] > 0:
                fused[i] += 1.0 / (RRF_K + rank + 1)
        cos = None
        if self.dense and (query_vector is not None or self.embeddings is not None):
            vector = query_vector
            if vector is None and self.embeddings is not None:
                vector = self.embeddings.embed([query], "query")[0]
            cos = self._passages @ vector if vector is not None and self._passages is not None else None
        if cos is not None:
            for rank, i in enumerate(np.argsort(-cos)[:depth]):
                fused[i] += self.dense_weight / (RRF_K + rank + 1)
        top = [int(i) for i in np.argsort(-fused)[:k] if fused[i] > 0]
        hits = [
            Hit(self.keys[i], float(fused[i]), float(bm[i]), None if cos is None else float(cos[i]))
            for i in top
        ]
        if not top:
            return Ranked([], 0.0, cos is not None)
        first = top[0]
        others = np.delete(bm, first)
        best_bm = float(others.max()) if len(others) else 0.0
        confidence = (float(bm[first]) - best_bm) / float(bm[first]) if bm[first] > 0 else -1.0
        if cos is not None:
            other_cos = np.delete(cos, first)
            confidence += DENSE_GAP_WEIGHT * (
                float(cos[first]) - (float(other_cos.max()) if len(other_cos) else 0.0)
            )
        return Ranked(hits, confidence, cos is not None)


def timed_search(retriever: Retriever, query: str, k: int = 10) -> tuple[list[Hit], float]:
    started = time.perf_counter()
    hits = retriever.search(query, k)
    return hits, time.perf_counter() - started
