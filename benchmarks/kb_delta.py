"""Knowledge base: how soon a publication, an edit and a withdrawal show in answers with 20,000 articles (the
delta index, docs/knowledge.md), end to end on a SQLite database of its own.

    .venv/bin/python -m benchmarks.kb_delta [--data-dir ../shared/data] [--documents 20000] [--changes 100]

The database holds `--documents` published articles (the answers of the Beijing Q&A and real messages and replies,
as benchmarks/kb_latency.py), minus `--changes` Q&A answers held back. Each held-back answer is then published (as
an article of its answer alone), one after the other, and its question asked at once through `knowledge.index.ask`
as the intake pages ask it (BM25; the dense side only adds a lookup of stored vectors): the time of that question
(which builds the delta) and whether the new article is the first answer or in the top five. The same questions are
then asked of a main index rebuilt over everything (what the delta replaces), to compare the rankings; and the time of
that rebuild (what a publication waited for before the delta). Then a withdrawal and an edit. Prints Markdown.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.kb_latency import _p, corpus
from chengzhi.db import get_sessionmaker, utcnow
from chengzhi.knowledge import index
from chengzhi.knowledge.models import ArticleStatus, KnowledgeArticle
from chengzhi.knowledge.retrieval import Layered, Retriever
from chengzhi.knowledge.service import (
    ArticleInput,
    create_article,
    document_text,
    edit_article,
    publish_article,
    withdraw_article,
)
from chengzhi.migrate import upgrade
from chengzhi.org.models import Role, UnitKind
from chengzhi.org.service import Actor, RoleGrant, create_unit


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--documents", type=int, default=20_000)
    parser.add_argument("--changes", type=int, default=100)
    args = parser.parse_args()
    rows, docs = corpus(Path(args.data_dir), args.documents + args.changes)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["answer"]] = counts.get(r["answer"], 0) + 1
    held = [r for n, r in enumerate(rows) if n % 2 == 1 and counts[r["answer"]] == 1][: args.changes]
    held_answers = {r["answer"] for r in held}
    docs = [d for d in docs if d not in held_answers][: args.documents]
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/kb.db"
        upgrade(url)
        factory = get_sessionmaker(url)
        with factory() as session, session.begin():
            unit = create_unit(
                session, code="bench", name_zh="基准", name_en="Bench", kind=UnitKind.city, parent=None
            )
            now = utcnow()
            session.add_all(
                KnowledgeArticle(
                    questions=[],
                    answer=d,
                    unit_id=unit.id,
                    keywords=[],
                    status=ArticleStatus.published,
                    version=1,
                    created_at=now,
                    updated_at=now,
                )
                for d in docs
            )
            actor = Actor(user_id=None, grants=(RoleGrant(Role.admin, unit.id, unit.path),))
            unit_id = unit.id
        with factory() as session:
            started = time.perf_counter()
            main_index = index.retriever_for(session, url, None)
            first_build = time.perf_counter() - started
            session.rollback()
            asked, asked_cpu, rank1, top5, published = [], [], 0, 0, []
            for row in held:
                session.rollback()
                with session.begin():
                    made = create_article(session, actor, ArticleInput(["无标题"], row["answer"], unit_id))
                    publish_article(session, actor, made.id)
                    published.append(made.id)
                session.rollback()
                started, cpu = time.perf_counter(), time.thread_time()
                found = [a.article.id for a in index.ask(session, url, row["question"], 5, dense=False)]
                asked.append(time.perf_counter() - started)
                asked_cpu.append(time.thread_time() - cpu)
                rank1 += bool(found) and found[0] == made.id
                top5 += made.id in found
            searched = index.retriever_for(session, url, None)
            assert isinstance(searched, Layered) and searched.main is main_index
            # The same questions of one index over everything (what folding the delta gives).
            started = time.perf_counter()
            full = Retriever(
                [
                    (a.id, document_text(a.questions, a.answer, a.keywords))
                    for a in session.query(KnowledgeArticle).order_by(KnowledgeArticle.id)
                    if a.status is ArticleStatus.published
                ]
            )
            rebuild = time.perf_counter() - started
            full_rank1 = full_top5 = 0
            for row, article in zip(held, published, strict=True):
                keys = [h.key for h in full.search(row["question"], 5)]
                full_rank1 += bool(keys) and keys[0] == article
                full_top5 += article in keys
            # Questions with a delta of `changes` articles beside the main index, and with the main index alone.
            questions = [r["question"] for n, r in enumerate(rows) if n % 2 == 0][:300]
            with_delta, alone, with_delta_cpu, alone_cpu = [], [], [], []
            for question in questions:
                t, cpu = time.perf_counter(), time.thread_time()
                searched.rank(question, 5)
                with_delta.append(time.perf_counter() - t)
                with_delta_cpu.append(time.thread_time() - cpu)
                t, cpu = time.perf_counter(), time.thread_time()
                main_index.rank(question, 5)
                alone.append(time.perf_counter() - t)
                alone_cpu.append(time.thread_time() - cpu)
            # A withdrawal and an edit.
            session.rollback()
            with session.begin():
                withdraw_article(session, actor, published[0])
            session.rollback()
            t = time.perf_counter()
            gone = published[0] not in [
                a.article.id for a in index.ask(session, url, held[0]["question"], 5, dense=False)
            ]
            withdrawn_ms = (time.perf_counter() - t) * 1000
            session.rollback()
            with session.begin():
                edit_article(
                    session,
                    actor,
                    published[1],
                    ArticleInput([held[0]["question"]], held[0]["answer"], unit_id),
                )
            session.rollback()
            t = time.perf_counter()
            edited = [a.article.id for a in index.ask(session, url, held[0]["question"], 1, dense=False)]
            edited_ms = (time.perf_counter() - t) * 1000
    load_after = os.getloadavg()
    n = len(held)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}"
    )
    print(f"load average before/after: {load_before[0]:.2f} / {load_after[0]:.2f}")
    print(f"articles: {len(docs)} in the main index, {n} published one by one afterwards (SQLite)")
    print(
        f"main index built in {first_build:.1f} s (tokenising every text); rebuilt over everything in {rebuild:.1f} s with the tokens cached (what a publication waited for before the delta)"
    )
    print()
    print("| | wall mean ms | p50 | p95 | max | CPU mean ms | p50 | p95 |")
    print("|---|---|---|---|---|---|---|---|")
    for name, values, cpus in (
        ("first question after each publication (builds the delta)", asked, asked_cpu),
        (f"a question, main index + delta of {n}", with_delta, with_delta_cpu),
        ("a question, main index alone", alone, alone_cpu),
    ):
        print(
            f"| {name} | {np.mean(values) * 1000:.1f} | {_p(values, 0.5):.1f} | {_p(values, 0.95):.1f} | "
            f"{max(values) * 1000:.1f} | {np.mean(cpus) * 1000:.1f} | {_p(cpus, 0.5):.1f} | {_p(cpus, 0.95):.1f} |"
        )
    print()
    print(f"new article first: {rank1}/{n} through the delta, {full_rank1}/{n} in one index over everything")
    print(
        f"new article in the top five: {top5}/{n} through the delta, {full_top5}/{n} in one index over everything"
    )
    print(f"withdrawal: gone at the next question: {gone} ({withdrawn_ms:.1f} ms)")
    print(
        f"edit: the edited article answers its new question first at the next question: {edited[:1] == [published[1]]} ({edited_ms:.1f} ms)"
    )


if __name__ == "__main__":
    main()
