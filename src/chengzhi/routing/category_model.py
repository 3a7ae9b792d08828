"""The trained category model: `CategoryModel` ranks the categories of texts with calibrated probabilities and
decides which first choices are sure enough to dispatch automatically (`decide`, `suggest`, `predict`); it is saved
as a directory (model.joblib + model.json) and loaded back (`load`). Training is in `classifier_training.py`."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from chengzhi.routing import text as textpipe
from chengzhi.routing.classifier_dense import DenseBase, dense_text
from chengzhi.routing.classifier_features import ClassifierConfig, ClassifierError, TextFeatures, _Base

# scikit-learn and joblib are imported where they are used (see classifier_features.py).
if TYPE_CHECKING:
    from sklearn.linear_model import LogisticRegression

FORMAT = 1
MODEL_FILE = "model.joblib"
META_FILE = "model.json"


@dataclass
class Prediction:
    label: str
    probability: float


@dataclass
class Suggestion:
    """The top 3 for one text, and whether the first is sure enough to dispatch automatically."""

    top: list[Prediction]
    auto: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "top": [{"label": p.label, "probability": round(p.probability, 4)} for p in self.top],
            "auto_dispatch": self.auto,
        }


@dataclass
class Decision:
    """A second way to rank (the stacker over the n-gram and dense base models' scores, for texts whose
    embedding is known), with its own offsets, thresholds and SVM floor chosen on held-out data."""

    stacker: LogisticRegression
    offsets: np.ndarray
    thresholds: np.ndarray
    svm_floor: float


@dataclass
class CategoryModel:
    config: ClassifierConfig
    labels: list[str]
    features: TextFeatures
    base: _Base
    stacker: LogisticRegression
    offsets: np.ndarray
    thresholds: np.ndarray
    words: list[str] = field(default_factory=list)  # the jieba user words at training
    meta: dict[str, Any] = field(default_factory=dict)
    # Automatic dispatch needs the SVM's raw decision value for the first choice at or above this (see `decide`).
    svm_floor: float = 0.0
    # With an embedding (classifier_dense.py): the dense base model and the ranking of texts whose vector is known.
    dense: DenseBase | None = None
    dense_decision: Decision | None = None

    # prediction

    @property
    def embedding(self) -> str:
        """The name of the embedding model this model can use ("" none): vectors of another model do not fit."""
        return self.config.dense_model if getattr(self, "dense", None) is not None else ""

    def embedded_text(self, text: str) -> str:
        """The part of `text` whose vector `suggest(..., vectors)` wants (query kind)."""
        return dense_text(self.config, text)

    def _probabilities(
        self, texts: Sequence[str], vectors: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated probabilities and the SVM's raw decision values, per text and class; with the texts'
        vectors (`embedded_text`, in order), from the stacker that also reads the dense model."""
        normalised = [textpipe.normalise(t) for t in texts]
        x = self.features.transform(normalised)
        svm = self.base.svm_decisions(x)
        scores = self.base.scores(x, svm)
        dense, decision = getattr(self, "dense", None), getattr(self, "dense_decision", None)
        if vectors is not None and dense is not None and decision is not None:
            return _stack_proba(decision.stacker, np.hstack([scores, dense.scores(vectors)])), svm
        return _stack_proba(self.stacker, scores), svm

    def decide(
        self, prob: np.ndarray, svm: np.ndarray | None = None, dense: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Indices of the classes ranked (best first) and whether the first is automatic, per row: its probability
        reaches its class's threshold and, given the SVM's raw decisions, the SVM's decision for that class is at
        least `svm_floor` (at most 0: the lowest seen, bar 1%, among held-out choices sure enough at training).
        The second condition keeps texts unlike anything in the training data (whose scores the stacker only sees
        after z-scoring, where a weak lead can look strong) with a person."""
        offsets, thresholds = self.offsets, self.thresholds
        floor = getattr(self, "svm_floor", 0.0)  # models saved earlier: 0
        decision = getattr(self, "dense_decision", None)
        if dense and decision is not None:
            offsets, thresholds, floor = decision.offsets, decision.thresholds, decision.svm_floor
        ranked = np.argsort(-(np.log(prob + 1e-12) + offsets), axis=1, kind="stable")
        first = ranked[:, 0]
        rows = np.arange(len(first))
        auto = prob[rows, first] >= thresholds[first]
        if svm is not None:
            auto &= svm[rows, first] >= floor
        return ranked, auto

    def rank(
        self, texts: Sequence[str], vectors: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(probabilities, classes ranked best first, automatic?) per text; with vectors, the dense ranking."""
        prob, svm = self._probabilities(texts, vectors)
        ranked, auto = self.decide(prob, svm, dense=vectors is not None and self.embedding != "")
        return prob, ranked, auto

    def suggest(
        self, texts: Sequence[str], k: int = 3, vectors: np.ndarray | None = None
    ) -> list[Suggestion]:
        """The top `k` per text; with their vectors (`embedded_text`) ranked by the model that reads them too."""
        if not texts:
            return []
        prob, ranked, auto = self.rank(texts, vectors)
        return [
            Suggestion([Prediction(self.labels[j], float(prob[i, j])) for j in ranked[i, :k]], bool(auto[i]))
            for i in range(len(texts))
        ]

    def predict(self, texts: Sequence[str]) -> list[str]:
        if not texts:
            return []
        ranked, _auto = self.decide(self._probabilities(texts)[0])
        return [self.labels[j] for j in ranked[:, 0]]

    # persistence

    def save(self, directory: Path) -> Path:
        import joblib

        directory.mkdir(parents=True, exist_ok=True)
        path = directory / MODEL_FILE
        joblib.dump(self, path, compress=3)
        meta = dict(self.meta)
        meta["model_sha256"] = _sha256_file(path)
        meta["model_bytes"] = path.stat().st_size
        self.meta = meta
        (directory / META_FILE).write_text(
            json.dumps(meta, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        return directory


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load(directory: Path) -> CategoryModel:
    """A saved model; its file must match the hash recorded beside it. Only load directories you trust."""
    import joblib

    meta_path, model_path = directory / META_FILE, directory / MODEL_FILE
    if not meta_path.is_file() or not model_path.is_file():
        raise ClassifierError(f"{directory} is not a model directory (no {META_FILE} and {MODEL_FILE})")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ClassifierError(f"{meta_path} cannot be read: {error}") from None
    if meta.get("format") != FORMAT:
        raise ClassifierError(
            f"{directory}: model format {meta.get('format')!r}, this version reads {FORMAT}"
        )
    if meta.get("model_sha256") != _sha256_file(model_path):
        raise ClassifierError(f"{model_path} does not match the hash in {META_FILE}: changed or damaged")
    model = joblib.load(model_path)
    if not isinstance(model, CategoryModel):
        raise ClassifierError(f"{model_path} does not hold a category model")
    model.meta = meta
    if model.words:
        textpipe.add_words(model.words)
    return model


def _stack_proba(stacker: LogisticRegression, scores: np.ndarray) -> np.ndarray:
    """`stacker.predict_proba(scores)` (multinomial, or binary) without scikit-learn's per-call validation."""
    z = scores @ stacker.coef_.T + stacker.intercept_
    if z.shape[1] == 1:
        p = 1.0 / (1.0 + np.exp(-z[:, 0]))
        return np.column_stack([1.0 - p, p])
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True))
