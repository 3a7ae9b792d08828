"""Training and measuring the category classifier (docs/routing.md, "Category classifier"): the held-out folds
inside the training data, the stacker, the offsets for macro-F1 and the per-class thresholds (`train`); the figures
of a model on data it has not seen (`report`, `evaluate`); training files (`read_table`).

Everything is fitted on the training data alone; `evaluate` and the benchmark measure on data the model has not
seen."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import platform
import time
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from chengzhi.routing import text as textpipe
from chengzhi.routing.category_model import FORMAT, CategoryModel, Decision
from chengzhi.routing.classifier_dense import DenseBase, Embed, dense_text, held_out_scores
from chengzhi.routing.classifier_features import ClassifierConfig, ClassifierError, TextFeatures, _Base
from chengzhi.security.archives import check_zip

# scikit-learn and SciPy are imported where they are used (see classifier_features.py).
if TYPE_CHECKING:
    import scipy.sparse as sp
    from sklearn.linear_model import LogisticRegression

SVM_FLOOR_QUANTILE = 0.01


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
    data: TrainingData,
    config: ClassifierConfig | None = None,
    unlabelled: Sequence[str] = (),
    embed: Embed | None = None,
) -> CategoryModel:
    """Fits the whole model on `data`; its `meta` holds the held-out figures of this training. `unlabelled`:
    texts of the same kind without labels, used only for the feature weights (semi-supervised). With
    `config.dense_model`, `embed` gives the vectors of the training texts (`classifier_dense.vectors_for`) and the
    model gets a dense base model and a second stacker for texts whose vector is known."""
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
    plain = _calibrate(held, held_svm, y, config)
    base = _fit_base(x, y, w, config, xu)
    dense = None
    dense_fit: _Calibrated | None = None
    if config.dense_model:
        if embed is None:
            raise ClassifierError(
                f"the configuration asks for the embedding {config.dense_model!r}: give vectors"
            )
        vectors = np.asarray(embed([dense_text(config, t, normalised=True) for t in texts]), dtype=np.float32)
        held_dense = np.hstack([held, held_out_scores(vectors, y, w, config)])
        dense_fit = _calibrate(held_dense, held_svm, y, config)
        dense = DenseBase.fit(vectors, y, config, w)
    digest, size = data.digest()
    metrics = {"held_out": report([classes[i] for i in y], [classes[i] for i in plain.top], auto=plain.auto)}
    if dense_fit is not None:
        metrics["held_out_dense"] = report(
            [classes[i] for i in y], [classes[i] for i in dense_fit.top], auto=dense_fit.auto
        )
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
        "metrics": metrics,
        "thresholds": _named(classes, plain.thresholds),
        "offsets": {c: round(float(o), 3) for c, o in zip(classes, plain.offsets, strict=True)},
        "prior_power": plain.alpha,
        "svm_floor": round(plain.svm_floor, 4),
        "training_seconds": round(time.perf_counter() - started, 2),
        "software": {"python": platform.python_version(), "sklearn": _sklearn_version()},
    }
    if dense_fit is not None:
        meta["dense"] = {
            "model": config.dense_model,
            "thresholds": _named(classes, dense_fit.thresholds),
            "prior_power": dense_fit.alpha,
            "svm_floor": round(dense_fit.svm_floor, 4),
        }
    return CategoryModel(
        config=config,
        labels=classes,
        features=features,
        base=base,
        stacker=plain.stacker,
        offsets=plain.offsets,
        thresholds=plain.thresholds,
        words=textpipe.user_words(),
        meta=meta,
        svm_floor=plain.svm_floor,
        dense=dense,
        dense_decision=None if dense_fit is None else dense_fit.decision(),
    )


def _named(classes: list[str], thresholds: np.ndarray) -> dict[str, float | None]:
    return {c: (None if t > 1 else round(float(t), 4)) for c, t in zip(classes, thresholds, strict=True)}


@dataclass
class _Calibrated:
    """A stacker over held-out base scores, with what is chosen on its own held-out probabilities."""

    stacker: LogisticRegression
    offsets: np.ndarray
    alpha: float
    thresholds: np.ndarray
    svm_floor: float
    top: np.ndarray  # held-out first choices
    auto: np.ndarray  # held-out automatic choices

    def decision(self) -> Decision:
        return Decision(self.stacker, self.offsets, self.thresholds, self.svm_floor)


def _calibrate(
    held: np.ndarray, held_svm: np.ndarray, y: np.ndarray, config: ClassifierConfig
) -> _Calibrated:
    """The stacker on held-out base scores; its own held-out probabilities (cross-fitted) choose the offsets for
    macro-F1, the per-class thresholds and the SVM floor for automatic dispatch."""
    from sklearn.model_selection import StratifiedKFold

    k = int(y.max()) + 1
    prob = np.zeros((len(y), k))
    folds = StratifiedKFold(config.folds, shuffle=True, random_state=config.seed + 1)
    for train_idx, test_idx in folds.split(held, y):
        prob[test_idx] = (
            _stacker(config.seed).fit(held[train_idx], y[train_idx]).predict_proba(held[test_idx])
        )
    log_p = np.log(prob + 1e-12)
    offsets, alpha = _prior_offsets(log_p, y, config.max_accuracy_loss, config.min_accuracy)
    offsets = _tune_offsets(log_p, y, config.fine_offsets_loss, start=offsets, floor=config.min_accuracy)
    ranked = np.argsort(-(log_p + offsets), axis=1, kind="stable")
    top = ranked[:, 0]
    top_p = prob[np.arange(len(y)), top]
    thresholds = _thresholds(top, top_p, y, k, config.target_precision)
    # The SVM's floor for automatic dispatch (see `decide`): the lowest raw decision value of the first choice
    # seen among the held-out choices sure enough to be automatic, bar the lowest 1%; never above 0.
    passing = top_p >= thresholds[top]
    raw_top = held_svm[np.arange(len(y)), top]
    svm_floor = float(min(0.0, np.quantile(raw_top[passing], SVM_FLOOR_QUANTILE))) if passing.any() else 0.0
    auto = passing & (raw_top >= svm_floor)
    stacker = _stacker(config.seed).fit(held, y)
    return _Calibrated(stacker, offsets, alpha, thresholds, svm_floor, top, auto)


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
        check_zip(path)  # ArchiveRefused is a ValueError
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (OSError, InvalidFileException, zipfile.BadZipFile, KeyError, ValueError) as error:
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
