"""The open hot issues' signatures as a numpy index, for live placement: which open issue a new request (or an
outside post) is most similar to.

The signatures (up to 80 weighted terms each) are held column by column (term → the issues holding it and their
weights, as one array each: compressed sparse columns), so that a request's similarity with every open issue is a
few array operations per term of the request instead of a Python loop over every posting. Issues opened after the
index was built are added to a small inverted index beside it (`add`). The answer is that of the inverted index it
replaces (`live._Open`): the most similar issue at or above the threshold whose places agree, ties to the issue
indexed first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence

import numpy as np


class IssueIndex:
    def __init__(
        self,
        threshold: float,
        same_place: Callable[[Sequence[str], Sequence[str]], bool],
        rows: Iterable[tuple[int, dict[str, float], list[str]]] = (),
    ) -> None:
        self.threshold = threshold
        self._same_place = same_place
        self.ids: list[int] = []
        self.places: list[list[str]] = []
        terms: dict[str, int] = {}
        term_of: list[int] = []
        issue_of: list[int] = []
        weights: list[float] = []
        for issue_id, signature, places in rows:
            position = len(self.ids)
            self.ids.append(issue_id)
            self.places.append(places)
            for term, weight in signature.items():
                term_of.append(terms.setdefault(term, len(terms)))
                issue_of.append(position)
                weights.append(weight)
        self._terms = terms
        self._base = len(self.ids)
        # Compressed sparse columns: the postings of term j are positions[start[j]:start[j + 1]].
        by_term = np.asarray(term_of, dtype=np.int64)
        order = np.argsort(by_term, kind="stable")
        self._positions = np.asarray(issue_of, dtype=np.int64)[order]
        self._weights = np.asarray(weights, dtype=np.float64)[order]
        self._start = np.zeros(len(terms) + 1, dtype=np.int64)
        np.cumsum(np.bincount(by_term, minlength=len(terms)), out=self._start[1:])
        # Issues added later (opened by this process since the index was built): a plain inverted index.
        self._added: dict[str, list[tuple[int, float]]] = defaultdict(list)

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, issue_id: int, signature: dict[str, float], places: list[str]) -> None:
        position = len(self.ids)
        self.ids.append(issue_id)
        self.places.append(places)
        for term, weight in signature.items():
            self._added[term].append((position, weight))

    def similarities(self, vector: dict[str, float]) -> np.ndarray:
        """The cosine of the (normalised) vector with every indexed issue's signature, by position."""
        scores = np.zeros(len(self.ids), dtype=np.float64)
        base = scores[: self._base]
        for term, weight in vector.items():
            column = self._terms.get(term)
            if column is not None:
                start, end = self._start[column], self._start[column + 1]
                # An issue holds a term once: no position repeats within a column.
                base[self._positions[start:end]] += weight * self._weights[start:end]
            for position, other in self._added.get(term, ()):
                scores[position] += weight * other
        return scores

    def best(self, vector: dict[str, float], places: list[str]) -> tuple[int | None, float]:
        """The most similar issue at or above the threshold whose places agree with `places`, and how similar;
        (None, 0.0) when there is none."""
        if not self.ids or not vector:
            return None, 0.0
        scores = self.similarities(vector)
        candidates = np.flatnonzero(scores >= self.threshold)
        if not len(candidates):
            return None, 0.0
        ranked = candidates[np.lexsort((candidates, -scores[candidates]))]
        for position in ranked.tolist():
            if self._same_place(places, self.places[position]):
                return self.ids[position], float(scores[position])
        return None, 0.0
