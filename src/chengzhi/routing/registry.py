"""The registry of trained category models: store, list, activate, roll back; corrections of categories by
people, and training from the city's own requests (final categories, corrections weighted up)."""

from __future__ import annotations

import datetime as dt
import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from chengzhi.categories import service as categories
from chengzhi.config import Settings
from chengzhi.db import utcnow
from chengzhi.requests import queries as request_queries
from chengzhi.routing import category_model, classifier_training
from chengzhi.routing.category_model import CategoryModel
from chengzhi.routing.classifier import artifact_path, forget_active, model_dir
from chengzhi.routing.classifier_dense import Embed
from chengzhi.routing.classifier_features import ClassifierConfig, ClassifierError
from chengzhi.routing.classifier_models import CategoryCorrection, ClassifierActivation, ClassifierModel
from chengzhi.routing.classifier_training import TrainingData


def register(
    session: Session,
    model: CategoryModel,
    *,
    settings: Settings | None = None,
    note: str = "",
    activate: bool = False,
    actor: str = "",
) -> ClassifierModel:
    """Stores a trained model under the model directory as the next version, with its metadata."""
    version = (session.scalar(select(func.max(ClassifierModel.version))) or 0) + 1
    data = model.meta.get("data", {})
    name = f"v{version:04d}-{str(data.get('sha256', ''))[:8] or 'model'}"
    directory = model_dir(settings) / name
    if directory.exists():
        shutil.rmtree(directory)  # left over from a registration whose transaction was rolled back
    model.meta["version"] = version
    model.save(directory)
    row = ClassifierModel(
        version=version,
        artifact=name,
        source=str(data.get("source", ""))[:300],
        data_sha256=str(data.get("sha256", "")),
        data_rows=int(data.get("rows", 0)),
        data_bytes=int(data.get("bytes", 0)),
        config=model.meta.get("config", {}),
        labels=list(model.labels),
        metrics=model.meta.get("metrics", {}),
        active=False,
        note=note,
    )
    session.add(row)
    session.flush()
    if activate:
        activate_version(session, version, actor=actor, settings=settings)
    return row


def register_directory(
    session: Session,
    directory: Path,
    *,
    settings: Settings | None = None,
    note: str = "",
    activate: bool = False,
) -> ClassifierModel:
    """Registers a model saved by `chengzhi model train --output DIR` (copied into the model directory)."""
    model = category_model.load(directory)
    return register(session, model, settings=settings, note=note, activate=activate)


def list_models(session: Session) -> list[ClassifierModel]:
    return list(session.scalars(select(ClassifierModel).order_by(ClassifierModel.version.desc())))


def get_version(session: Session, version: int) -> ClassifierModel:
    row = session.scalar(select(ClassifierModel).where(ClassifierModel.version == version))
    if row is None:
        raise ClassifierError(f"no model version {version} in the registry (see `chengzhi model list`)")
    return row


def _set_active(session: Session, row: ClassifierModel, action: str, actor: str) -> None:
    session.execute(update(ClassifierModel).where(ClassifierModel.id != row.id).values(active=False))
    row.active = True
    session.add(ClassifierActivation(model_id=row.id, action=action, at=utcnow(), actor=actor))
    session.flush()
    forget_active()


def activate_version(
    session: Session, version: int, *, actor: str = "", settings: Settings | None = None
) -> ClassifierModel:
    """Makes `version` the model used at intake; its files must be present and intact."""
    row = get_version(session, version)
    category_model.load(artifact_path(row, settings))  # refuses a missing or damaged artifact
    _set_active(session, row, "activate", actor)
    return row


def _stack(session: Session) -> list[int]:
    """Model ids in activation order with roll-backs popped: the last one is active, the one before it is what a
    roll-back returns to."""
    stack: list[int] = []
    for entry in session.scalars(select(ClassifierActivation).order_by(ClassifierActivation.id)):
        if entry.action == "rollback":
            if stack:
                stack.pop()
            # The roll-back's target is the new top; make sure it is there.
            if not stack or stack[-1] != entry.model_id:
                stack.append(entry.model_id)
        else:
            stack.append(entry.model_id)
    return stack


def can_roll_back(session: Session) -> bool:
    """Whether a model was active before the current one (what `rollback` returns to)."""
    return len(_stack(session)) >= 2


def rollback(session: Session, *, actor: str = "") -> ClassifierModel:
    """Returns to the model that was active before the current one."""
    stack = _stack(session)
    if len(stack) < 2:
        raise ClassifierError("nothing to roll back to: no model was active before the current one")
    target = session.get(ClassifierModel, stack[-2])
    if target is None:  # pragma: no cover - activations cascade with their model
        raise ClassifierError("the previous model is no longer in the registry")
    _set_active(session, target, "rollback", actor)
    return target


def describe(row: ClassifierModel) -> dict[str, Any]:
    held = (row.metrics or {}).get("held_out", {})
    return {
        "version": row.version,
        "active": row.active,
        "created_at": row.created_at.isoformat(timespec="seconds"),
        "source": row.source,
        "data_sha256": row.data_sha256,
        "data_rows": row.data_rows,
        "data_bytes": row.data_bytes,
        "labels": len(row.labels or []),
        "macro_f1": held.get("macro_f1"),
        "accuracy": held.get("accuracy"),
        "auto_dispatch_share": (held.get("auto_dispatch") or {}).get("share"),
        "left_out": (row.metrics or {}).get("left_out", {}),
        "artifact": row.artifact,
        "note": row.note,
    }


# --- corrections and training from the database ----------------------------------------------------------------


@dataclass
class DbTraining:
    data: TrainingData
    correction_ids: list[int]
    # Per row of `data`: the request's id and when it was received (retraining compares on the newest).
    request_ids: list[int] = field(default_factory=list)
    received: list[dt.datetime] = field(default_factory=list)
    # Categories left out for having too few requests to learn from: {code: requests}.
    left_out: dict[str, int] = field(default_factory=dict)


def _enough_of(labels: Sequence[str], need: int) -> dict[str, int]:
    """The labels with fewer than `need` rows: {label: rows}."""
    return {label: n for label, n in sorted(Counter(labels).items()) if n < need}


# Training reads the newest requests only: a province's years of history would not fit a 2-core machine's
# training budget, and recent requests say most about how residents write now.
MAX_TRAINING_ROWS = 200_000


def training_data_from_db(
    session: Session, config: ClassifierConfig | None = None, *, max_rows: int = MAX_TRAINING_ROWS
) -> DbTraining:
    """The newest `max_rows` requests with a category: text (title + text) and final category code; requests
    whose category a person corrected weigh `correction_weight`."""
    config = config or ClassifierConfig()
    if max_rows < 1:
        raise ClassifierError("--max-rows must be at least 1")
    newest = request_queries.newest_categorised(session, max_rows)
    codes = categories.category_codes(session) if newest else {}
    chosen = [
        (rid, title, body, codes[cid], at)
        for rid, title, body, cid, at in reversed(newest)
        if cid is not None
    ]
    # A city always has a new or rare category: its requests go to people until it has enough for a training.
    few = _enough_of([row[3] for row in chosen], classifier_training.min_rows_per_label(config))
    if few and len(few) < len({row[3] for row in chosen}):
        chosen = [row for row in chosen if row[3] not in few]
    else:
        few = {}  # nothing would be left: let the training say what is missing
    first = chosen[0][0] if chosen else 0
    corrected: dict[int, list[int]] = {}
    for cid, rid in session.execute(
        select(CategoryCorrection.id, CategoryCorrection.request_id).where(
            CategoryCorrection.request_id >= first
        )
    ):
        corrected.setdefault(rid, []).append(cid)
    texts: list[str] = []
    labels: list[str] = []
    weights: list[float] = []
    used: list[int] = []
    for rid, title, body, code, _received in chosen:
        body = body or ""
        # The title is often the start of the text (taken from it at intake): do not count those words twice.
        texts.append(body if not title or body.startswith(title) else f"{title} {body}")
        labels.append(code)
        if rid in corrected:
            weights.append(config.correction_weight)
            used.extend(corrected[rid])
        else:
            weights.append(1.0)
    if not texts:
        raise ClassifierError("the database holds no requests with a category to train on")
    data = TrainingData(texts=texts, labels=labels, weights=weights, source="db")
    return DbTraining(
        data=data,
        correction_ids=used,
        request_ids=[r[0] for r in chosen],
        received=[r[4] for r in chosen],
        left_out=few,
    )


def train_from_db(
    session: Session,
    *,
    config: ClassifierConfig | None = None,
    settings: Settings | None = None,
    activate: bool = False,
    note: str = "",
    actor: str = "",
    max_rows: int = MAX_TRAINING_ROWS,
    embed: Embed | None = None,
) -> ClassifierModel:
    """Trains on the city's newest requests, registers the model and marks the corrections it used. With
    `config.dense_model`, `embed` gives the texts' vectors (`refine.vectors_of`: stored ones read)."""
    found = training_data_from_db(session, config, max_rows=max_rows)
    return _train_found(session, found, config, settings, activate, note, actor, embed=embed)


def train_from_db_outside(
    factory: sessionmaker[Session],
    *,
    config: ClassifierConfig | None = None,
    settings: Settings | None = None,
    activate: bool = False,
    note: str = "",
    actor: str = "",
    max_rows: int = MAX_TRAINING_ROWS,
    embed: Embed | None = None,
    if_none: bool = False,
) -> ClassifierModel | None:
    """`train_from_db` for a database the platform keeps writing to meanwhile (the command line, the demo's first
    model while the server runs): the data is read in a short session, the model trained outside any transaction
    (on SQLite a transaction that read before another connection's commit cannot write any more) and registered in
    a transaction of its own. With `if_none`, nothing is trained (None) when the registry has a model."""
    with factory() as session:
        if if_none and list_models(session):
            return None
        found = training_data_from_db(session, config, max_rows=max_rows)
    model = classifier_training.train(found.data, config, embed=embed)
    with factory() as session, session.begin():
        row = _register_found(session, found, model, settings, activate, note, actor)
    return row


def _train_found(
    session: Session,
    found: DbTraining,
    config: ClassifierConfig | None,
    settings: Settings | None,
    activate: bool,
    note: str,
    actor: str,
    challenge: dict[str, Any] | None = None,
    embed: Embed | None = None,
) -> ClassifierModel:
    model = classifier_training.train(found.data, config, embed=embed)
    return _register_found(session, found, model, settings, activate, note, actor, challenge)


def _register_found(
    session: Session,
    found: DbTraining,
    model: CategoryModel,
    settings: Settings | None,
    activate: bool,
    note: str,
    actor: str,
    challenge: dict[str, Any] | None = None,
) -> ClassifierModel:
    model.meta["data"]["corrections"] = len(found.correction_ids)
    model.meta["metrics"]["left_out"] = found.left_out  # stored with the registry row: `describe` shows it
    if challenge is not None:
        model.meta["metrics"]["challenge"] = challenge
    row = register(session, model, settings=settings, note=note, activate=activate, actor=actor)
    if found.correction_ids:
        session.execute(
            update(CategoryCorrection)
            .where(
                CategoryCorrection.id.in_(found.correction_ids), CategoryCorrection.used_in_version.is_(None)
            )
            .values(used_in_version=row.version)
        )
    return row


# --- retraining: a new model replaces the active one only if it does better on requests neither has seen --------

RETRAIN_HOLDOUT = 2000
RETRAIN_MIN_HOLDOUT = 200
# The challenger may lose this much accuracy while gaining macro-F1 (rare categories found more often).
RETRAIN_ACCURACY_SLACK = 0.01


def _labelled_by_model(session: Session, ids: list[int]) -> set[int]:
    """Those of `ids` whose category the model itself gave: dispatched automatically with no category from the
    resident, never corrected by a person. Comparing models on them would reward the active model for agreeing
    with itself."""
    found: set[int] = set()
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        automatic = request_queries.automatic_dispatches(session, chunk)
        # The resident chose the category the model chose: a person's category (events before this was recorded
        # do not say, and are left out).
        found.update(
            rid for rid, payload in automatic if not ((payload or {}).get("auto") or {}).get("resident_chose")
        )
        found.difference_update(
            session.scalars(
                select(CategoryCorrection.request_id).where(CategoryCorrection.request_id.in_(chunk))
            )
        )
    return found


def _figures(result: dict[str, Any]) -> dict[str, Any]:
    auto = result.get("auto_dispatch") or {}
    return {
        "macro_f1": result["macro_f1"],
        "accuracy": result["accuracy"],
        "auto_dispatch_share": auto.get("share"),
        "auto_dispatch_precision": auto.get("precision"),
    }


def retrain(
    session: Session,
    *,
    config: ClassifierConfig | None = None,
    settings: Settings | None = None,
    holdout: int = RETRAIN_HOLDOUT,
    min_holdout: int = RETRAIN_MIN_HOLDOUT,
    margin: float = 0.0,
    max_rows: int = MAX_TRAINING_ROWS,
    actor: str = "",
) -> dict[str, Any]:
    """Champion and challenger, for a scheduled retraining (cron): the newest requests (up to `holdout`, at most
    half the rows) received after the active model was made, whose category a person gave or confirmed (requests
    dispatched automatically and never corrected are left out), are kept back; a challenger
    trained on the other requests and the active model are measured on them. Only if the challenger's macro-F1
    is at least the active model's + `margin` (and its accuracy at most 1 point lower) is a model trained on all
    the requests registered and activated. Without an active model, the first one is trained and activated.
    Returns what was done and the figures of both, for the log."""
    if holdout < 1 or min_holdout < 1:
        raise ClassifierError("--holdout and --min-holdout must be at least 1")
    current = session.scalar(select(ClassifierModel).where(ClassifierModel.active.is_(True)))
    found = training_data_from_db(session, config, max_rows=max_rows)
    if current is None:
        row = _train_found(session, found, config, settings, True, "retrain: first model", actor)
        return {
            "activated": True,
            "version": row.version,
            "reason": "no active model",
            "compared_on": 0,
            "left_out": found.left_out,
        }
    since = current.created_at  # UTCDateTime: aware, like `received`
    newer = [i for i, at in enumerate(found.received) if at > since]
    by_model = _labelled_by_model(session, [found.request_ids[i] for i in newer])
    # At most half the rows are kept back: the challenger must have something to learn from.
    newer = [i for i in newer if found.request_ids[i] not in by_model][
        -min(holdout, len(found.request_ids) // 2) :
    ]
    result: dict[str, Any] = {"activated": False, "version": None, "active_version": current.version}
    result["left_out"] = found.left_out
    result["compared_on"] = len(newer)
    if len(newer) < min_holdout:
        result["reason"] = (
            f"only {len(newer)} requests to compare on (received since v{current.version} was made, categorised "
            f"by people, at most half the rows); {min_holdout} are needed (--min-holdout)"
        )
        return result
    kept = set(newer)
    rest = [i for i in range(len(found.data.texts)) if i not in kept]
    few = _enough_of(
        [found.data.labels[i] for i in rest],
        classifier_training.min_rows_per_label(config or ClassifierConfig()),
    )
    rest = [i for i in rest if found.data.labels[i] not in few]
    weights = found.data.weights
    challenger = classifier_training.train(
        TrainingData(
            texts=[found.data.texts[i] for i in rest],
            labels=[found.data.labels[i] for i in rest],
            weights=None if weights is None else [weights[i] for i in rest],
            source="db",
        ),
        config,
    )
    champion = category_model.load(artifact_path(current, settings))
    texts = [found.data.texts[i] for i in newer]
    labels = [found.data.labels[i] for i in newer]
    ours, theirs = (_figures(classifier_training.evaluate(m, texts, labels)) for m in (challenger, champion))
    challenge = {"compared_on": len(newer), "against": current.version, "challenger": ours, "active": theirs}
    result.update(challenger=ours, active=theirs)
    better = ours["macro_f1"] >= theirs["macro_f1"] + margin and (
        ours["accuracy"] >= theirs["accuracy"] - RETRAIN_ACCURACY_SLACK
    )
    if not better:
        result["reason"] = (
            f"the challenger did not do better on the {len(newer)} newest requests: macro-F1 {ours['macro_f1']} "
            f"vs {theirs['macro_f1']} (margin {margin}), accuracy {ours['accuracy']} vs {theirs['accuracy']}"
        )
        return result
    note = f"retrain: beat v{current.version} on {len(newer)} newer requests"
    row = _train_found(session, found, config, settings, True, "retrain", actor, challenge)
    result.update(activated=True, version=row.version, reason=note)
    return result
