"""What else was tried for the msga macro-F1 target (issue 5): variants of the category model under the same folds.

    .venv/bin/python -m benchmarks.classify_variants [--data-dir ../shared/data] [--dataset msga] [--only a,b]

The model of `chengzhi.routing.classifier_training` is a stack: base models score TF-IDF features (character 1–3-grams, jieba
words, the first 30 characters), a logistic regression on their held-out scores gives calibrated probabilities, and
the class priors are divided out to a power α chosen on held-out data for macro-F1. This benchmark keeps that frame
and changes one part at a time: the base models (SVM regularisation, naive Bayes smoothing, a nearest-neighbour
vote, NB-SVM), the stacker (class-balanced), the decision (per-class offsets) and the features (a static embedding
that installs from PyPI with its weights, if installed: wordllama). Every variant is trained and measured under the
same stratified 5-fold split (seed 0) as `benchmarks.classify`; everything a variant tunes is chosen inside the
training part. Features are computed once per fold and shared by the variants.

Writes benchmarks/results/classify-variants-YYYY-MM-DD.json and .md. The data is read from the directory given,
never copied into the repository.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.naive_bayes import ComplementNB
from sklearn.svm import LinearSVC

from chengzhi.routing import classifier_training
from chengzhi.routing import text as textpipe
from chengzhi.routing.classifier_features import ClassifierConfig, TextFeatures, _zscore
from chengzhi.routing.classifier_training import _prior_offsets, _tune_offsets

from .classify import DATASETS, ROOT, machine

Scorer = Callable[[sp.csr_matrix], np.ndarray]
Base = Callable[[sp.csr_matrix, np.ndarray], Scorer]


def svm(c: float = 0.5) -> Base:
    def fit(x: sp.csr_matrix, y: np.ndarray) -> Scorer:
        m = LinearSVC(C=c, class_weight="balanced", random_state=0).fit(x, y)
        return lambda z: _zscore(np.asarray(z @ m.coef_.T) + m.intercept_)

    return fit


def naive_bayes(alpha: float = 0.1, columns: list[int] | None = None) -> Base:
    """Complement NB; `columns`: a one-element list holding how many leading columns are TF-IDF (set per fold)."""

    def fit(x: sp.csr_matrix, y: np.ndarray) -> Scorer:
        n = columns[0] if columns else x.shape[1]
        m = ComplementNB(alpha=alpha).fit(x[:, :n], y)
        return lambda z: _zscore(np.asarray(z[:, :n] @ m.feature_log_prob_.T))

    return fit


def neighbours(k: int = 20, power: float = 3.0) -> Base:
    """The labels of the k most similar training texts (cosine of TF-IDF rows), weighted by similarity^power."""

    def fit(x: sp.csr_matrix, y: np.ndarray) -> Scorer:
        onehot = np.eye(int(y.max()) + 1)[y]
        prior = onehot.mean(axis=0)

        def score(z: sp.csr_matrix) -> np.ndarray:
            sim = (z @ x.T).toarray()
            top = np.argpartition(-sim, k, axis=1)[:, :k]
            votes = np.einsum("ij,ijc->ic", np.take_along_axis(sim, top, 1) ** power, onehot[top])
            return _zscore(np.log(votes / prior + 1e-3))

        return score

    return fit


def nb_svm(c: float = 0.5, alpha: float = 1.0) -> Base:
    """NB-SVM (Wang and Manning 2012): one binary SVM per class on features scaled by their NB log-count ratio."""

    def fit(x: sp.csr_matrix, y: np.ndarray) -> Scorer:
        binary = x.copy()
        binary.data[:] = 1.0
        weights, biases = [], []
        for c_ in range(int(y.max()) + 1):
            pos = np.asarray(binary[y == c_].sum(0)).ravel() + alpha
            neg = np.asarray(binary[y != c_].sum(0)).ravel() + alpha
            r = np.log((pos / pos.sum()) / (neg / neg.sum()))
            m = LinearSVC(C=c, class_weight="balanced", random_state=0).fit(x.multiply(r).tocsr(), y == c_)
            weights.append(m.coef_.ravel() * r)
            biases.append(m.intercept_[0])
        w, b = np.vstack(weights).T, np.array(biases)
        return lambda z: _zscore(np.asarray(z @ w) + b)

    return fit


def stacker(balanced: bool = False) -> Callable[[], LogisticRegression]:
    return lambda: LogisticRegression(
        C=1.0, max_iter=1000, random_state=0, class_weight="balanced" if balanced else None
    )


def _held_out(bases: list[Base], x: sp.csr_matrix, y: np.ndarray) -> np.ndarray:
    out: np.ndarray | None = None
    for train, test in StratifiedKFold(5, shuffle=True, random_state=0).split(np.zeros(len(y)), y):
        s = np.hstack([b(x[train], y[train])(x[test]) for b in bases])
        if out is None:
            out = np.zeros((len(y), s.shape[1]))
        out[test] = s
    assert out is not None
    return out


def run_variant(
    folds: list[tuple[np.ndarray, np.ndarray, sp.csr_matrix, sp.csr_matrix]],
    y: np.ndarray,
    bases: list[Base],
    make_stacker: Callable[[], LogisticRegression],
    fine_offsets_loss: float = 0.0,
) -> dict[str, Any]:
    """The model's frame with the given parts: held-out base scores → stacker → α offsets (→ per-class offsets)."""
    k = int(y.max()) + 1
    predicted = np.zeros(len(y), dtype=int)
    per_fold = []
    started = time.perf_counter()
    for train, test, x_train, x_test in folds:
        y_train = y[train]
        held = _held_out(bases, x_train, y_train)
        prob = np.zeros((len(y_train), k))
        for a, b in StratifiedKFold(5, shuffle=True, random_state=1).split(held, y_train):
            prob[b] = make_stacker().fit(held[a], y_train[a]).predict_proba(held[b])
        log_p = np.log(prob + 1e-12)
        offsets, _alpha = _prior_offsets(log_p, y_train, 0.02)
        offsets = _tune_offsets(log_p, y_train, fine_offsets_loss, start=offsets)
        scores = np.hstack([b(x_train, y_train)(x_test) for b in bases])
        final = make_stacker().fit(held, y_train)
        predicted[test] = (np.log(final.predict_proba(scores) + 1e-12) + offsets).argmax(1)
        per_fold.append(round(float(f1_score(y[test], predicted[test], average="macro")), 4))
    return {
        "macro_f1": round(float(f1_score(y, predicted, average="macro")), 4),
        "accuracy": round(float(accuracy_score(y, predicted)), 4),
        "per_fold_macro_f1": per_fold,
        "seconds": round(time.perf_counter() - started, 1),
    }


def _wordllama_embed(texts: list[str]) -> np.ndarray | None:
    """Embeddings of wordllama's bundled 256-dimension model (LLaMA-2 tokens), or None if it is not installed.
    Its loader looks for the bundled tokenizer under the wrong folder name, so the files are given as a cache."""
    try:
        import wordllama
        from wordllama import WordLlama
    except ImportError:
        return None
    package = Path(wordllama.__file__).parent
    with tempfile.TemporaryDirectory() as cache:
        for sub in ("tokenizers", "weights"):
            (Path(cache) / sub).mkdir()
            for f in (package / sub).glob("l2_supercat*"):
                (Path(cache) / sub / f.name).symlink_to(f)
        model = WordLlama.load(cache_dir=Path(cache), disable_download=True)
        return np.asarray(model.embed(texts, norm=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--dataset", default="msga", choices=sorted(DATASETS))
    parser.add_argument("--only", default="", help="Comma-separated variant names (default: all).")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    relative, text_col, label_col = DATASETS[args.dataset]
    path = args.data_dir / relative
    if not path.is_file():
        print(
            f"skipped: {path} not found (the real data lies beside the repository, see ../shared/data/README.md)"
        )
        return 0
    load_before = os.getloadavg()
    started = time.perf_counter()
    data = classifier_training.read_table(path, text_col, label_col)
    texts = [textpipe.normalise(t) for t in data.texts]
    classes = sorted(set(data.labels))
    y = np.array([classes.index(label) for label in data.labels])
    config = ClassifierConfig()
    folds = []
    for train, test in StratifiedKFold(5, shuffle=True, random_state=0).split(np.zeros(len(y)), y):
        features = TextFeatures(config)
        x_train = features.fit_transform([texts[i] for i in train])
        folds.append((train, test, x_train, features.transform([texts[i] for i in test])))
    tfidf_columns: list[int] = [0]
    variants: dict[str, Callable[[], dict[str, Any]]] = {
        "model (SVM C=0.5 + NB α=0.1)": lambda: run_variant(folds, y, [svm(), naive_bayes()], stacker()),
        "SVM C=0.15": lambda: run_variant(folds, y, [svm(0.15), naive_bayes()], stacker()),
        "SVM C=0.3": lambda: run_variant(folds, y, [svm(0.3), naive_bayes()], stacker()),
        "SVM C=1.0": lambda: run_variant(folds, y, [svm(1.0), naive_bayes()], stacker()),
        "NB α=0.3": lambda: run_variant(folds, y, [svm(), naive_bayes(0.3)], stacker()),
        "class-balanced stacker": lambda: run_variant(
            folds, y, [svm(), naive_bayes()], stacker(balanced=True)
        ),
        "per-class offsets (1 point of accuracy)": lambda: run_variant(
            folds, y, [svm(), naive_bayes()], stacker(), fine_offsets_loss=0.01
        ),
        "+ 20 nearest neighbours": lambda: run_variant(
            folds, y, [svm(), naive_bayes(), neighbours()], stacker()
        ),
        "NB-SVM instead of SVM": lambda: run_variant(folds, y, [nb_svm(), naive_bayes()], stacker()),
    }
    embedded = _wordllama_embed([t[: config.max_chars] for t in texts])
    if embedded is not None:
        for weight in (0.5, 1.0):

            def with_embedding(weight: float = weight) -> dict[str, Any]:
                widened = []
                for train, test, x_train, x_test in folds:
                    tfidf_columns[0] = x_train.shape[1]
                    widened.append(
                        (
                            train,
                            test,
                            sp.hstack([x_train, sp.csr_matrix(embedded[train] * weight)], format="csr"),
                            sp.hstack([x_test, sp.csr_matrix(embedded[test] * weight)], format="csr"),
                        )
                    )
                return run_variant(widened, y, [svm(), naive_bayes(columns=tfidf_columns)], stacker())

            variants[f"+ wordllama embedding ×{weight} (SVM)"] = with_embedding
    chosen = [v for v in args.only.split(",") if v] or list(variants)
    results = {}
    for name in chosen:
        results[name] = variants[name]()
        print(name, results[name], flush=True)
    result = {
        "benchmark": "classify-variants",
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "dataset": args.dataset,
        "rows": len(y),
        "classes": len(classes),
        "load_before": [round(v, 2) for v in load_before],
        "load_after": [round(v, 2) for v in os.getloadavg()],
        "seconds": round(time.perf_counter() - started, 1),
        "variants": results,
    }
    if not args.no_write:
        out = ROOT / "benchmarks" / "results" / f"classify-variants-{result['date']}"
        out.with_suffix(".json").write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
        out.with_suffix(".md").write_text(markdown(result), encoding="utf-8")
        print(f"wrote {out}.md")
    return 0


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        f"# Category model variants on {result['dataset']}, {result['date']}",
        "",
        f"- Machine: {m['cpu_model']}, {m['cpu_count']} cores; Python {m['python']}, scikit-learn {m['sklearn']}",
        f"- Load average (1, 5, 15 min) before: {' '.join(map(str, result['load_before']))}; after: "
        f"{' '.join(map(str, result['load_after']))} (the machine was shared: seconds are inflated)",
        f"- {result['rows']} rows, {result['classes']} classes; stratified 5-fold CV, seed 0 (the folds of "
        "`benchmarks.classify`); every variant tunes inside the training part only. Run time "
        f"{result['seconds']} s.",
        "",
        "| variant | macro-F1 | accuracy | per fold macro-F1 | seconds |",
        "|---|---|---|---|---|",
    ]
    for name, r in result["variants"].items():
        folds = " ".join(f"{f:.3f}" for f in r["per_fold_macro_f1"])
        lines.append(f"| {name} | {r['macro_f1']:.4f} | {r['accuracy']:.4f} | {folds} | {r['seconds']} |")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
