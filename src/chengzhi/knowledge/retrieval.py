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
from collections import Counter
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
K1, B = 1.2, 0.75  # BM25's parameters (k1 chosen on the even rows of the Beijing Q&A)
# Weight of the dense ranking in the fusion (BM25's is 1), chosen on the even rows of the Beijing Q&A.
DENSE_WEIGHT = 1.5


class Retriever:
    def __init__(
        self,
        docs: Sequence[tuple[int, str]],
        embeddings: Embeddings | None = None,
        passages: npt.NDArray[np.float32] | None = None,
        dense_weight: float = DENSE_WEIGHT,
        base: Retriever | None = None,
    ) -> None:
        """An index over `docs`. With `base` (a delta index), BM25 scores with the statistics of `base` and these
        documents together, so that they compare with the scores of `base` (see `Layered`)."""
        import bm25s

        self.keys = [k for k, _ in docs]
        self.embeddings = embeddings
        self.dense_weight = dense_weight
        self._bm25: Any = None
        self._frequencies: npt.NDArray[np.int64] | None = None
        tokens = [cached_tokens(t) or ["\0"] for _, t in docs]
        self.length = sum(len(t) for t in tokens)  # tokens in all documents (the average length)
        if docs:
            if base is None:
                self._bm25 = bm25s.BM25(k1=K1, b=B)
                self._bm25.index(tokens, show_progress=False)
            else:
                self._bm25 = _delta_bm25(base, tokens)
        self._passages = passages
        if embeddings is not None and passages is None and docs:
            self._passages = embeddings.embed([t for _, t in docs], "passage")

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def dense(self) -> bool:
        """True when the dense side takes part (the passages are embedded)."""
        return self._passages is not None

    def frequency(self, token: str) -> int:
        """How many documents hold `token` (read from the BM25 matrix: one stored score per document holding it)."""
        import numpy as np

        if self._bm25 is None:
            return 0
        if self._frequencies is None:
            self._frequencies = np.diff(self._bm25.scores["indptr"]).astype(np.int64)
        column = self._bm25.vocab_dict.get(token)
        if column is None or column >= len(self._frequencies):
            return 0
        return int(self._frequencies[column])

    def search(self, query: str, k: int = 10) -> list[Hit]:
        return self.rank(query, k).hits

    def scores(
        self,
        tokens: list[str],
        query_vector: npt.NDArray[np.float32] | None,
        question: str = "",
        delta: Retriever | None = None,
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32] | None]:
        """Each document's BM25 score (with `delta`'s documents counted in the IDF), and its cosine with the
        question (None without the dense side)."""
        import numpy as np

        n = len(self.keys)
        if n == 0:
            return np.zeros(0, np.float32), None if query_vector is None else np.zeros(0, np.float32)
        if not tokens:
            bm = np.zeros(n, np.float32)
        elif delta is not None and len(delta):
            bm = self._bm25_with(tokens, delta)
        else:
            bm = np.asarray(self._bm25.get_scores(tokens), dtype=np.float32)
        cos = None
        if self.dense and (query_vector is not None or self.embeddings is not None):
            vector = query_vector
            if vector is None and self.embeddings is not None:
                vector = self.embeddings.embed([question], "query")[0]
            cos = (
                dense_scores(self._passages, vector)
                if vector is not None and self._passages is not None
                else None
            )
        return bm, cos

    def _bm25_with(self, tokens: list[str], delta: Retriever) -> npt.NDArray[np.float32]:
        """BM25 scores with the IDF of this index and `delta` together, as `_delta_bm25` scores the delta: bm25s
        stores IDF × the term-frequency part per document and token, so each query token's scores are scaled by
        the ratio of the two IDFs (bm25s's own IDF function; the average length stays this index's)."""
        import numpy as np
        from bm25s import scoring

        n = len(self.keys)
        together = n + len(delta)
        bm = np.zeros(n, np.float32)
        for token, count in Counter(tokens).items():
            df = self.frequency(token)
            if df:
                ratio = scoring._score_idf_lucene(
                    df + delta.frequency(token), together
                ) / scoring._score_idf_lucene(df, n)
                bm += np.float32(count * ratio) * np.asarray(self._bm25.get_scores([token]), dtype=np.float32)
        return bm

    def rank(self, query: str, k: int = 10, query_vector: npt.NDArray[np.float32] | None = None) -> Ranked:
        if not self.keys:
            return Ranked([], 0.0)
        bm, cos = self.scores(tokenize(query), query_vector, query)
        return fuse(self.keys, bm, cos, k, self.dense_weight)


def _delta_bm25(base: Retriever, corpus: list[list[str]]) -> Any:
    """A bm25s index over the few documents of a delta, scored with the corpus statistics of `base` and these
    documents together (document count, document frequencies, average length), so that its scores compare with
    those of `base`: bm25s's own scoring functions over those statistics, the result set on a `bm25s.BM25` as its
    `index` would (bm25s is pinned in uv.lock; tests/test_knowledge_delta.py compares a delta with a full index)."""
    import bm25s
    from bm25s import scoring

    model = bm25s.BM25(k1=K1, b=B)
    vocab = {t: i for i, t in enumerate(dict.fromkeys(t for doc in corpus for t in doc))}
    ids = [[vocab[t] for t in doc] for doc in corpus]
    own = scoring._calculate_doc_freqs(ids, list(vocab.values()), show_progress=False)
    together = {i: own[i] + base.frequency(t) for t, i in vocab.items()}
    n = len(base) + len(ids)
    average = (base.length + sum(len(d) for d in ids)) / n
    idf = scoring._build_idf_array(
        together, n, scoring._select_idf_scorer(model.idf_method), dtype=model.dtype
    )
    data, rows, cols = scoring._build_scores_and_indices_for_matrix(
        ids,
        idf,
        average,
        own,  # sizes the arrays: one score per document and token it holds
        model.k1,
        model.b,
        model.delta,
        None,
        method=model.method,
        dtype=model.dtype,
        int_dtype=model.int_dtype,
        show_progress=False,
    )
    data, indices, indptr = model._np_csc(data=data, rows=rows, cols=cols, shape=(len(ids), len(vocab)))
    model.scores = {
        "data": data.astype(model.dtype),
        "indices": indices,
        "indptr": indptr,
        "num_docs": len(ids),
    }
    model.vocab_dict = vocab
    model.unique_token_ids_set = set(vocab.values())
    model.nonoccurrence_array = None
    return model


class Layered:
    """A main index and a delta index of the articles changed since the main one was built, searched together: both
    sides' BM25 scores use the IDF of both together (`_delta_bm25`, `Retriever._bm25_with`), so they are ranked as
    one list as one index of all the articles would rank them (the main side keeps its average length), and
    the main index's copies of changed articles (edited, withdrawn, expired) are left out. Building a delta of a few
    articles takes milliseconds where rebuilding 20,000 takes a minute; `knowledge.index` folds the delta into a new
    main index now and then."""

    def __init__(self, main: Retriever, delta: Retriever, changed: set[int]) -> None:
        import numpy as np

        self.main = main
        self.delta = delta
        self.dense_weight = main.dense_weight
        alive = np.fromiter((k not in changed for k in main.keys), dtype=bool, count=len(main.keys))
        self._alive = None if alive.all() else alive
        self.keys = [k for k, a in zip(main.keys, alive, strict=True) if a] + delta.keys

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def dense(self) -> bool:
        return self.main.dense

    def search(self, query: str, k: int = 10) -> list[Hit]:
        return self.rank(query, k).hits

    def rank(self, query: str, k: int = 10, query_vector: npt.NDArray[np.float32] | None = None) -> Ranked:
        import numpy as np

        tokens = tokenize(query)
        bm, cos = self.main.scores(tokens, query_vector, query, delta=self.delta)
        more_bm, more_cos = self.delta.scores(tokens, query_vector if cos is not None else None, query)
        if self._alive is not None:
            bm = bm[self._alive]
            cos = None if cos is None else cos[self._alive]
        if cos is not None and more_cos is None:  # the delta's articles have no vector yet
            more_cos = np.zeros(len(self.delta), np.float32)
        both = np.concatenate([bm, more_bm])
        return fuse(
            self.keys, both, None if cos is None else np.concatenate([cos, more_cos]), k, self.dense_weight
        )


def _top(values: npt.NDArray[np.float32], depth: int) -> npt.NDArray[np.intp]:
    """The indices of the `depth` largest values, largest first: a partial sort (20,000 articles: ~0.4 ms of CPU
    instead of ~1 ms for a full sort), then a sort of those few."""
    import numpy as np

    if depth >= len(values):
        return np.argsort(-values, kind="stable")
    part = np.argpartition(-values, depth - 1)[:depth]
    return part[np.argsort(-values[part], kind="stable")]


def _best_other(values: npt.NDArray[np.float32], order: npt.NDArray[np.intp], first: int) -> float:
    """The largest value other than `values[first]` (one document's), from `order` (the largest first)."""
    for i in order[:2]:
        if i != first:
            return float(values[i])
    return 0.0


def dense_scores(
    passages: npt.NDArray[np.float32], vector: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """Every passage's cosine with the question's vector (rows are normalised). `einsum` runs on the calling
    thread: `passages @ vector` goes to OpenBLAS, whose threads wait for each other when the cores are shared
    (20,000 × 384: p50 120 ms wall for 4 ms of CPU at load 22, against 1.3 ms for einsum;
    benchmarks/results/kb-latency-2026-12-07.md)."""
    import numpy as np

    scores: npt.NDArray[np.float32] = np.einsum("ij,j->i", passages, vector.astype(np.float32, copy=False))
    return scores


def fuse(
    keys: Sequence[int],
    bm: npt.NDArray[np.float32],
    cos: npt.NDArray[np.float32] | None,
    k: int,
    dense_weight: float = DENSE_WEIGHT,
) -> Ranked:
    """Reciprocal-rank fusion of the BM25 and cosine rankings of `keys`, and the confidence of the first. Only the
    top `DEPTH` of each side take part, so only they are sorted."""
    n = len(keys)
    if n == 0:
        return Ranked([], 0.0, cos is not None)
    fused: dict[int, float] = {}
    depth = min(DEPTH, n)
    bm_order = _top(bm, depth)
    for rank, i in enumerate(bm_order.tolist()):
        if bm[i] > 0:
            fused[i] = 1.0 / (RRF_K + rank + 1)
    cos_order = None
    if cos is not None:
        cos_order = _top(cos, depth)
        for rank, i in enumerate(cos_order.tolist()):
            fused[i] = fused.get(i, 0.0) + dense_weight / (RRF_K + rank + 1)
    # Largest fused score first; ties by position, as a stable sort of all the documents would order them.
    top = sorted((i for i, f in fused.items() if f > 0), key=lambda i: (-fused[i], i))[:k]
    hits = [Hit(keys[i], fused[i], float(bm[i]), None if cos is None else float(cos[i])) for i in top]
    if not top:
        return Ranked([], 0.0, cos is not None)
    first = top[0]
    best_bm = _best_other(bm, bm_order, first) if n > 1 else 0.0
    confidence = (float(bm[first]) - best_bm) / float(bm[first]) if bm[first] > 0 else -1.0
    if cos is not None and cos_order is not None:
        best_cos = _best_other(cos, cos_order, first) if n > 1 else 0.0
        confidence += DENSE_GAP_WEIGHT * (float(cos[first]) - best_cos)
    return Ranked(hits, confidence, cos is not None)


def timed_search(retriever: Retriever, query: str, k: int = 10) -> tuple[list[Hit], float]:
    started = time.perf_counter()
    hits = retriever.search(query, k)
    return hits, time.perf_counter() - started
