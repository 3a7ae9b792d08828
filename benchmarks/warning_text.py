"""Early warning (issue 13): the sentiment and message-type model on the real MSGABench file.

    python -m benchmarks.warning_text [--folds 5] [--file ../shared/data/msga-messages/train.csv]

Cross-validated macro-F1 of the model, the naive Bayes baseline and the majority class under the same stratified
folds (`warning.sentiment.cross_validate`), for the sentiment and the type; then the time to train on the whole file,
to load the saved model, and to label one request (a batch of one, as the worker's worst case) and 1,000 texts.
Writes benchmarks/results/warning_text-<date>.md with the machine and its load.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "msga-messages" / "train.csv"
RESULTS = ROOT / "benchmarks" / "results"


def main() -> None:
    from chengzhi.warning import sentiment

    parser = argparse.ArgumentParser()
    parser.add_argument("--file", type=Path, default=DATA)
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    if not args.file.exists():
        raise SystemExit(f"{args.file} is not on this machine")
    lines = [
        f"# Sentiment and message type: `warning.sentiment` on {args.file.name} ({dt.date.today()})",
        "",
        f"Machine: {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"load at start {os.getloadavg()[0]:.1f}.",
        "",
    ]
    examples = sentiment.read_examples(args.file)
    lines += [
        f"{args.folds}-fold stratified cross-validation (seed 0), the same folds for every row; macro-F1, mean ± sd.",
        "",
        "| target | examples | classes | model | naive Bayes baseline | majority | model F1 per class | seconds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for target in ("sentiment", "type"):
        started = time.perf_counter()
        s = sentiment.cross_validate(examples, target, folds=args.folds)
        seconds = time.perf_counter() - started
        per_class = ", ".join(f"{k} {v:.3f}" for k, v in s.per_class.items())
        classes = ", ".join(f"{k} {v}" for k, v in s.classes.items())
        lines.append(
            f"| {target} | {s.examples} | {classes} | **{s.model[0]:.3f}** ± {s.model[1]:.3f} | "
            f"{s.baseline[0]:.3f} ± {s.baseline[1]:.3f} | {s.majority[0]:.3f} | {per_class} | {seconds:.0f} |"
        )
        print(lines[-1], flush=True)
    started = time.perf_counter()
    model = sentiment.train(examples)
    train_seconds = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "text.model"
        sentiment.save(model, path)
        size = path.stat().st_size
        started = time.perf_counter()
        model = sentiment.load(path)
        load_seconds = time.perf_counter() - started
    texts = [e.text for e in examples[:1000]]
    single = []
    for text in texts[:300]:
        started = time.perf_counter()
        sentiment.label(model, [text])
        single.append((time.perf_counter() - started) * 1000)
    started = time.perf_counter()
    sentiment.label(model, texts)
    batch_ms = (time.perf_counter() - started) * 1000
    single.sort()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lines += [
        "",
        f"Training on all {len(examples)} examples: {train_seconds:.1f} s; model file {size / 1e6:.1f} MB, "
        f"loaded in {load_seconds:.2f} s.",
        f"Labelling one request (300 texts one at a time): p50 {statistics.median(single):.2f} ms, "
        f"p95 {single[int(0.95 * len(single))]:.2f} ms; 1,000 texts in one batch {batch_ms:.0f} ms. "
        f"Peak memory {peak_mb:.0f} MB.",
        f"Load at the end {os.getloadavg()[0]:.1f} (2 cores shared with other agents: wall times are inflated).",
        "",
        "The file has no positive messages (愤怒 3,661, 中性 2,933, 悲伤 16, 恐惧 4): anger, sadness and fear are",
        "`negative`; the model never says `positive`. Negativity (the probability of `negative`) feeds the heat index.",
    ]
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"warning_text-{dt.date.today()}.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines[-7:]))
    print(f"→ {out}")


if __name__ == "__main__":
    main()
