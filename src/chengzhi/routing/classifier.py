"""The category classifier: trained from the city's history, it suggests the top 3 categories of a request with
calibrated probabilities, and says whether the first one is sure enough to dispatch without a person.

The model (docs/routing.md, "Category classifier"):

- features: TF-IDF of character 1–3-grams of the normalised text, of its jieba words, and of the character
  1–3-grams of its first 30 characters (where a message names its subject), side by side (sublinear);
- base models: a class-balanced linear SVM and a complement naive Bayes, whose scores on held-out folds
  (k-fold inside the training data) train a multinomial logistic regression: the stacker that combines them and
  turns them into calibrated probabilities;
- offsets on the log-probabilities for macro-F1 (rare categories are not drowned by frequent ones): the class
  priors divided out to a power α chosen on the held-out folds within a bound on the accuracy lost;
- per-class confidence thresholds, chosen on the held-out folds so that the first choices above them keep the
  target precision (97% by default): above → dispatched automatically, below → a person confirms.

Everything is fitted on the training data alone; `evaluate` and the benchmark measure on data the model has not
seen. Models are saved as a directory (model.joblib + model.json); `registry.py` keeps them in the database.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import platform
import re
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from chengzhi.routing import text as textpipe

# scikit-learn, SciPy and joblib are imported where they are used: the web app and the CLI start without them
# (about 2 s), and they load with the first model read or trained.
if TYPE_CHECKING:
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import ComplementNB
    from sklearn.svm import LinearSVC
    from sqlalchemy.orm import Session

    from chengzhi.config import Settings

FORMAT = 1
SVM_FLOOR_QUANTILE = 0.01
MODEL_FILE = "model.joblib"
META_FILE = "model.json"


class ClassifierError(Exception):
    """A problem a user can fix (bad training file, too few examples, missing model): the message names it."""


# --- configuration ---------------------------------------------------------------------------------------------


@dataclass
class ClassifierConfig:
    char_ngrams: tuple[int, int] = (1, 3)
    word_ngrams: tuple[int, int] = (1, 1)
    svm_c: float = 0.5
    nb_alpha: float = 0.1
    use_nb: bool = True
    # Folds inside the training data that give held-out scores (stacker, offsets, thresholds).
    folds: int = 5
    # Offsets on the log-probabilities for macro-F1, chosen on held-out folds of the training data: first the
    # class priors divided out to a power α in [0, 1] (one parameter), losing at most `max_accuracy_loss` of
    # accuracy; then per-class offsets (coordinate ascent) losing at most `fine_offsets_loss` more. Neither takes
    # held-out accuracy below `min_accuracy` (an absolute floor a city may set). 0 disables a step.
    max_accuracy_loss: float = 0.02
    fine_offsets_loss: float = 0.0
    min_accuracy: float = 0.0
    target_precision: float = 0.97
    # Only the first `max_chars` characters of the normalised text are read (0: all): jieba's time grows with the
    # length, and what a long message is about is said in its first few hundred characters.
    max_chars: int = 800
    # A third block: character n-grams of the first `head_chars` characters (0: none), weighted `head_weight`.
    head_chars: int = 30
    head_weight: float = 1.0
    # Unlabelled texts of the same kind given to `train` (semi-supervised): with `unlabelled_idf` they widen the
    # TF-IDF vocabulary and weights; with `pseudo_share` > 0, that share of them, those the base SVM labels with
    # the widest margins, join the training rows with its labels (self-training) at `pseudo_weight` each.
    unlabelled_idf: bool = False
    pseudo_share: float = 0.6
    pseudo_weight: float = 1.0
    # Fewest examples per label; fewer stops the training with a message naming the labels.
    min_examples: int = 5
    # Weight of a request whose category a person corrected (training from the database).
    correction_weight: float = 2.0
    seed: int = 0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClassifierConfig:
        known = {f for f in cls.__dataclass_fields__}
        values: dict[str, Any] = {
            k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items() if k in known
        }
        return cls(**values)


# --- features --------------------------------------------------------------------------------------------------


def _words(normalised: str) -> list[str]:
    return textpipe.tokens(normalised, normalised=True)


_WHITE_SPACES = re.compile(r"\s\s+")


def _tfidf_rows(
    terms: Iterable[Sequence[str]], vocabulary: dict[str, int], idf: np.ndarray, sublinear: bool, width: int
) -> sp.csr_matrix:
    """What a fitted TfidfVectorizer (norm l2, smooth idf) gives for documents already cut into terms, without
    scikit-learn's per-call validation: at intake, one message at a time, that overhead was most of the time."""
    import scipy.sparse as sp

    indptr = [0]
    index_parts: list[np.ndarray] = []
    value_parts: list[np.ndarray] = []
    get = vocabulary.get
    for doc in terms:
        ids = np.fromiter(map(get, doc, repeat(-1)), dtype=np.int64, count=len(doc))
        ids = ids[ids >= 0]
        if len(ids):
            ids, counts = np.unique(ids, return_counts=True)
            tf = np.log(counts) + 1.0 if sublinear else counts.astype(np.float64)
            values = tf * idf[ids]
            values /= np.sqrt(np.dot(values, values))
        else:
            values = np.zeros(0)
        index_parts.append(ids)
        value_parts.append(values)
        indptr.append(indptr[-1] + len(ids))
    indices = np.concatenate(index_parts) if index_parts else np.zeros(0, dtype=np.int64)
    data = np.concatenate(value_parts).astype(np.float32) if value_parts else np.zeros(0, dtype=np.float32)
    return sp.csr_matrix((data, indices, np.array(indptr)), shape=(len(indptr) - 1, width))


def _char_terms(text: str, low: int, high: int) -> list[str]:
    """scikit-learn's character n-grams (analyzer="char", lower-cased, runs of white space as one space)."""
    text = _WHITE_SPACES.sub(" ", text.lower())
    size = len(text)
    grams: list[str] = []
    for n in range(low, high + 1):
        grams.extend([text[i : i + n] for i in range(size - n + 1)])
    return grams


class TextFeatures:
    """TF-IDF blocks side by side: character n-grams and jieba words of the normalised text, and character
    n-grams of its first `head_chars` characters (where a message names its subject: a title, a first sentence)."""

    def __init__(self, config: ClassifierConfig) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.chars = self._chars(config)
        self.words = (
            TfidfVectorizer(analyzer=_words, sublinear_tf=True, lowercase=False, dtype=np.float32)
            if config.word_ngrams == (1, 1)
            else TfidfVectorizer(
                tokenizer=_words,
                token_pattern=None,
                ngram_range=config.word_ngrams,
                sublinear_tf=True,
                lowercase=False,
                dtype=np.float32,
            )
        )
        self.max_chars = config.max_chars
        self.head_chars = config.head_chars
        self.head_weight = config.head_weight
        self.head = self._chars(config) if config.head_chars > 0 else None
        self._fast: tuple[Any, ...] | None = None

    @staticmethod
    def _chars(config: ClassifierConfig) -> TfidfVectorizer:
        from sklearn.feature_extraction.text import TfidfVectorizer

        return TfidfVectorizer(
            analyzer="char",
            ngram_range=config.char_ngrams,
            sublinear_tf=True,
            lowercase=True,
            dtype=np.float32,
        )

    def _cut(self, normalised: Sequence[str]) -> Sequence[str]:
        cap = getattr(self, "max_chars", 0)  # models saved before the cap read whole texts
        return [t[:cap] for t in normalised] if cap else normalised

    def _heads(self, normalised: Sequence[str]) -> list[str]:
        return [t[: self.head_chars] for t in normalised]

    def fit_transform(self, normalised: Sequence[str], unlabelled: Sequence[str] = ()) -> sp.csr_matrix:
        """Fits the vocabularies and IDF weights (on the training texts and any unlabelled texts of the same
        kind: more text, better weights, no labels needed) and returns the training texts' features."""
        self._fast = None
        both = self._cut([*normalised, *unlabelled])
        self.chars.fit(both)
        self.words.fit(both)
        if self.head is not None:
            self.head.fit(self._heads(both))
        return self.transform(normalised)

    def _fast_parts(self) -> tuple[Any, ...] | None:
        """The fitted vocabularies and IDF weights for `_tfidf_rows` (None where the fast path does not apply)."""
        fast = getattr(self, "_fast", None)  # models saved before the fast path have no such attribute
        if fast is None:
            words = self.words
            chars = [v for v in (self.chars, getattr(self, "head", None)) if v is not None]
            plain = (
                all(
                    v.analyzer == "char"
                    and v.lowercase
                    and v.norm == "l2"
                    and v.use_idf
                    and v.preprocessor is None
                    and v.strip_accents is None
                    for v in chars
                )
                and callable(words.analyzer)
                and words.norm == "l2"
                and words.use_idf
            )
            if not plain:
                return None
            fast = tuple(
                (v.ngram_range, v.vocabulary_, np.asarray(v.idf_, dtype=np.float64), bool(v.sublinear_tf))
                for v in (*chars, words)
            )
            self._fast = fast
        return fast

    def transform(self, normalised: Sequence[str]) -> sp.csr_matrix:
        import scipy.sparse as sp

        normalised = self._cut(normalised)
        head = getattr(self, "head", None)
        fast = self._fast_parts()
        if fast is None:
            blocks = [self.chars.transform(normalised), self.words.transform(normalised)]
            if head is not None:
                blocks.append(head.transform(self._heads(normalised)) * self.head_weight)
            return sp.hstack(blocks, format="csr")
        (low, high), vocab, idf, sub = fast[0]
        blocks = [_tfidf_rows((_char_terms(t, low, high) for t in normalised), vocab, idf, sub, len(idf))]
        _, vocab, idf, sub = fast[-1]
        blocks.append(_tfidf_rows((_words(t) for t in normalised), vocab, idf, sub, len(idf)))
        if head is not None:
            (low, high), vocab, idf, sub = fast[1]
            terms = (_char_terms(t, low, high) for t in self._heads(normalised))
            blocks.append(_tfidf_rows(terms, vocab, idf, sub, len(idf)) * self.head_weight)
        return sp.hstack(blocks, format="csr")


def _zscore(scores: np.ndarray) -> np.ndarray:
    mean = scores.mean(axis=1, keepdims=True)
    std = scores.std(axis=1, keepdims=True) + 1e-9
    return (scores - mean) / std


@dataclass
class _Base:
    svm: LinearSVC
    nb: ComplementNB | None
    # The linear models' weights as contiguous (features × classes) arrays: one sparse-dense product per model
    # (scikit-learn's own path copies the transposed weights at every call: ~10 ms per message).
    svm_w: np.ndarray | None = None
    svm_b: np.ndarray | None = None
    nb_w: np.ndarray | None = None

    @classmethod
    def fit(
        cls, x: sp.csr_matrix, y: np.ndarray, config: ClassifierConfig, weights: np.ndarray | None
    ) -> _Base:
        from sklearn.naive_bayes import ComplementNB
        from sklearn.svm import LinearSVC

        svm = LinearSVC(C=config.svm_c, class_weight="balanced", random_state=config.seed)
        svm.fit(x, y, sample_weight=weights)
        nb = None
        if config.use_nb:
            nb = ComplementNB(alpha=config.nb_alpha)
            nb.fit(x, y, sample_weight=weights)
        base = cls(svm, nb)
        base._prepare()
        return base

    def _prepare(self) -> None:
        self.svm_w = np.ascontiguousarray(self.svm.coef_.T)
        self.svm_b = np.asarray(self.svm.intercept_)
        if self.nb is not None:
            self.nb_w = np.ascontiguousarray(self.nb.feature_log_prob_.T)

    def svm_decisions(self, x: sp.csr_matrix) -> np.ndarray:
        """The SVM's raw one-vs-rest decision values (rows × classes): > 0 where it claims the text for a class."""
        if self.svm_w is None or self.svm_b is None:
            self._prepare()
        assert self.svm_w is not None and self.svm_b is not None
        svm = np.asarray(x @ self.svm_w) + self.svm_b
        if svm.shape[1] == 1:  # two classes: one decision value, positive for the second class
            svm = np.hstack([-svm, svm])
        return svm

    def scores(self, x: sp.csr_matrix, svm: np.ndarray | None = None) -> np.ndarray:
        """The stacker's inputs: z-scored SVM decisions and naive Bayes log-likelihoods, side by side."""
        svm = self.svm_decisions(x) if svm is None else svm
        parts = [_zscore(svm)]
        if self.nb is not None and self.nb_w is not None:
            # Complement NB's joint log-likelihood; its normalisation is a per-row constant, which z-scores drop.
            parts.append(_zscore(np.asarray(x @ self.nb_w)))
        return np.hstack(parts)


# --- decisions -------------------------------------------------------------------------------------------------


def _macro_f1_acc(y: np.ndarray, pred: np.ndarray, k: int) -> tuple[float, float]:
    """Macro-F1 (over the classes present in truth or prediction) and accuracy, from one bincount."""
    cm = np.bincount(y * k + pred, minlength=k * k).reshape(k, k)
    tp = np.diag(cm).astype(float)
    total = cm.sum(axis=0) + cm.sum(axis=1)
    present = total > 0
    f1 = np.divide(2 * tp, total, out=np.zeros(k), where=present)
    return float(f1[present].mean()), float(tp.sum() / len(y))


def _tune_offsets(
    log_p: np.ndarray,
    y: np.ndarray,
    max_accuracy_loss: float,
    steps: int = 3,
    start: np.ndarray | None = None,
    floor: float = 0.0,
) -> np.ndarray:
    """Per-class offsets added to log-probabilities that raise macro-F1 on held-out data, by coordinate ascent
    from `start`, keeping accuracy within `max_accuracy_loss` of the arg-max with `start` and at least `floor`."""
    k = log_p.shape[1]
    initial = np.zeros(k) if start is None else np.asarray(start, dtype=float)
    offsets = initial.copy()
    if max_accuracy_loss <= 0:
        return offsets
    best, accuracy = _macro_f1_acc(y, (log_p + offsets).argmax(1), k)
    floor = max(floor, accuracy - max_accuracy_loss)
    grid = np.linspace(-2.0, 2.0, 41)
    for _ in range(steps):
        improved = False
        for c in range(k):
            for value in initial[c] + grid:
                trial = offsets.copy()
                trial[c] = value
                score, accuracy = _macro_f1_acc(y, (log_p + trial).argmax(1), k)
                if accuracy >= floor and score > best + 1e-9:
                    best, offsets, improved = score, trial, True
        if not improved:
            break
    return offsets


def _prior_offsets(
    log_p: np.ndarray, y: np.ndarray, max_accuracy_loss: float, floor: float = 0.0
) -> tuple[np.ndarray, float]:
    """Offsets −α·log(prior) for the α in 0, 0.1, …, 1 with the best held-out macro-F1 whose accuracy stays within
    `max_accuracy_loss` of the plain arg-max and at least `floor` (α = 0 when none does better than α = 0).
    One parameter for all classes: unlike per-class offsets it hardly overfits the few examples of rare ones."""
    k = log_p.shape[1]
    log_prior = np.log(np.maximum(np.bincount(y, minlength=k), 1) / len(y))
    best, accuracy = _macro_f1_acc(y, log_p.argmax(1), k)
    floor = max(floor, accuracy - max_accuracy_loss)
    chosen = 0.0
    for alpha in np.linspace(0.1, 1.0, 10):
        score, accuracy = _macro_f1_acc(y, (log_p - alpha * log_prior).argmax(1), k)
        if accuracy >= floor and score > best + 1e-9:
            best, chosen = score, round(float(alpha), 2)
    return -chosen * log_prior, chosen


def _thresholds(
    top: np.ndarray, prob: np.ndarray, y: np.ndarray, k: int, target: float, min_support: int = 5
) -> np.ndarray:
    """For each class, the lowest probability such that the held-out first choices of that class at or above it
    have at least `target` precision (and at least `min_support` of them); 1.01 (never) where none does."""
    result = np.full(k, 1.01)
    for c in range(k):
        mask = top == c
        if mask.sum() < min_support:
            continue
        p = prob[mask]
        correct = (y[mask] == c).astype(float)
        order = np.argsort(-p, kind="stable")
        p, correct = p[order], correct[order]
        precision = np.cumsum(correct) / np.arange(1, len(p) + 1)
        ok = np.nonzero((precision >= target) & (np.arange(1, len(p) + 1) >= min_support))[0]
        if len(ok):
            i = ok[-1]
            # Ties: everything at p[i] is included, so take the threshold at a point where p changes.
            while i + 1 < len(p) and p[i + 1] == p[i]:
                i += 1
            if precision[i] >= target:
                result[c] = float(p[i])
    return result


# --- the model -------------------------------------------------------------------------------------------------


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

    # prediction

    def _probabilities(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated probabilities and the SVM's raw decision values, per text and class."""
        normalised = [textpipe.normalise(t) for t in texts]
        x = self.features.transform(normalised)
        svm = self.base.svm_decisions(x)
        return _stack_proba(self.stacker, self.base.scores(x, svm)), svm

    def decide(self, prob: np.ndarray, svm: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Indices of the classes ranked (best first) and whether the first is automatic, per row: its probability
        reaches its class's threshold and, given the SVM's raw decisions, the SVM's decision for that class is at
        least `svm_floor` (at most 0: the lowest seen, bar 1%, among held-out choices sure enough at training).
        The second condition keeps texts unlike anything in the training data (whose scores the stacker only sees
        after z-scoring, where a weak lead can look strong) with a person."""
        ranked = np.argsort(-(np.log(prob + 1e-12) + self.offsets), axis=1, kind="stable")
        first = ranked[:, 0]
        rows = np.arange(len(first))
        auto = prob[rows, first] >= self.thresholds[first]
        if svm is not None:
            auto &= svm[rows, first] >= getattr(self, "svm_floor", 0.0)  # models saved earlier: 0
        return ranked, auto

    def suggest(self, texts: Sequence[str], k: int = 3) -> list[Suggestion]:
        if not texts:
            return []
        prob, svm = self._probabilities(texts)
        ranked, auto = self.decide(prob, svm)
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


# --- training --------------------------------------------------------------------------------------------------


@dataclass
class TrainingData:
    texts: list[str]
    labels: list[str]
    weights: list[float] | None = None
    source: str = ""
    skipped: int = 0  # rows without usable text

    def digest(self) -> tuple[str, int]:
        """SHA-256 of the texts and labels in order, and their size in bytes (UTF-8)."""
        h = hashlib.sha256()
        size = 0
        for t, label in zip(self.texts, self.labels, strict=True):
            chunk = (t + "\x1f" + label + "\x1e").encode("utf-8")
            h.update(chunk)
            size += len(chunk)
        return h.hexdigest(), size


def min_rows_per_label(config: ClassifierConfig) -> int:
    """The fewest examples of a label a training accepts: `min_examples`, and one per fold."""
    return max(config.min_examples, config.folds)


def check_training(labels: Sequence[str], config: ClassifierConfig) -> None:
    counts = Counter(labels)
    if not counts:
        raise ClassifierError("no training rows with text and a label")
    if len(counts) < 2:
        (only,) = counts
        raise ClassifierError(f"only one class in the labels ({only!r}): a classifier needs at least two")
    need = min_rows_per_label(config)
    few = sorted((n, label) for label, n in counts.items() if n < need)
    if few:
        listed = ", ".join(f"{label!r} ({n})" for n, label in few)
        raise ClassifierError(
            f"labels with fewer than {need} examples: {listed}; add examples, merge or drop these labels"
        )


def _fit_base(
    x: sp.csr_matrix,
    y: np.ndarray,
    weights: np.ndarray | None,
    config: ClassifierConfig,
    unlabelled: sp.csr_matrix | None,
) -> _Base:
    """The base models; with unlabelled texts (self-training), fitted again with the share
    `config.pseudo_share` of them that the first fit labels with the widest SVM margins, as if labelled so."""
    import scipy.sparse as sp

    base = _Base.fit(x, y, config, weights)
    if unlabelled is None or unlabelled.shape[0] == 0 or config.pseudo_share <= 0:
        return base
    assert base.svm_w is not None and base.svm_b is not None
    svm = np.asarray(unlabelled @ base.svm_w) + base.svm_b
    if svm.shape[1] == 1:
        svm = np.hstack([-svm, svm])
    ordered = np.sort(svm, axis=1)
    margin = ordered[:, -1] - ordered[:, -2]
    take = max(1, round(config.pseudo_share * len(margin)))
    pick = np.argsort(-margin, kind="stable")[:take]
    pseudo = base.svm.classes_[svm[pick].argmax(axis=1)]
    own = np.ones(len(y)) if weights is None else weights
    return _Base.fit(
        sp.vstack([x, unlabelled[pick]], format="csr"),
        np.concatenate([y, pseudo]),
        config,
        np.concatenate([own, np.full(take, config.pseudo_weight)]),
    )


def _held_out(
    x: sp.csr_matrix,
    y: np.ndarray,
    weights: np.ndarray | None,
    config: ClassifierConfig,
    unlabelled: sp.csr_matrix | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The base models' scores of every training row from models fitted without its fold (pseudo-labels too
    come from those models: the held-out rows never shape what is learnt about them), and the SVM's raw
    decision values among them."""
    from sklearn.model_selection import StratifiedKFold

    folds = StratifiedKFold(config.folds, shuffle=True, random_state=config.seed)
    scores: np.ndarray | None = None
    decisions: np.ndarray | None = None
    for train, test in folds.split(np.zeros(len(y)), y):
        base = _fit_base(x[train], y[train], None if weights is None else weights[train], config, unlabelled)
        svm = base.svm_decisions(x[test])
        s = base.scores(x[test], svm)
        if scores is None or decisions is None:
            scores = np.zeros((len(y), s.shape[1]))
            decisions = np.zeros((len(y), svm.shape[1]))
        scores[test] = s
        decisions[test] = svm
    assert scores is not None and decisions is not None
    return scores, decisions


def _stack_proba(stacker: LogisticRegression, scores: np.ndarray) -> np.ndarray:
    """`stacker.predict_proba(scores)` (multinomial, or binary) without scikit-learn's per-call validation."""
    z = scores @ stacker.coef_.T + stacker.intercept_
    if z.shape[1] == 1:
        p = 1.0 / (1.0 + np.exp(-z[:, 0]))
        return np.column_stack([1.0 - p, p])
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def _stacker(seed: int) -> LogisticRegression:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=1.0, max_iter=1000, random_state=seed)


def _usable(texts: Sequence[str]) -> list[str]:
    """The normalised texts that have any text left (unusable ones dropped)."""
    result = []
    for t in texts:
        try:
            n = textpipe.normalise(t or "")
        except textpipe.TextError:
            continue
        if n:
            result.append(n)
    return result


def train(
    data: TrainingData, config: ClassifierConfig | None = None, unlabelled: Sequence[str] = ()
) -> CategoryModel:
    """Fits the whole model on `data`; its `meta` holds the held-out figures of this training. `unlabelled`:
    texts of the same kind without labels, used only for the feature weights (semi-supervised)."""
    from sklearn.model_selection import StratifiedKFold

    config = config or ClassifierConfig()
    started = time.perf_counter()
    texts, labels, weights = [], [], []
    skipped = data.skipped
    for i, (t, label) in enumerate(zip(data.texts, data.labels, strict=True)):
        label = (label or "").strip() if isinstance(label, str) else str(label)
        try:
            normalised = textpipe.normalise(t or "")
        except textpipe.TextError:
            normalised = ""
        if not normalised or not label:
            skipped += 1
            continue
        texts.append(normalised)
        labels.append(label)
        weights.append(1.0 if data.weights is None else float(data.weights[i]))
    check_training(labels, config)
    classes = sorted(set(labels))
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[c] for c in labels])
    w = None if data.weights is None else np.array(weights)

    features = TextFeatures(config)
    extra = _usable(unlabelled)
    x = features.fit_transform(texts, extra if config.unlabelled_idf else ())
    xu = features.transform(extra) if extra and config.pseudo_share > 0 else None
    held, held_svm = _held_out(x, y, w, config, xu)
    # Held-out probabilities of the stacker itself (cross-fitted), for offsets, thresholds and figures.
    prob = np.zeros((len(y), len(classes)))
    folds = StratifiedKFold(config.folds, shuffle=True, random_state=config.seed + 1)
    for train_idx, test_idx in folds.split(held, y):
        prob[test_idx] = (
            _stacker(config.seed).fit(held[train_idx], y[train_idx]).predict_proba(held[test_idx])
        )
    log_p = np.log(prob + 1e-12)
    offsets, alpha = _prior_offsets(log_p, y, config.max_accuracy_loss, config.min_accuracy)
    offsets = _tune_offsets(log_p, y, config.fine_offsets_loss, start=offsets, floor=config.min_accuracy)
    ranked = np.argsort(-(np.log(prob + 1e-12) + offsets), axis=1, kind="stable")
    top = ranked[:, 0]
    top_p = prob[np.arange(len(y)), top]
    thresholds = _thresholds(top, top_p, y, len(classes), config.target_precision)
    # The SVM's floor for automatic dispatch (see `decide`): the lowest raw decision value of the first choice
    # seen among the held-out choices sure enough to be automatic, bar the lowest 1%; never above 0.
    passing = top_p >= thresholds[top]
    raw_top = held_svm[np.arange(len(y)), top]
    svm_floor = float(min(0.0, np.quantile(raw_top[passing], SVM_FLOOR_QUANTILE))) if passing.any() else 0.0

    base = _fit_base(x, y, w, config, xu)
    stacker = _stacker(config.seed).fit(held, y)
    digest, size = data.digest()
    auto = passing & (raw_top >= svm_floor)
    held_metrics = report([classes[i] for i in y], [classes[i] for i in top], auto=auto)
    meta = {
        "format": FORMAT,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "config": _config_dict(config),
        "labels": classes,
        "data": {
            "source": data.source,
            "sha256": digest,
            "rows": len(data.texts),
            "bytes": size,
            "used_rows": len(texts),
            "skipped_rows": skipped,
            "unlabelled_rows": len(extra),
        },
        "metrics": {"held_out": held_metrics},
        "thresholds": {
            c: (None if t > 1 else round(float(t), 4)) for c, t in zip(classes, thresholds, strict=True)
        },
        "offsets": {c: round(float(o), 3) for c, o in zip(classes, offsets, strict=True)},
        "prior_power": alpha,
        "svm_floor": round(svm_floor, 4),
        "training_seconds": round(time.perf_counter() - started, 2),
        "software": {"python": platform.python_version(), "sklearn": _sklearn_version()},
    }
    return CategoryModel(
        config=config,
        labels=classes,
        features=features,
        base=base,
        stacker=stacker,
        offsets=offsets,
        thresholds=thresholds,
        words=textpipe.user_words(),
        meta=meta,
        svm_floor=svm_floor,
    )


def _config_dict(config: ClassifierConfig) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()}


def _sklearn_version() -> str:
    import sklearn

    return str(sklearn.__version__)


# --- figures ---------------------------------------------------------------------------------------------------


def report(truth: Sequence[str], predicted: Sequence[str], auto: np.ndarray | None = None) -> dict[str, Any]:
    """macro-F1, accuracy, class-balanced accuracy, per-class precision/recall/F1, the confusion matrix and,
    given which predictions were automatic, the share dispatched automatically and their precision."""
    from sklearn.metrics import (
        accuracy_score,
        balanced_accuracy_score,
        confusion_matrix,
        f1_score,
        precision_recall_fscore_support,
    )

    labels = sorted(set(truth) | set(predicted))
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=labels, zero_division=0
    )
    result: dict[str, Any] = {
        "rows": len(truth),
        "macro_f1": round(
            float(f1_score(truth, predicted, labels=labels, average="macro", zero_division=0)), 4
        ),
        "accuracy": round(float(accuracy_score(truth, predicted)), 4),
        "balanced_accuracy": round(float(balanced_accuracy_score(truth, predicted)), 4),
        "per_class": {
            label: {
                "precision": round(float(p), 4),
                "recall": round(float(r), 4),
                "f1": round(float(f), 4),
                "support": int(s),
            }
            for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
        },
        "confusion_matrix": {
            "labels": labels,
            "matrix": confusion_matrix(truth, predicted, labels=labels).tolist(),
        },
    }
    if auto is not None:
        auto = np.asarray(auto, dtype=bool)
        share = float(auto.mean()) if len(auto) else 0.0
        right = np.asarray(truth, dtype=object)[auto] == np.asarray(predicted, dtype=object)[auto]
        result["auto_dispatch"] = {
            "share": round(share, 4),
            "rows": int(auto.sum()),
            "precision": round(float(right.mean()), 4) if auto.any() else None,
        }
    return result


def evaluate(model: CategoryModel, texts: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """Figures of `model` on labelled data it was not trained on. Rows without usable text are skipped."""
    keep_t, keep_l = [], []
    skipped = 0
    for t, label in zip(texts, labels, strict=True):
        try:
            usable = bool(textpipe.normalise(t or "")) and bool(str(label or "").strip())
        except textpipe.TextError:
            usable = False
        if usable:
            keep_t.append(t)
            keep_l.append(str(label).strip())
        else:
            skipped += 1
    if not keep_t:
        raise ClassifierError("no rows with text and a label to evaluate on")
    started = time.perf_counter()
    prob, svm = model._probabilities(keep_t)
    ranked, auto = model.decide(prob, svm)
    elapsed = time.perf_counter() - started
    predicted = [model.labels[j] for j in ranked[:, 0]]
    result = report(keep_l, predicted, auto=auto)
    unknown = sorted(set(keep_l) - set(model.labels))
    result["skipped_rows"] = skipped
    result["unknown_labels"] = unknown
    result["predict_ms_per_message"] = round(1000 * elapsed / len(keep_t), 3)
    result["model"] = {k: model.meta.get(k) for k in ("created_at", "labels", "version") if k in model.meta}
    return result


# --- reading training files ------------------------------------------------------------------------------------


def read_table(path: Path, text_column: str, label_column: str | None) -> TrainingData:
    """Texts (and labels) from a CSV (UTF-8 or GB18030) or XLSX file with a header row."""
    if not path.is_file():
        raise ClassifierError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        header, rows = _read_xlsx(path)
    elif suffix in (".csv", ".txt", ".tsv", ""):
        header, rows = _read_csv(path, "\t" if suffix == ".tsv" else ",")
    else:
        raise ClassifierError(f"{path}: unsupported file type {suffix!r} (use .csv or .xlsx)")
    wanted = [text_column] + ([label_column] if label_column else [])
    missing = [c for c in wanted if c not in header]
    if missing:
        raise ClassifierError(
            f"{path}: missing column(s) {', '.join(repr(c) for c in missing)}; "
            f"the file has {', '.join(repr(h) for h in header if h) or 'no header'}"
        )
    ti = header.index(text_column)
    li = header.index(label_column) if label_column else None
    texts, labels = [], []
    for row in rows:
        value = row[ti] if ti < len(row) else None
        texts.append("" if value is None else str(value))
        if li is not None:
            label = row[li] if li < len(row) else None
            labels.append("" if label is None else str(label).strip())
    if not texts:
        raise ClassifierError(f"{path}: no data rows under the header")
    return TrainingData(texts=texts, labels=labels, source=f"file:{path.name}")


def _read_csv(path: Path, delimiter: str) -> tuple[list[str], list[list[Any]]]:
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ClassifierError(f"{path}: cannot be read ({error})") from None
    try:
        content = textpipe.decode(raw)
    except textpipe.TextError as error:
        raise ClassifierError(f"{path}: {error}") from None
    try:
        reader = csv.reader(io.StringIO(content, newline=""), delimiter=delimiter)
        rows = [r for r in reader]
    except csv.Error as error:
        raise ClassifierError(f"{path}: not a readable CSV file ({error})") from None
    if not rows:
        raise ClassifierError(f"{path}: the file is empty")
    header = [h.strip() for h in rows[0]]
    return header, [r for r in rows[1:] if any(c.strip() for c in r)]


def _read_xlsx(path: Path) -> tuple[list[str], list[list[Any]]]:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (OSError, InvalidFileException, zipfile.BadZipFile, KeyError) as error:
        raise ClassifierError(f"{path}: not a readable XLSX file ({error})") from None
    try:
        rows = [list(r) for r in workbook.worksheets[0].iter_rows(values_only=True)]
    finally:
        workbook.close()
    if not rows:
        raise ClassifierError(f"{path}: the sheet is empty")
    header = ["" if h is None else str(h).strip() for h in rows[0]]
    body = [r for r in rows[1:] if any(v is not None and str(v).strip() for v in r)]
    return header, body


# --- the active model of this process --------------------------------------------------------------------------

REFRESH_SECONDS = 30.0
_lock = threading.Lock()
_active: dict[str, Any] = {"checked": 0.0, "version": None, "model": None, "url": None}


def active_model(
    session: Session | None = None, settings: Settings | None = None
) -> tuple[int, CategoryModel] | None:
    """The registry's active model (version, model), loaded once per process and re-checked every 30 s."""
    from sqlalchemy.exc import SQLAlchemyError

    from chengzhi.routing import registry

    now = time.monotonic()
    with _lock:
        fresh = now - _active["checked"] < REFRESH_SECONDS
        if fresh and _active["model"] is not None:
            return _active["version"], _active["model"]
        if fresh and _active["checked"]:
            return None
    try:
        found = registry.active_artifact(session, settings)
    except SQLAlchemyError:  # a database without the registry's tables (not migrated): no suggestions
        return None
    with _lock:
        _active["checked"] = now
        if found is None:
            _active["version"], _active["model"] = None, None
            return None
        version, directory = found
        if _active["version"] == version and _active["model"] is not None:
            return version, _active["model"]
    try:
        model = load(directory)
    except ClassifierError:
        return None
    model.meta["version"] = version
    with _lock:
        _active["version"], _active["model"] = version, model
    return version, model


def forget_active() -> None:
    """Drops the cached model (after an activation in this process, and in tests)."""
    with _lock:
        _active.update(checked=0.0, version=None, model=None)


def suggest(text: str, session: Session | None = None, settings: Settings | None = None) -> Suggestion | None:
    """The active model's suggestion for one text; None without an active model or with unusable text."""
    found = active_model(session, settings)
    if found is None:
        return None
    try:
        if not textpipe.normalise(text or ""):
            return None
    except textpipe.TextError:
        return None
    return found[1].suggest([text])[0]


def predict_top3(
    text: str, session: Session | None = None, settings: Settings | None = None
) -> list[tuple[str, float]]:
    """[(category code, probability)] best first, from the active model; [] when there is none."""
    suggestion = suggest(text, session, settings)
    if suggestion is None:
        return []
    return [(p.label, p.probability) for p in suggestion.top]
