"""The category classifier's configuration and features: TF-IDF blocks of the normalised text (character
n-grams, jieba words, character n-grams of its head) and the base models (linear SVM, complement naive Bayes)
whose scores the stacker combines. docs/routing.md, "Category classifier"; `classifier.py` says where the rest is.

Saved models pickle `TextFeatures`, `_Base`, `ClassifierConfig` and `_words` by their module and name:
`classifier.py` keeps the names models saved before the split were pickled under.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import TYPE_CHECKING, Any

import numpy as np

from chengzhi.routing import text as textpipe

# scikit-learn and SciPy are imported where they are used: the web app and the CLI start without them (about 2 s),
# and they load with the first model read or trained.
if TYPE_CHECKING:
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.naive_bayes import ComplementNB
    from sklearn.svm import LinearSVC


class ClassifierError(Exception):
    """A problem a user can fix (bad training file, too few examples, missing model): the message names it."""


# --- configuration ---------------------------------------------------------------------------------------------


@dataclass
class ClassifierConfig:
    char_ngrams: tuple[int, int] = (1, 3)
    word_ngrams: tuple[int, int] = (1, 1)
    svm_c: float = 0.5
    nb_alpha: float = 0.1
    use_nb: bool = True
    # Folds inside the training data that give held-out scores (stacker, offsets, thresholds).
    folds: int = 5
    # Offsets on the log-probabilities for macro-F1, chosen on held-out folds of the training data: first the
    # class priors divided out to a power α in [0, 1] (one parameter), losing at most `max_accuracy_loss` of
    # accuracy; then per-class offsets (coordinate ascent) losing at most `fine_offsets_loss` more. Neither takes
    # held-out accuracy below `min_accuracy` (an absolute floor a city may set). 0 disables a step.
    max_accuracy_loss: float = 0.02
    fine_offsets_loss: float = 0.0
    min_accuracy: float = 0.0
    target_precision: float = 0.97
    # Only the first `max_chars` characters of the normalised text are read (0: all): jieba's time grows with the
    # length, and what a long message is about is said in its first few hundred characters.
    max_chars: int = 800
    # A third block: character n-grams of the first `head_chars` characters (0: none), weighted `head_weight`.
    head_chars: int = 30
    head_weight: float = 1.0
    # Unlabelled texts of the same kind given to `train` (semi-supervised): with `unlabelled_idf` they widen the
    # TF-IDF vocabulary and weights; with `pseudo_share` > 0, that share of them, those the base SVM labels with
    # the widest margins, join the training rows with its labels (self-training) at `pseudo_weight` each.
    unlabelled_idf: bool = False
    pseudo_share: float = 0.6
    pseudo_weight: float = 1.0
    # A third base model on the text's embedding (`classifier_dense.py`): the embedding model's name ("": none;
    # training then needs vectors), the characters of the normalised text embedded, the regularisation.
    dense_model: str = ""
    dense_chars: int = 128
    dense_c: float = 0.1
    # Fewest examples per label; fewer stops the training with a message naming the labels.
    min_examples: int = 5
    # Weight of a request whose category a person corrected (training from the database).
    correction_weight: float = 2.0
    seed: int = 0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClassifierConfig:
        known = {f for f in cls.__dataclass_fields__}
        values: dict[str, Any] = {
            k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items() if k in known
        }
        return cls(**values)


# --- features --------------------------------------------------------------------------------------------------


def _words(normalised: str) -> list[str]:
    return textpipe.tokens(normalised, normalised=True)


_WHITE_SPACES = re.compile(r"\s\s+")


def _tfidf_rows(
    terms: Iterable[Sequence[str]], vocabulary: dict[str, int], idf: np.ndarray, sublinear: bool, width: int
) -> sp.csr_matrix:
    """What a fitted TfidfVectorizer (norm l2, smooth idf) gives for documents already cut into terms, without
    scikit-learn's per-call validation: at intake, one message at a time, that overhead was most of the time."""
    import scipy.sparse as sp

    indptr = [0]
    index_parts: list[np.ndarray] = []
    value_parts: list[np.ndarray] = []
    get = vocabulary.get
    for doc in terms:
        ids = np.fromiter(map(get, doc, repeat(-1)), dtype=np.int64, count=len(doc))
        ids = ids[ids >= 0]
        if len(ids):
            ids, counts = np.unique(ids, return_counts=True)
            tf = np.log(counts) + 1.0 if sublinear else counts.astype(np.float64)
            values = tf * idf[ids]
            values /= np.sqrt(np.dot(values, values))
        else:
            values = np.zeros(0)
        index_parts.append(ids)
        value_parts.append(values)
        indptr.append(indptr[-1] + len(ids))
    indices = np.concatenate(index_parts) if index_parts else np.zeros(0, dtype=np.int64)
    data = np.concatenate(value_parts).astype(np.float32) if value_parts else np.zeros(0, dtype=np.float32)
    return sp.csr_matrix((data, indices, np.array(indptr)), shape=(len(indptr) - 1, width))


def _char_terms(text: str, low: int, high: int) -> list[str]:
    """scikit-learn's character n-grams (analyzer="char", lower-cased, runs of white space as one space)."""
    text = _WHITE_SPACES.sub(" ", text.lower())
    size = len(text)
    grams: list[str] = []
    for n in range(low, high + 1):
        grams.extend([text[i : i + n] for i in range(size - n + 1)])
    return grams


class TextFeatures:
    """TF-IDF blocks side by side: character n-grams and jieba words of the normalised text, and character
    n-grams of its first `head_chars` characters (where a message names its subject: a title, a first sentence)."""

    def __init__(self, config: ClassifierConfig) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.chars = self._chars(config)
        self.words = (
            TfidfVectorizer(analyzer=_words, sublinear_tf=True, lowercase=False, dtype=np.float32)
            if config.word_ngrams == (1, 1)
            else TfidfVectorizer(
                tokenizer=_words,
                token_pattern=None,
                ngram_range=config.word_ngrams,
                sublinear_tf=True,
                lowercase=False,
                dtype=np.float32,
            )
        )
        self.max_chars = config.max_chars
        self.head_chars = config.head_chars
        self.head_weight = config.head_weight
        self.head = self._chars(config) if config.head_chars > 0 else None
        self._fast: tuple[Any, ...] | None = None

    @staticmethod
    def _chars(config: ClassifierConfig) -> TfidfVectorizer:
        from sklearn.feature_extraction.text import TfidfVectorizer

        return TfidfVectorizer(
            analyzer="char",
            ngram_range=config.char_ngrams,
            sublinear_tf=True,
            lowercase=True,
            dtype=np.float32,
        )

    def _cut(self, normalised: Sequence[str]) -> Sequence[str]:
        cap = getattr(self, "max_chars", 0)  # models saved before the cap read whole texts
        return [t[:cap] for t in normalised] if cap else normalised

    def _heads(self, normalised: Sequence[str]) -> list[str]:
        return [t[: self.head_chars] for t in normalised]

    def fit_transform(self, normalised: Sequence[str], unlabelled: Sequence[str] = ()) -> sp.csr_matrix:
        """Fits the vocabularies and IDF weights (on the training texts and any unlabelled texts of the same
        kind: more text, better weights, no labels needed) and returns the training texts' features."""
        self._fast = None
        both = self._cut([*normalised, *unlabelled])
        self.chars.fit(both)
        self.words.fit(both)
        if self.head is not None:
            self.head.fit(self._heads(both))
        return self.transform(normalised)

    def _fast_parts(self) -> tuple[Any, ...] | None:
        """The fitted vocabularies and IDF weights for `_tfidf_rows` (None where the fast path does not apply)."""
        fast = getattr(self, "_fast", None)  # models saved before the fast path have no such attribute
        if fast is None:
            words = self.words
            chars = [v for v in (self.chars, getattr(self, "head", None)) if v is not None]
            plain = (
                all(
                    v.analyzer == "char"
                    and v.lowercase
                    and v.norm == "l2"
                    and v.use_idf
                    and v.preprocessor is None
                    and v.strip_accents is None
                    for v in chars
                )
                and callable(words.analyzer)
                and words.norm == "l2"
                and words.use_idf
            )
            if not plain:
                return None
            fast = tuple(
                (v.ngram_range, v.vocabulary_, np.asarray(v.idf_, dtype=np.float64), bool(v.sublinear_tf))
                for v in (*chars, words)
            )
            self._fast = fast
        return fast

    def transform(self, normalised: Sequence[str]) -> sp.csr_matrix:
        import scipy.sparse as sp

        normalised = self._cut(normalised)
        head = getattr(self, "head", None)
        fast = self._fast_parts()
        if fast is None:
            blocks = [self.chars.transform(normalised), self.words.transform(normalised)]
            if head is not None:
                blocks.append(head.transform(self._heads(normalised)) * self.head_weight)
            return sp.hstack(blocks, format="csr")
        (low, high), vocab, idf, sub = fast[0]
        blocks = [_tfidf_rows((_char_terms(t, low, high) for t in normalised), vocab, idf, sub, len(idf))]
        _, vocab, idf, sub = fast[-1]
        blocks.append(_tfidf_rows((_words(t) for t in normalised), vocab, idf, sub, len(idf)))
        if head is not None:
            (low, high), vocab, idf, sub = fast[1]
            terms = (_char_terms(t, low, high) for t in self._heads(normalised))
            blocks.append(_tfidf_rows(terms, vocab, idf, sub, len(idf)) * self.head_weight)
        return sp.hstack(blocks, format="csr")


def _zscore(scores: np.ndarray) -> np.ndarray:
    mean = scores.mean(axis=1, keepdims=True)
    std = scores.std(axis=1, keepdims=True) + 1e-9
    zscores: np.ndarray = (scores - mean) / std
    return zscores


@dataclass
class _Base:
    svm: LinearSVC
    nb: ComplementNB | None
    # The linear models' weights as contiguous (features × classes) arrays: one sparse-dense product per model
    # (scikit-learn's own path copies the transposed weights at every call: ~10 ms per message).
    svm_w: np.ndarray | None = None
    svm_b: np.ndarray | None = None
    nb_w: np.ndarray | None = None

    @classmethod
    def fit(
        cls, x: sp.csr_matrix, y: np.ndarray, config: ClassifierConfig, weights: np.ndarray | None
    ) -> _Base:
        from sklearn.naive_bayes import ComplementNB
        from sklearn.svm import LinearSVC

        svm = LinearSVC(C=config.svm_c, class_weight="balanced", random_state=config.seed)
        svm.fit(x, y, sample_weight=weights)
        nb = None
        if config.use_nb:
            nb = ComplementNB(alpha=config.nb_alpha)
            nb.fit(x, y, sample_weight=weights)
        base = cls(svm, nb)
        base._prepare()
        return base

    def _prepare(self) -> None:
        self.svm_w = np.ascontiguousarray(self.svm.coef_.T)
        self.svm_b = np.asarray(self.svm.intercept_)
        if self.nb is not None:
            self.nb_w = np.ascontiguousarray(self.nb.feature_log_prob_.T)

    def svm_decisions(self, x: sp.csr_matrix) -> np.ndarray:
        """The SVM's raw one-vs-rest decision values (rows × classes): > 0 where it claims the text for a class."""
        if self.svm_w is None or self.svm_b is None:
            self._prepare()
        assert self.svm_w is not None and self.svm_b is not None
        svm = np.asarray(x @ self.svm_w) + self.svm_b
        if svm.shape[1] == 1:  # two classes: one decision value, positive for the second class
            svm = np.hstack([-svm, svm])
        decisions: np.ndarray = svm
        return decisions

    def scores(self, x: sp.csr_matrix, svm: np.ndarray | None = None) -> np.ndarray:
        """The stacker's inputs: z-scored SVM decisions and naive Bayes log-likelihoods, side by side."""
        svm = self.svm_decisions(x) if svm is None else svm
        parts = [_zscore(svm)]
        if self.nb is not None and self.nb_w is not None:
            # Complement NB's joint log-likelihood; its normalisation is a per-row constant, which z-scores drop.
            parts.append(_zscore(np.asarray(x @ self.nb_w)))
        return np.hstack(parts)
