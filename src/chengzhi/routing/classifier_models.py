"""Tables of the category classifier: the registry of trained models, the log of activations (for roll-back),
and every correction of a category a dispatcher makes (used by the next training)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column, object_session

from chengzhi.db import Base, UTCDateTime, utcnow
from chengzhi.requests.models import Request


class ClassifierModel(Base):
    """A trained category model. Its files live in `CHENGZHI_MODEL_DIR/<artifact>`; the row carries what it
    was trained with and how well it did, so that models can be compared, activated and rolled back."""

    __tablename__ = "classifier_models"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The directory under the model directory (or an absolute path) holding model.joblib and model.json.
    artifact: Mapped[str] = mapped_column(String(500))
    # "file:<name>" or "db" (the city's own requests with their final categories).
    source: Mapped[str] = mapped_column(String(300))
    # SHA-256 of the training data (texts and labels, in order) and its size.
    data_sha256: Mapped[str] = mapped_column(String(64))
    data_rows: Mapped[int] = mapped_column(Integer)
    data_bytes: Mapped[int] = mapped_column(BigInteger)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    labels: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Cross-validated figures on the training data: macro_f1, accuracy, auto-dispatch share...
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    note: Mapped[str] = mapped_column(Text, default="")


class ClassifierActivation(Base):
    """Each activation or roll-back, in order: a roll-back returns to the model active before the current one."""

    __tablename__ = "classifier_activations"

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("classifier_models.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(20))  # "activate" or "rollback"
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(120), default="")


class CategoryCorrection(Base):
    """A person changed a request's category (a dispatcher at dispatch). The request's final category is the
    label of the next training; corrected requests weigh more in it."""

    __tablename__ = "category_corrections"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"), index=True)
    from_category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"))
    to_category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"))
    # What the active model suggested (its first choice) and its version, when it made a suggestion.
    suggested_category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"))
    model_version: Mapped[int | None] = mapped_column(Integer)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # The first model version trained with this correction.
    used_in_version: Mapped[int | None] = mapped_column(Integer)


def _category_changed(target: Request, value: Any, oldvalue: Any, _initiator: Any) -> None:
    """A stored request whose category changes from one category to another (the dispatcher's correction at
    dispatch, or any later change) gets a correction row in the same transaction. A new request, or one that had
    no category yet, is not a correction: its final category is a label all the same."""
    if target.id is None or not isinstance(oldvalue, int) or not isinstance(value, int) or value == oldvalue:
        return
    session = object_session(target)
    if session is not None:
        session.add(
            CategoryCorrection(
                request_id=target.id, from_category_id=oldvalue, to_category_id=value, at=utcnow()
            )
        )


def install_correction_hook() -> None:
    """Record corrections: registered by `chengzhi.reactions.install()` (idempotent)."""
    if not event.contains(Request.category_id, "set", _category_changed):
        event.listen(Request.category_id, "set", _category_changed, active_history=True)


def remove_correction_hook() -> None:
    if event.contains(Request.category_id, "set", _category_changed):
        event.remove(Request.category_id, "set", _category_changed)


class TextVector(Base):
    """A request text's embedding for the category model (classifier_dense.py), keyed by the embedding model and
    the SHA-256 of the embedded text: computed once, off the intake transaction (the job `category_refine`,
    `chengzhi model train --dense`), and read by every process and every later training."""

    __tablename__ = "routing_text_vectors"
    __table_args__ = (UniqueConstraint("model", "text_hash", name="uq_routing_text_vectors_model_text_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model: Mapped[str] = mapped_column(String(80))
    text_hash: Mapped[str] = mapped_column(String(64))
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float32, little-endian
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
