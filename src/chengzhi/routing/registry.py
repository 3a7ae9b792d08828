"""The registry of trained category models: store, list, activate, roll back; corrections of categories by
people, and training from the city's own requests (final categories, corrections weighted up)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from chengzhi.categories.models import Category
from chengzhi.config import Settings, get_settings
from chengzhi.db import get_sessionmaker, utcnow
from chengzhi.requests.models import Request
from chengzhi.routing import classifier
from chengzhi.routing.classifier import CategoryModel, ClassifierConfig, ClassifierError, TrainingData
from chengzhi.routing.classifier_models import CategoryCorrection, ClassifierActivation, ClassifierModel


def model_dir(settings: Settings | None = None) -> Path:
    return Path((settings or get_settings()).model_dir)


def artifact_path(row: ClassifierModel, settings: Settings | None = None) -> Path:
    path = Path(row.artifact)
    return path if path.is_absolute() else model_dir(settings) / path


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
    model = classifier.load(directory)
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
    classifier.forget_active()


def activate_version(
    session: Session, version: int, *, actor: str = "", settings: Settings | None = None
) -> ClassifierModel:
    """Makes `version` the model used at intake; its files must be present and intact."""
    row = get_version(session, version)
    classifier.load(artifact_path(row, settings))  # refuses a missing or damaged artifact
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
        "artifact": row.artifact,
        "note": row.note,
    }


# --- corrections and training from the database ----------------------------------------------------------------


@dataclass
class DbTraining:
    data: TrainingData
    correction_ids: list[int]


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
    newest = (
        select(Request.id, Request.title, Request.text, Category.code)
        .join(Category, Category.id == Request.category_id)
        .order_by(Request.id.desc())
        .limit(max_rows)
    )
    chosen = list(reversed(session.execute(newest).all()))
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
    for rid, title, body, code in chosen:
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
    return DbTraining(data=data, correction_ids=used)


def train_from_db(
    session: Session,
    *,
    config: ClassifierConfig | None = None,
    settings: Settings | None = None,
    activate: bool = False,
    note: str = "",
    actor: str = "",
    max_rows: int = MAX_TRAINING_ROWS,
) -> ClassifierModel:
    """Trains on the city's newest requests, registers the model and marks the corrections it used."""
    found = training_data_from_db(session, config, max_rows=max_rows)
    model = classifier.train(found.data, config)
    model.meta["data"]["corrections"] = len(found.correction_ids)
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
