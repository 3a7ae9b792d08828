"""Early warning (issue 13), the batch: blocked grouping on Dask over N messages generated from real texts.

    python -m benchmarks.warning_batch [--messages 100000] [--scheduler local] [--max-block 2000]

Messages are drawn from tc2020-hot and tc2020-messages (title and detail; each kept sentence of the detail with
probability 0.8, so that re-drawn texts are not identical), written by N/3 people, spread over three years. The run
is `warning.batch.group_messages` (tokenising as a dask.bag, TF-IDF over all, blocks, `hot.group` per block as a
dask.bag). Wall time, CPU (this process and its worker processes) and peak resident memory (this process; the
largest worker) are written to benchmarks/results/warning_batch-<date>-<N>.json.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import random
import re
import resource
import threading
import time
from pathlib import Path

import psutil

from chengzhi.warning import batch, hot

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results"
_SENTENCES = re.compile(r"(?<=[。！？!?；;])")


def sources() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    with (DATA / "tc2020-hot" / "messages.csv").open(encoding="utf-8-sig", newline="") as handle:
        found += [(row["title"], row["detail"]) for row in csv.DictReader(handle)]
    with (DATA / "tc2020-messages" / "train.csv").open(encoding="utf-8-sig", newline="") as handle:
        for row in csv.DictReader(handle):
            title, detail = row.get("title") or "", row.get("detail") or ""
            if not title and row.get("text"):
                text = row["text"]
                title, detail = text[:20], text[20:]
            found.append((title, detail))
    return [(t, d) for t, d in found if t or d]


def generate(count: int, seed: int = 13) -> list[hot.Message]:
    rng = random.Random(seed)
    texts = sources()
    start = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
    people = max(1, count // 3)
    messages = []
    for number in range(count):
        title, detail = rng.choice(texts)
        kept = [s for s in _SENTENCES.split(detail) if s and rng.random() < 0.8]
        messages.append(
            hot.Message(
                id=str(number),
                title=title,
                detail="".join(kept) or detail,
                time=start + dt.timedelta(seconds=rng.randrange(3 * 365 * 86400)),
                user=f"u{rng.randrange(people)}",
            )
        )
    return messages


class Watch:
    """Samples the resident memory of this process and its children (Dask's workers) and their CPU times."""

    def __init__(self) -> None:
        self.me = psutil.Process()
        self.peak = 0
        self.worker_cpu = 0.0
        self._seen: dict[int, float] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        total = self.me.memory_info().rss
        for child in self.me.children(recursive=True):
            try:
                total += child.memory_info().rss
                times = child.cpu_times()
                self._seen[child.pid] = times.user + times.system
            except psutil.Error:
                continue
        self.peak = max(self.peak, total)
        self.worker_cpu = sum(self._seen.values())

    def _run(self) -> None:
        while not self._done.wait(0.5):
            self._sample()

    def stop(self) -> None:
        self._sample()
        self._done.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--scheduler", default="local")
    parser.add_argument("--max-block", type=int, default=batch.MAX_BLOCK)
    args = parser.parse_args()
    load_before = os.getloadavg()
    made = time.perf_counter()
    messages = generate(args.messages)
    generated = time.perf_counter() - made
    cpu0 = os.times()
    watch = Watch()
    started = time.perf_counter()
    grouped = batch.group_messages(messages, scheduler=args.scheduler, max_block=args.max_block)
    wall = time.perf_counter() - started
    cpu1 = os.times()
    watch.stop()
    sizes = sorted((len(g) for g in grouped.groups), reverse=True)
    result = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cores",
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "messages": args.messages,
        "scheduler": args.scheduler,
        "max_block": args.max_block,
        "generate_seconds": round(generated, 1),
        "wall_seconds": round(wall, 1),
        "cpu_seconds_self": round((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system), 1),
        "cpu_seconds_workers": round(
            (cpu1.children_user + cpu1.children_system) - (cpu0.children_user + cpu0.children_system), 1
        ),
        # Dask's local worker processes live on after the run (its pool is kept), so the children's times above
        # miss them: their CPU and the peak of this process and its workers together, sampled every 0.5 s.
        "cpu_seconds_live_workers": round(watch.worker_cpu, 1),
        "peak_rss_mb_total": round(watch.peak / 2**20),
        "peak_rss_mb_self": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "peak_rss_mb_largest_worker": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
        "blocks": grouped.blocks,
        "largest_block": grouped.largest_block,
        "vocabulary": len(grouped.features.vocabulary),
        "groups": len(grouped.groups),
        "groups_of_two_or_more": sum(1 for s in sizes if s >= 2),
        "largest_groups": sizes[:10],
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"warning_batch-{dt.date.today().isoformat()}-{args.messages}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
