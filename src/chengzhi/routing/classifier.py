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

Where it is:
- `classifier_features.py`: the configuration (`ClassifierConfig`), `ClassifierError`, the features and base models;
- `classifier_training.py`: `train`, `evaluate`, `report`, reading training files (`read_table`);
- `category_model.py`: `CategoryModel` (`decide`, `suggest`, `predict`), `save` and `load`;
- this module: the registry's active model in this process (`active_model`, `suggest`, `predict_top3`) and where
  the registry keeps model files (`model_dir`, `artifact_path`, `active_artifact`). `registry.py` uses this
  module (to drop the cached model after an activation), never the other way round.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from chengzhi.config import Settings, get_settings
from chengzhi.db import get_sessionmaker
from chengzhi.routing import text as textpipe

# Models saved before the classifier was split pickled `CategoryModel`, these classes and the words analyser under
# this module: `joblib.load` finds them here. Do not remove while such models may be in a city's registry.
from chengzhi.routing.category_model import CategoryModel, Suggestion, load
from chengzhi.routing.classifier_features import (  # noqa: F401
    ClassifierConfig,
    ClassifierError,
    TextFeatures,
    _Base,
    _words,
)
from chengzhi.routing.classifier_models import ClassifierModel

# --- where the registry keeps model files ----------------------------------------------------------------------


def model_dir(settings: Settings | None = None) -> Path:
    return Path((settings or get_settings()).model_dir)


def artifact_path(row: ClassifierModel, settings: Settings | None = None) -> Path:
    path = Path(row.artifact)
    return path if path.is_absolute() else model_dir(settings) / path


def active_artifact(
    session: Session | None = None, settings: Settings | None = None
) -> tuple[int, Path] | None:
    """(version, directory) of the active model, or None."""
    settings = settings or get_settings()
    if session is None:
        factory = get_sessionmaker(settings.database_url)
        with factory() as own:
            return active_artifact(own, settings)
    row = session.scalar(select(ClassifierModel).where(ClassifierModel.active.is_(True)))
    if row is None:
        return None
    return row.version, artifact_path(row, settings)


# --- the active model of this process ------------------------------------------------------------------------------
REFRESH_SECONDS = 30.0
_lock = threading.Lock()
_active: dict[str, Any] = {"checked": 0.0, "version": None, "model": None, "url": None}


def active_model(
    session: Session | None = None, settings: Settings | None = None
) -> tuple[int, CategoryModel] | None:
    """The registry's active model (version, model), loaded once per process and re-checked every 30 s."""
    now = time.monotonic()
    with _lock:
        fresh = now - _active["checked"] < REFRESH_SECONDS
        if fresh and _active["model"] is not None:
            return _active["version"], _active["model"]
        if fresh and _active["checked"]:
            return None
    try:
        found = active_artifact(session, settings)
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
