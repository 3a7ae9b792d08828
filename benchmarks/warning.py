"""Early warning (issue 13): `chengzhi hot detect` on tc2020-hot (wall time, model loading included, target < 60 s)
and the placement of a new request into a hot issue (p95, target < 50 ms).

    python -m benchmarks.warning [--demo-db sqlite:///path/to/demo.db] [--requests 300]

The placement is measured on a demo city's database (generated with `chengzhi demo` when none is given): each
request's membership is removed and the worker's step places it again, alone (a batch of one: the worst case, the
open issues are read for every call), in a transaction rolled back afterwards. Real texts (tc2020-hot, longer than
the demo's) are timed through the same vectoriser and index against the demo's open issues.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import delete, select

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "tc2020-hot" / "messages.csv"
RESULTS = ROOT / "benchmarks" / "results"


def load() -> str:
    return os.getloadavg().__repr__()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def hot_detect() -> dict[str, object]:
    with tempfile.TemporaryDirectory() as out:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(
            [
                str(ROOT / ".venv" / "bin" / "chengzhi"),
                "hot",
                "detect",
                str(DATA),
                "--output",
                out,
                "--top",
                "5",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        with (Path(out) / "hot_issues.csv").open(encoding="utf-8-sig") as handle:
            top = [
                {
                    k: row[k]
                    for k in ("issue_rank", "heat", "time_range", "place_or_group", "description", "messages")
                }
                for row in csv.DictReader(handle)
            ]
    return {
        "wall_seconds": round(wall, 1),
        # What a quiet machine would show as wall time, about: the command is one process (one core).
        "cpu_seconds": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 1),
        "peak_rss_mb": round(after.ru_maxrss / 1024),
        "load_after": load(),
        "top": top,
        "summary": done.stdout.splitlines()[0],
    }


def placement(database_url: str, n: int) -> dict[str, object]:
    from chengzhi import reactions
    from chengzhi.config import Settings
    from chengzhi.db import get_sessionmaker, utcnow
    from chengzhi.requests.models import Request
    from chengzhi.warning import hot, live
    from chengzhi.warning.models import HotIssueMember
    from chengzhi.warning.settings import grouping_settings

    reactions.install()
    settings = Settings(database_url=database_url, scheduler_enabled=False)
    factory = get_sessionmaker(database_url)
    now = utcnow()
    with factory() as session:
        ids = list(session.scalars(select(Request.id).order_by(Request.id.desc()).limit(n)))
    # Warm-up: jieba, OpenCC and the IDF table load once per process.
    with factory() as session:
        first = session.get(Request, ids[0])
        assert first is not None
        live.place_requests(session, settings, [first], now)
        session.rollback()
    times, cpu = [], []
    for request_id in ids:
        with factory() as session:
            session.execute(delete(HotIssueMember).where(HotIssueMember.request_id == request_id))
            request = session.get(Request, request_id)
            assert request is not None
            started, cpu_started = time.perf_counter(), time.process_time()
            live.place_requests(session, settings, [request], now)
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - cpu_started) * 1000)
            session.rollback()
    with factory() as session:
        issues = live._open_issues(session, now)
        idf = live._idf(session)
    grouping = grouping_settings(settings)
    real = []
    with DATA.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))[:n]
    for row in rows:
        started = time.perf_counter()
        vector, places = live.vectorise(row["title"], row["detail"], idf, grouping)
        issues.best(vector, places)
        real.append((time.perf_counter() - started) * 1000)
    del hot
    return {
        "open_issues": len(issues.ids),
        "requests": len(times),
        "place_ms": {"p50": round(percentile(times, 0.5), 1), "p95": round(percentile(times, 0.95), 1),
                     "mean": round(statistics.mean(times), 1)},
        # CPU of this process per placement (the database is SQLite in this process: its work is included).
        "place_cpu_ms": {"p50": round(percentile(cpu, 0.5), 1), "p95": round(percentile(cpu, 0.95), 1)},
        "real_text_match_ms": {"p50": round(percentile(real, 0.5), 1), "p95": round(percentile(real, 0.95), 1)},
        "load_after": load(),
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo-db", default="", help="a demo city's database URL (default: generate one)")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--skip-detect", action="store_true")
    args = parser.parse_args()
    if not DATA.exists():
        print(f"skipped: {DATA} is absent", file=sys.stderr)
        return 0
    result: dict[str, object] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_before": load(),
    }
    if not args.skip_detect:
        result["hot_detect"] = hot_detect()
    url = args.demo_db
    if not url:
        path = Path(tempfile.mkdtemp()) / "demo.db"
        url = f"sqlite:///{path}"
        subprocess.run([str(ROOT / ".venv" / "bin" / "chengzhi"), "demo"], env={**os.environ, "CHENGZHI_DATABASE_URL": url},
                       check=True, capture_output=True)  # fmt: skip
    result["placement"] = placement(url, args.requests)
    stamp = dt.datetime.now(dt.UTC).date().isoformat()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"warning-{stamp}.json").write_text(
        json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
