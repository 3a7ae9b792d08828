"""What other domains may ask of routing beyond triage (`triage.py`) and the rules (`rules.py`): the category
models' registry and their statistics at intake, the duplicates search, and the text tools other domains analyse
messages with (decoding files, normalising and segmenting Chinese text, the places a text names). One facade, so that routing's inner
modules (registry, classifier, duplicates, ...) stay private to it (`.importlinter`)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chengzhi.routing.classifier import artifact_path
from chengzhi.routing.classifier_features import ClassifierError
from chengzhi.routing.classifier_models import CategoryCorrection
from chengzhi.routing.duplicates import MIN_SCORE as DUPLICATES_MIN_SCORE
from chengzhi.routing.duplicates import find_duplicates
from chengzhi.routing.places import mentions as place_mentions
from chengzhi.routing.registry import activate_version, can_roll_back, describe, list_models, rollback
from chengzhi.routing.retention import forget_requests
from chengzhi.routing.text import TextError, decode, normalise, sub_words, tokens
from chengzhi.routing.triage_models import RequestTriage

__all__ = [
    "DUPLICATES_MIN_SCORE",
    "ClassifierError",
    "TextError",
    "activate_version",
    "artifact_path",
    "can_roll_back",
    "correction_counts",
    "decode",
    "describe",
    "find_duplicates",
    "first_suggestions",
    "forget_requests",
    "list_models",
    "normalise",
    "place_mentions",
    "rollback",
    "sub_words",
    "suggestion_counts",
    "tokens",
]


def suggestion_counts(session: Session) -> dict[int, tuple[int, int]]:
    """Per model version: requests it suggested categories for, and how many of those it was sure of."""
    query = (
        select(
            RequestTriage.model_version,
            func.count(),
            func.count().filter(RequestTriage.category_sure.is_(True)),
        )
        .where(RequestTriage.model_version.is_not(None))
        .group_by(RequestTriage.model_version)
    )
    return {int(v): (int(n), int(sure)) for v, n, sure in session.execute(query) if v is not None}


def correction_counts(session: Session) -> dict[int, int]:
    """Per model version: categories people changed after it suggested them."""
    query = (
        select(CategoryCorrection.model_version, func.count())
        .where(CategoryCorrection.model_version.is_not(None))
        .group_by(CategoryCorrection.model_version)
    )
    return {int(v): int(n) for v, n in session.execute(query) if v is not None}


def first_suggestions(session: Session, version: int, limit: int) -> Sequence[tuple[int, str]]:
    """The most recent requests a version suggested for, newest first: (request id, its first choice's code)."""
    query = (
        select(RequestTriage.request_id, RequestTriage.category_suggestions)
        .where(RequestTriage.model_version == version)
        .order_by(RequestTriage.request_id.desc())
        .limit(limit)
    )
    return [(int(rid), str(found[0].get("code"))) for rid, found in session.execute(query) if found]
