"""The numpy index of open issues (`warning.issue_index`) chooses the issue the previous inverted index
(`live._Open`) chose, with the same similarity, for random signatures and requests, before and after issues are
added to it; places that disagree are skipped the same way; nothing is found below the threshold."""

from __future__ import annotations

import math
import random

from chengzhi.warning import live
from chengzhi.warning.issue_index import IssueIndex

WORDS = [f"w{i}" for i in range(300)]
PLACES = [["幸福路"], ["滨河苑"], ["丽发新城"], []]


def _vector(rng: random.Random, size: int) -> dict[str, float]:
    pool = WORDS[:100] if rng.random() < 0.5 else WORDS
    raw = {w: rng.random() for w in rng.sample(pool, min(size, len(pool)))}
    norm = math.sqrt(sum(v * v for v in raw.values()))
    return {t: v / norm for t, v in raw.items()}


def test_the_numpy_index_chooses_as_the_inverted_index() -> None:
    rng = random.Random(7)
    rows = [(1000 + i, _vector(rng, rng.randint(5, 80)), rng.choice(PLACES)) for i in range(400)]
    previous = live._Open()
    for row in rows:
        previous.add(*row)
    index = IssueIndex(live.JOIN_SIMILARITY, live._same_place, rows)
    assert len(index) == 400
    found = 0
    for step in range(600):
        if step % 50 == 0:  # issues opened since the index was built
            extra = (5000 + step, _vector(rng, 20), rng.choice(PLACES))
            previous.add(*extra)
            index.add(*extra)
        base = rows[rng.randrange(len(rows))][1] if step % 3 == 0 else _vector(rng, rng.randint(3, 40))
        vector = {t: w * rng.uniform(0.5, 1.5) for t, w in base.items()}
        norm = math.sqrt(sum(v * v for v in vector.values()))
        vector = {t: v / norm for t, v in vector.items()}
        places = rng.choice(PLACES)
        chosen, similarity = index.best(vector, places)
        expected, expected_similarity = previous.best(vector, places)
        assert chosen == expected, step
        assert abs(similarity - expected_similarity) < 1e-9
        found += chosen is not None
    assert 100 < found < 600  # both outcomes were tried


def test_an_empty_index_and_a_vector_of_unknown_words_find_nothing() -> None:
    assert IssueIndex(0.3, live._same_place).best({"w1": 1.0}, []) == (None, 0.0)
    index = IssueIndex(0.3, live._same_place, [(1, {"w1": 1.0}, [])])
    assert index.best({"other": 1.0}, []) == (None, 0.0)
    assert index.best({}, []) == (None, 0.0)
    assert index.best({"w1": 1.0}, ["幸福路"]) == (1, 1.0)
    assert index.best({"w1": 0.29, "x": 0.95}, []) == (None, 0.0)  # below the threshold
