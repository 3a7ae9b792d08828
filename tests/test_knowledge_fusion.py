"""The fusion's partial sorts rank as the full sorts did (random scores, no ties), and the dense scores computed
on the calling thread equal the matrix product."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from chengzhi.knowledge.retrieval import DENSE_GAP_WEIGHT, DEPTH, RRF_K, dense_scores, fuse


def _reference(
    bm: npt.NDArray[np.float32], cos: npt.NDArray[np.float32] | None, k: int, weight: float
) -> tuple[list[int], list[float], float]:
    """The fusion as written before (full sorts of every document)."""
    n = len(bm)
    fused = np.zeros(n)
    depth = min(DEPTH, n)
    for rank, i in enumerate(np.argsort(-bm)[:depth]):
        if bm[i] > 0:
            fused[i] += 1.0 / (RRF_K + rank + 1)
    if cos is not None:
        for rank, i in enumerate(np.argsort(-cos)[:depth]):
            fused[i] += weight / (RRF_K + rank + 1)
    top = [int(i) for i in np.argsort(-fused)[:k] if fused[i] > 0]
    first = top[0]
    others = np.delete(bm, first)
    best = float(others.max()) if len(others) else 0.0
    confidence = (float(bm[first]) - best) / float(bm[first]) if bm[first] > 0 else -1.0
    if cos is not None:
        other_cos = np.delete(cos, first)
        confidence += DENSE_GAP_WEIGHT * (
            float(cos[first]) - (float(other_cos.max()) if len(other_cos) else 0.0)
        )
    return top, [float(fused[i]) for i in top], confidence


def test_partial_sorts_rank_as_full_sorts() -> None:
    rng = np.random.default_rng(7)
    for n in (1, 3, 49, 50, 51, 500, 20_000):
        for dense in (False, True):
            bm = rng.gamma(1.0, 3.0, n).astype(np.float32)
            bm[rng.random(n) < 0.5] = 0.0  # most documents share no word with the question
            if not bm.any():
                bm[0] = 1.0
            cos = rng.uniform(-0.2, 0.9, n).astype(np.float32) if dense else None
            keys = list(range(100, 100 + n))
            ranked = fuse(keys, bm, cos, 10, 1.5)
            top, scores, confidence = _reference(bm, cos, 10, 1.5)
            assert [h.key for h in ranked.hits] == [keys[i] for i in top]
            assert [h.score for h in ranked.hits] == scores
            assert abs(ranked.confidence - confidence) < 1e-9
            assert ranked.dense is dense


def test_dense_scores_equal_the_matrix_product() -> None:
    rng = np.random.default_rng(3)
    passages = rng.standard_normal((2_000, 384)).astype(np.float32)
    vector = rng.standard_normal(384).astype(np.float32)
    assert np.allclose(dense_scores(passages, vector), passages @ vector, atol=1e-4)
