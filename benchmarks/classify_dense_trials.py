"""Ways to use the text embedding in the category model, under the folds of `benchmarks.classify`, with the choice
among them made inside each training part (nested), never on the held-out fold.

    .venv/bin/python -m benchmarks.classify_dense_trials [--datasets msga,tc2020] [--vector-cache var/classify-vectors]
        [--jobs 5] [--weights 1,2]

Vectors are read from the cache that `benchmarks.classify --dense` fills (files `*.npz`, keys = SHA-256 of the
embedded text: the first `dense_chars` characters of the normalised text); the missing ones are embedded and
saved there first.

Variants, each with the model's own stacker, prior power α and thresholds chosen on held-out folds of the
training part (`classifier_training._calibrate`):

- `ngram`: the n-gram model (SVM and naive Bayes on TF-IDF), what triage gives without a vector;
- `dense-lr`: the dense base model of `classifier_dense` (a logistic regression on the embedding) as a third input
  of the stacker (the model measured on 2026-12-07: 0.5154);
- `concat-wW`: the SVM trained on the TF-IDF blocks and the standardised embedding side by side (scaled to norm
  about W: W = 1 weighs it as one TF-IDF block), stacked with naive Bayes on the TF-IDF blocks;
- `both-wW`: the n-gram SVM, naive Bayes and the concatenated SVM in one stack;
- **`chosen`**: per fold, the variant whose held-out macro-F1 *inside the training part* (cross-fitted stacker
  predictions) is best. This is the honest figure of "try them all and keep the best": the held-out fold does not
  take part in the choice.

Writes benchmarks/results/classify-dense-trials-YYYY-MM-DD.json and .md.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold

from chengzhi.embeddings import ROUTING_MODEL
from chengzhi.routing import classifier_training
from chengzhi.routing import text as textpipe
from chengzhi.routing.category_model import _stack_proba
from chengzhi.routing.classifier_dense import DenseBase, dense_text, held_out_scores
from chengzhi.routing.classifier_features import ClassifierConfig, TextFeatures
from chengzhi.routing.classifier_training import _calibrate, _fit_base, _held_out

from .classify import DATASETS, ROOT, TARGETS, VectorCache, _load, machine

_JOB: dict[str, Any] = {}


def concat(x: sp.csr_matrix, z: np.ndarray, weight: float) -> sp.csr_matrix:
    """TF-IDF blocks and the standardised embedding `z` side by side, the embedding scaled to norm about `weight`."""
    return sp.hstack([x, sp.csr_matrix(z * (weight / np.sqrt(z.shape[1])), dtype=np.float32)], format="csr")


def _figures(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    return {
        "macro_f1": round(float(f1_score(y, pred, average="macro", zero_division=0)), 4),
        "accuracy": round(float(accuracy_score(y, pred)), 4),
    }


def _predict(fit: Any, scores: np.ndarray) -> np.ndarray:
    prob = _stack_proba(fit.stacker, scores)
    return np.asarray(np.argmax(np.log(prob + 1e-12) + fit.offsets, axis=1))


def _fold(split: tuple[int, np.ndarray, np.ndarray]) -> dict[str, Any]:
    k_fold, train, test = split
    texts, y_all, config = _JOB["texts"], _JOB["y"], _JOB["config"]
    weights: list[float] = _JOB["weights"]
    started, cpu = time.perf_counter(), time.process_time()
    y, yt = y_all[train], y_all[test]
    k = int(y_all.max()) + 1
    features = TextFeatures(config)
    x = features.fit_transform([texts[i] for i in train])
    xt = features.transform([texts[i] for i in test])
    held, held_svm = _held_out(x, y, None, config)
    base = _fit_base(x, y, None, config, None)
    test_scores = base.scores(xt)
    nb_held, nb_test = held[:, k:], test_scores[:, k:]
    fits: dict[str, tuple[Any, np.ndarray]] = {"ngram": (_calibrate(held, held_svm, y, config), test_scores)}

    vectors = _JOB["vectors"]()
    v, vt = vectors[train], vectors[test]
    dense_held = held_out_scores(v, y, None, config)
    dense = DenseBase.fit(v, y, config, None)
    fits["dense-lr"] = (
        _calibrate(np.hstack([held, dense_held]), held_svm, y, config),
        np.hstack([test_scores, dense.scores(vt)]),
    )
    mean, scale = v.mean(axis=0), v.std(axis=0) + 1e-6
    z, zt = (v - mean) / scale, (vt - mean) / scale
    svm_only = dataclasses.replace(config, use_nb=False)
    for weight in weights:
        xc, xct = concat(x, z, weight), concat(xt, zt, weight)
        held_c, held_svm_c = _held_out(xc, y, None, svm_only)
        base_c = _fit_base(xc, y, None, svm_only, None)
        svm_c = base_c.scores(xct)
        fits[f"concat-w{weight:g}"] = (
            _calibrate(np.hstack([held_c, nb_held]), held_svm_c, y, config),
            np.hstack([svm_c, nb_test]),
        )
        fits[f"both-w{weight:g}"] = (
            _calibrate(np.hstack([held, held_c]), held_svm, y, config),
            np.hstack([test_scores, svm_c]),
        )
    out: dict[str, Any] = {"fold": k_fold, "variants": {}}
    for name, (fit, scores) in fits.items():
        inner = _figures(y, fit.top)
        out["variants"][name] = {
            "inner": inner,
            "alpha": fit.alpha,
            "test": _figures(yt, _predict(fit, scores)),
            "pred": _predict(fit, scores).tolist(),
        }
    chosen = max(fits, key=lambda n: (out["variants"][n]["inner"]["macro_f1"], n == "ngram"))
    out["chosen"] = chosen
    out["wall_seconds"] = round(time.perf_counter() - started, 1)
    out["cpu_seconds"] = round(time.process_time() - cpu, 1)
    return out


def run(
    name: str,
    data_dir: Path,
    cache_dir: Path,
    jobs: int,
    weights: list[float],
    say: Any,
    smoke: int = 0,
    wait: float = 0.0,
) -> dict[str, Any]:
    relative, text_col, label_col = DATASETS[name]
    data = classifier_training.read_table(data_dir / relative, text_col, label_col)
    config = ClassifierConfig(dense_model=ROUTING_MODEL)
    rows = [(textpipe.normalise(t), lab) for t, lab in zip(data.texts, data.labels, strict=True)]
    if smoke:  # a check that the script runs: the first rows, random vectors
        common = {lab for lab, _ in Counter(lab for _, lab in rows).most_common(4)}
        rows = [r for r in rows if r[1] in common][:smoke]
    assert all(t for t, _ in rows), (
        "a text normalises to nothing: the folds would differ from benchmarks.classify"
    )
    labels_raw = np.array([lab for _, lab in rows], dtype=object)
    texts = [t for t, _ in rows]
    classes = sorted(set(labels_raw))
    y = np.array([classes.index(lab) for lab in labels_raw])
    if smoke:
        random = np.random.default_rng(0).standard_normal((len(texts), 384)).astype(np.float32)

        def vectors() -> np.ndarray:
            return random

    else:
        # With --wait-for-vectors, other processes fill the cache while the folds train their n-gram parts; each
        # fold then waits for the vectors (VectorCache.embed waits up to `wait` seconds, then embeds the rest).
        cache = VectorCache(cache_dir, name, wait)
        cut = [dense_text(config, t, normalised=True) for t in texts]

        def vectors() -> np.ndarray:
            return np.asarray(cache.embed(cut), dtype=np.float32)

    splits = [
        (i, train, test)
        for i, (train, test) in enumerate(
            StratifiedKFold(5, shuffle=True, random_state=0).split(np.zeros(len(y)), labels_raw), start=1
        )
    ]
    _JOB.update(texts=texts, y=y, config=config, vectors=vectors, weights=weights)
    if jobs > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
            done = list(pool.map(_fold, splits))
    else:
        done = [_fold(s) for s in splits]
    names = list(done[0]["variants"])
    pooled: dict[str, Any] = {}
    for variant in [*names, "chosen"]:
        pred = np.empty(len(y), dtype=int)
        for (_, _, test), fold in zip(splits, done, strict=True):
            pick = fold["chosen"] if variant == "chosen" else variant
            pred[test] = fold["variants"][pick]["pred"]
        pooled[variant] = _figures(y, pred)
        pooled[variant]["per_fold"] = [
            f["variants"][f["chosen"] if variant == "chosen" else variant]["test"]["macro_f1"] for f in done
        ]
        say(f"{name} {variant}: {pooled[variant]}")
    for fold in done:
        for variant in fold["variants"].values():
            del variant["pred"]
    return {"rows": len(y), "classes": len(classes), "pooled": pooled, "folds": done}


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        f"# The embedding in the category model: variants, chosen inside each training part ({result['date']})",
        "",
        f"- Machine: {m['cpu_model']}, {m['cpu_count']} cores (shared); load average before "
        f"{' '.join(result['load_before'])}, after {' '.join(result['load_after'])}; {result['seconds']} s.",
        "- Folds: stratified 5-fold, shuffled with seed 0 (as `benchmarks.classify`). Embedding: "
        f"{ROUTING_MODEL}, first 128 characters of the normalised text.",
        "- `chosen`: per fold the variant with the best macro-F1 on held-out folds *of the training part*; the "
        "test fold plays no part in the choice.",
        "",
    ]
    for name, r in result["datasets"].items():
        target = TARGETS.get(name, {})
        lines += [
            f"## {name} ({r['rows']} rows, {r['classes']} classes; target {target})",
            "",
            "| variant | macro-F1 | accuracy | per fold | chosen in folds |",
            "|---|---|---|---|---|",
        ]
        for variant, f in r["pooled"].items():
            times = sum(1 for fold in r["folds"] if fold["chosen"] == variant)
            lines.append(
                f"| {variant} | {f['macro_f1']:.4f} | {f['accuracy']:.4f} | "
                f"{', '.join(f'{v:.3f}' for v in f['per_fold'])} | {times if variant != 'chosen' else ''} |"
            )
        lines.append("")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--datasets", default="msga,tc2020")
    parser.add_argument("--vector-cache", type=Path, default=ROOT / "var" / "classify-vectors")
    parser.add_argument("--jobs", type=int, default=min(5, os.cpu_count() or 1))
    parser.add_argument("--weights", default="1,2")
    parser.add_argument("--tag", default="")
    parser.add_argument(
        "--wait-for-vectors",
        type=float,
        default=0.0,
        help="Seconds each fold waits for vectors other processes write into --vector-cache (n-gram parts first).",
    )
    parser.add_argument(
        "--smoke", type=int, default=0, help="Check the script: N rows, random vectors, no file."
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    result: dict[str, Any] = {
        "benchmark": "classify_dense_trials",
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "load_before": _load(),
        "datasets": {},
    }
    weights = [float(w) for w in args.weights.split(",") if w.strip()]
    for name in [n.strip() for n in args.datasets.split(",") if n.strip()]:
        result["datasets"][name] = run(
            name,
            args.data_dir,
            args.vector_cache,
            args.jobs,
            weights,
            print,
            args.smoke,
            args.wait_for_vectors,
        )
    result["load_after"] = _load()
    result["seconds"] = round(time.perf_counter() - started, 1)
    report = markdown(result)
    print(report)
    if args.smoke:
        return 0
    out = ROOT / "benchmarks" / "results"
    stem = f"classify-dense-trials-{result['date']}" + (f"-{args.tag}" if args.tag else "")
    (out / f"{stem}.json").write_text(
        json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    (out / f"{stem}.md").write_text(report, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
