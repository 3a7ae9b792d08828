"""Sentiment and message type of a message (negative / neutral / positive; 建言 / 投诉求助 / 咨询).

Pure functions, no database: `chengzhi hot train-text` trains and evaluates, the triage worker's step
(`warning.labels`) and `chengzhi hot detect` label with the saved model.

- **Model**: character 1-3-grams, TF-IDF (sublinear), then a logistic regression for the sentiment (its probability of
  `negative` is the message's negativity, which feeds the heat index) and a linear SVM for the type; both balanced
  over the classes. Characters rather than words: no segmentation errors, and masked texts (`****`) still work.
- **Baseline**: a multinomial naive Bayes over character unigram counts (the plain text classifier), and the
  majority class, scored under the same folds (`cross_validate`).
- **Labels**: the training file's labels are mapped to codes (`SENTIMENT_CODES`, `TYPE_CODES`); the anger, sadness
  and fear of the MSGABench file are all `negative`. A class absent from the training data is never predicted (that
  file has no positive message).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import math
import pickle
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SENTIMENTS = ("negative", "neutral", "positive")
TYPES = ("suggestion", "complaint", "consultation")
SENTIMENT_CODES = {
    "中性": "neutral",
    "愤怒": "negative",
    "悲伤": "negative",
    "恐惧": "negative",
    "厌恶": "negative",
    "负面": "negative",
    "消极": "negative",
    "正面": "positive",
    "积极": "positive",
    "喜悦": "positive",
    "高兴": "positive",
    "感谢": "positive",
    **{code: code for code in SENTIMENTS},
}
TYPE_CODES = {
    "建言": "suggestion",
    "建议": "suggestion",
    "投诉/求助": "complaint",
    "投诉求助": "complaint",
    "投诉": "complaint",
    "求助": "complaint",
    "咨询": "consultation",
    **{code: code for code in TYPES},
}
MAX_CHARS = 2000  # longer texts are cut: the beginning says what the message is


class TextModelError(ValueError):
    """A training file or a model file that cannot be used; the message says why."""


@dataclass(frozen=True)
class Example:
    text: str
    sentiment: str | None
    type: str | None


@dataclass(frozen=True)
class Label:
    negativity: float  # probability of `negative`, 0..1
    sentiment: str
    type: str


@dataclass
class Scores:
    """Macro-F1 over the same folds for the model and the baselines (mean and standard deviation)."""

    target: str
    examples: int
    classes: dict[str, int]
    folds: int
    model: tuple[float, float]
    baseline: tuple[float, float]
    majority: tuple[float, float]
    per_class: dict[str, float] = field(default_factory=dict)  # the model's F1 per class, out of fold

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "examples": self.examples,
            "classes": self.classes,
            "folds": self.folds,
            "model_macro_f1": round(self.model[0], 4),
            "model_std": round(self.model[1], 4),
            "baseline_macro_f1": round(self.baseline[0], 4),
            "baseline_std": round(self.baseline[1], 4),
            "majority_macro_f1": round(self.majority[0], 4),
            "model_f1_per_class": {k: round(v, 4) for k, v in self.per_class.items()},
        }


@dataclass
class TextModel:
    """The trained pipelines, what they were trained on, and their cross-validated scores."""

    sentiment: Any
    type: Any
    trained_at: str
    examples: int
    scores: dict[str, dict[str, Any]] = field(default_factory=dict)
    version: str = ""


def read_examples(path: Path) -> list[Example]:
    """The training file: a CSV (UTF-8, with or without BOM) with a `text` column (or `title` + `detail`) and
    `sentiment` and/or `type` columns (Chinese labels of MSGABench or the codes). Rows without text are skipped;
    unknown labels are refused with their row number."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise TextModelError(f"{path}: cannot read ({error.strerror})") from None
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise TextModelError(f"{path}: not UTF-8") from None
    reader = csv.DictReader(io.StringIO(content))
    columns = set(reader.fieldnames or [])
    if "text" not in columns and not {"title", "detail"} <= columns:
        raise TextModelError(f"{path}: needs a 'text' column (or 'title' and 'detail')")
    if not columns & {"sentiment", "type"}:
        raise TextModelError(f"{path}: needs a 'sentiment' or a 'type' column")
    found = []
    for number, row in enumerate(reader, start=2):
        text = row.get("text") or f"{row.get('title') or ''}。{row.get('detail') or ''}".strip("。")
        if not text.strip():
            continue
        sentiment = _code(row.get("sentiment"), SENTIMENT_CODES, path, number, "sentiment")
        kind = _code(row.get("type"), TYPE_CODES, path, number, "type")
        found.append(Example(text.strip(), sentiment, kind))
    if not found:
        raise TextModelError(f"{path}: no rows with text")
    return found


def _code(value: str | None, codes: dict[str, str], path: Path, row: int, column: str) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    code = codes.get(value) or codes.get(value.lower())
    if code is None:
        raise TextModelError(f"{path}, row {row}: unknown {column} {value!r}")
    return code


def prepare(text: str) -> str:
    return " ".join(text.split())[:MAX_CHARS]


def model_pipeline(target: str) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    vectoriser = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=2)
    if target == "sentiment":
        return make_pipeline(
            vectoriser, LogisticRegression(C=10.0, solver="liblinear", class_weight="balanced", max_iter=1000)
        )
    return make_pipeline(vectoriser, LinearSVC(C=0.5, class_weight="balanced"))


def baseline_pipeline() -> Any:
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.naive_bayes import MultinomialNB
    from sklearn.pipeline import make_pipeline

    return make_pipeline(CountVectorizer(analyzer="char", ngram_range=(1, 1)), MultinomialNB())


def _pairs(examples: Sequence[Example], target: str) -> tuple[list[str], list[str]]:
    chosen = [(prepare(e.text), getattr(e, target)) for e in examples if getattr(e, target) is not None]
    return [t for t, _ in chosen], [str(label) for _, label in chosen]


def cross_validate(examples: Sequence[Example], target: str, *, folds: int = 5, seed: int = 0) -> Scores:
    """Macro-F1 of the model, the naive Bayes baseline and the majority class under the same stratified folds."""
    import numpy as np
    from sklearn.dummy import DummyClassifier
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold

    texts, labels = _pairs(examples, target)
    classes = Counter(labels)
    if len(classes) < 2 or min(classes.values()) < folds:
        raise TextModelError(
            f"{target}: needs at least two classes with {folds} examples each (found {dict(classes)})"
        )
    x = np.array(texts, dtype=object)
    y = np.array(labels)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    results: dict[str, list[float]] = {"model": [], "baseline": [], "majority": []}
    predicted = np.empty(len(y), dtype=object)
    for train, test in splitter.split(x, y):
        candidates: tuple[tuple[str, Any], ...] = (
            ("model", model_pipeline(target)),
            ("baseline", baseline_pipeline()),
            ("majority", DummyClassifier(strategy="most_frequent")),
        )
        for name, estimator in candidates:
            fitted = estimator.fit(list(x[train]), y[train])
            guess = fitted.predict(list(x[test]))
            results[name].append(float(f1_score(y[test], guess, average="macro")))
            if name == "model":
                predicted[test] = guess
    per_class = f1_score(y, predicted.astype(str), average=None, labels=sorted(classes))
    return Scores(
        target=target,
        examples=len(y),
        classes=dict(sorted(classes.items())),
        folds=folds,
        model=(float(np.mean(results["model"])), float(np.std(results["model"]))),
        baseline=(float(np.mean(results["baseline"])), float(np.std(results["baseline"]))),
        majority=(float(np.mean(results["majority"])), float(np.std(results["majority"]))),
        per_class=dict(zip(sorted(classes), (float(v) for v in per_class), strict=True)),
    )


def train(examples: Sequence[Example], *, now: dt.datetime | None = None) -> TextModel:
    """Trains both pipelines on all the examples that carry their label."""
    fitted: dict[str, Any] = {}
    for target in ("sentiment", "type"):
        texts, labels = _pairs(examples, target)
        if len(set(labels)) < 2:
            raise TextModelError(f"{target}: needs examples of at least two classes")
        fitted[target] = model_pipeline(target).fit(texts, labels)
    if "negative" not in fitted["sentiment"].classes_:
        raise TextModelError("sentiment: needs negative examples (negativity is their probability)")
    model = TextModel(
        sentiment=fitted["sentiment"],
        type=fitted["type"],
        trained_at=(now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds"),
        examples=len(examples),
    )
    digest = hashlib.sha256("\n".join(e.text for e in examples).encode()).hexdigest()[:8]
    model.version = f"{model.trained_at[:10]}-{digest}"
    return model


def label(model: TextModel, texts: Sequence[str]) -> list[Label]:
    """Each text's negativity, sentiment and type."""
    if not texts:
        return []
    prepared = [prepare(t) for t in texts]
    classes = list(model.sentiment.classes_)
    probabilities = model.sentiment.predict_proba(prepared)
    negative = classes.index("negative")
    kinds = model.type.predict(prepared)
    found = []
    for row, kind in zip(probabilities, kinds, strict=True):
        best = classes[int(max(range(len(classes)), key=lambda k: row[k]))]
        negativity = float(row[negative])
        found.append(Label(round(negativity, 4) if math.isfinite(negativity) else 0.0, best, str(kind)))
    return found


MAGIC = b"chengzhi-text-model-1\n"


def save(model: TextModel, path: Path) -> None:
    """Writes the model (a pickle behind a header; written to a temporary file, then renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_bytes(MAGIC + pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
    partial.replace(path)


def load(path: Path) -> TextModel:
    """Reads a model written by `save`. Only load files this platform wrote (a pickle runs code when read: the model
    directory must be writable by the platform's administrators only, as for the category models)."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise TextModelError(f"{path}: cannot read ({error.strerror})") from None
    if not raw.startswith(MAGIC):
        raise TextModelError(f"{path}: not a text model of this platform")
    model = pickle.loads(raw[len(MAGIC) :])  # noqa: S301 - a file this platform wrote (see above)
    if not isinstance(model, TextModel):
        raise TextModelError(f"{path}: not a text model of this platform")
    return model
