"""CPU per submission, in process: the ASGI app called directly (no uvicorn, no sockets), one submission at a time.

What `benchmarks/intake.py` cannot show on a busy machine: the CPU time one `POST /api/v1/requests` costs the
server process (`time.process_time`, all threads), and the CPU the PostgreSQL backends serving it spent (from
/proc), per submission, with the statements and round trips it sends. Other work on the machine slows the wall
clock far more than it changes these figures, so code can be compared while the machine is shared.

    python -m benchmarks.intake_cpu --url postgresql+psycopg://postgres@127.0.0.1:5432/chengzhi_bench_intake
    python -m benchmarks.intake_cpu --url sqlite:///var/bench/intake-cpu.db --with-model
    python -m benchmarks.intake_cpu --profile var/bench/intake.prof   # cProfile of the same loop

The database is recreated (PostgreSQL: the database named in the URL, never "postgres"), migrated and given the
benchmark's small city. Submissions are the load generator's (operator, channel "phone", a map point), each with
its own Idempotency-Key. With `--profile`, FastAPI's thread pool is replaced by direct calls so that cProfile (which
follows one thread) sees the endpoint; the CPU figures are taken without the profiler, through the real thread
pool. To compare two versions of the code, run this file with `PYTHONPATH=<other checkout>/src` (the harness
uses only the app factory, the settings and the tests' city).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import platform
import pstats
import random
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url

from benchmarks.intake import (
    ROOT,
    WORK,
    _postgres_pids,
    _processes,
    activate_model,
    build_city,
    recreate_postgres,
    recreate_sqlite,
)
from benchmarks.loadgen import submission

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/chengzhi_bench_intake"


def prepare(url: str, with_model: bool) -> str:
    """Recreate, migrate and fill the database; the operator's API token."""
    from chengzhi.migrate import upgrade

    WORK.mkdir(parents=True, exist_ok=True)
    if make_url(url).get_backend_name() == "sqlite":
        recreate_sqlite(url)
    else:
        if make_url(url).database == "postgres":
            raise SystemExit("refusing to recreate the database 'postgres'")
        recreate_postgres(url)
    upgrade(url)
    tokens = build_city(url)
    if with_model:
        activate_model(url)
    return tokens["operator"]


class Client:
    """Calls the ASGI app as uvicorn would, for one HTTP request at a time."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.token = token
        self.rng = random.Random(7)

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
        raw = json.dumps(body, ensure_ascii=False).encode()
        headers = [
            (b"host", b"127.0.0.1:8000"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(raw)).encode()),
            (b"authorization", f"Bearer {self.token}".encode()),
            (b"idempotency-key", uuid.uuid4().hex.encode()),
            (b"accept", b"*/*"),
        ]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        sent = False
        status = 0
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": raw, "more_body": False}
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, b"".join(chunks)

    async def submit(self) -> None:
        status, body = await self.post("/api/v1/requests", submission(self.rng, "phone"))
        if status != 201:
            raise RuntimeError(f"submission answered {status}: {body[:300]!r}")


def _backend_cpu(database: str | None) -> float:
    if database is None:
        return 0.0
    table = _processes()
    return sum(table[pid][2] for pid in _postgres_pids(table, database) if pid in table)


def _inline_threadpool() -> None:
    """FastAPI runs sync dependencies and endpoints in worker threads; cProfile follows one thread only."""
    import anyio.to_thread

    async def run_sync(func: Any, *args: Any, **_kwargs: Any) -> Any:
        return func(*args)

    anyio.to_thread.run_sync = run_sync  # type: ignore[assignment]


def run(args: argparse.Namespace) -> dict[str, Any]:
    from chengzhi.app import create_app
    from chengzhi.config import Settings
    from chengzhi.db import get_engine

    url = args.url
    token = prepare(url, args.with_model)
    settings = Settings(
        database_url=url,
        environment="development",
        scheduler_enabled=False,
        media_dir=WORK / "media",
        model_dir=WORK / "models",
    )
    app = create_app(settings)
    client = Client(app, token)
    database = make_url(url).database if make_url(url).get_backend_name() == "postgresql" else None
    engine = get_engine(url)
    loop = asyncio.new_event_loop()

    async def batch(n: int) -> None:
        for _ in range(n):
            await client.submit()

    if args.inline:
        _inline_threadpool()
    loop.run_until_complete(batch(args.warmup))

    # Statements per submission (a short pass of its own: the counting listener costs CPU too).
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        statements.append(statement.split(None, 1)[0].upper())

    event.listen(engine, "before_cursor_execute", count)
    loop.run_until_complete(batch(20))
    event.remove(engine, "before_cursor_execute", count)
    if args.statements:
        shown: list[str] = []
        event.listen(engine, "before_cursor_execute", lambda _c, _k, statement, *_r: shown.append(statement))
        loop.run_until_complete(batch(1))
        for statement in shown:
            print(" ".join(statement.split())[:300], file=sys.stderr)
    kinds: dict[str, float] = {}
    for kind in statements:
        kinds[kind] = kinds.get(kind, 0) + 1 / 20

    rounds = []
    for _ in range(args.rounds):
        backend0 = _backend_cpu(database)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        loop.run_until_complete(batch(args.n))
        cpu1, wall1 = time.process_time(), time.perf_counter()
        backend1 = _backend_cpu(database)
        rounds.append(
            {
                "app_cpu_ms": round((cpu1 - cpu0) * 1000 / args.n, 3),
                "wall_ms": round((wall1 - wall0) * 1000 / args.n, 3),
                "db_backend_cpu_ms": round((backend1 - backend0) * 1000 / args.n, 3) if database else None,
            }
        )
    result: dict[str, Any] = {
        "url": make_url(url).render_as_string(hide_password=True),
        "with_model": args.with_model,
        "inline": args.inline,
        "n_per_round": args.n,
        "warmup": args.warmup,
        "rounds": rounds,
        "app_cpu_ms_median": statistics.median(r["app_cpu_ms"] for r in rounds),
        # Other work on the machine only ever adds to a round's figure: the least disturbed round.
        "app_cpu_ms_min": min(r["app_cpu_ms"] for r in rounds),
        "wall_ms_median": statistics.median(r["wall_ms"] for r in rounds),
        "db_backend_cpu_ms_median": statistics.median(r["db_backend_cpu_ms"] for r in rounds)
        if database
        else None,
        "statements_per_submission": round(len(statements) / 20, 2),
        "statement_kinds": {k: round(v, 2) for k, v in sorted(kinds.items())},
        "loadavg_after": os.getloadavg(),
        "python": platform.python_version(),
        "code": str(Path(sys.modules["chengzhi"].__file__ or "").parent),
    }
    if args.profile:
        _inline_threadpool()
        # Timed by the process's CPU clock: waiting for the database is not counted, as in the figures above.
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        loop.run_until_complete(batch(args.n))
        profiler.disable()
        profiler.dump_stats(args.profile)
        stats = pstats.Stats(profiler)
        # Python function calls per submission: the same on a busy machine as on a quiet one.
        result["profiled_calls_per_submission"] = round(stats.total_calls / args.n)  # type: ignore[attr-defined]
        if args.top:
            stats.sort_stats("cumulative").print_stats(args.top)
            stats.sort_stats("tottime").print_stats(args.top)
    loop.close()
    return result


def compare(args: argparse.Namespace) -> dict[str, Any]:
    """Alternate runs of the code at `args.compare` (a `src` directory) and of this checkout, `args.pairs` times,
    each in a process of its own (same flags); returns every run's figures and a summary."""
    from benchmarks.run_all import machine_info

    runs: list[dict[str, Any]] = []
    out = WORK / f"intake-cpu-run-{os.getpid()}.json"  # two comparisons may run at once (two databases)
    extra = [
        "--url",
        args.url,
        "--n",
        str(args.n),
        "--rounds",
        str(args.rounds),
        "--warmup",
        str(args.warmup),
    ]
    extra += [
        "--profile",
        str(WORK / f"intake-cpu-{os.getpid()}.prof"),
    ]  # for the Python calls per submission
    extra += ["--with-model"] * args.with_model + ["--inline"] * args.inline
    for pair in range(args.pairs):
        for label, src in (("before", args.compare), ("after", str(ROOT / "src"))):
            env = dict(os.environ, PYTHONPATH=src)
            command = [sys.executable, "-m", "benchmarks.intake_cpu", "--out", str(out), *extra]
            load = os.getloadavg()
            subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
            run = json.loads(out.read_text())
            runs.append({"label": label, "pair": pair + 1, "loadavg_before": load} | run)
            print(
                f"{label:6} pair {pair + 1}: {run['app_cpu_ms_median']} ms app CPU (min {run['app_cpu_ms_min']}), "
                f"{run['db_backend_cpu_ms_median']} ms PostgreSQL, {run['statements_per_submission']} statements, "
                f"load {load[0]:.2f}",
                flush=True,
            )

    def summary(label: str) -> dict[str, Any]:
        mine = [r for r in runs if r["label"] == label]
        backend = [r["db_backend_cpu_ms_median"] for r in mine if r["db_backend_cpu_ms_median"] is not None]
        return {
            "app_cpu_ms_median_of_runs": round(statistics.median(r["app_cpu_ms_median"] for r in mine), 2),
            "app_cpu_ms_min": min(r["app_cpu_ms_min"] for r in mine),
            "db_backend_cpu_ms_median_of_runs": round(statistics.median(backend), 2) if backend else None,
            "statements_per_submission": mine[0]["statements_per_submission"],
            "profiled_calls_per_submission": mine[0].get("profiled_calls_per_submission"),
        }

    return {
        "benchmark": "intake_cpu",
        "machine": machine_info(),
        "arguments": extra,
        "before_src": args.compare,
        "summary": {"before": summary("before"), "after": summary("after")},
        "runs": runs,
    }


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        f"# Intake CPU per submission, before and after ({report['date']})",
        "",
        f"`python -m benchmarks.intake_cpu {' '.join(report['command'])}`",
        "",
        f"- Machine: {m['cpu_model']}, {m['cpu_count']} cores, shared with other work (load averages below);"
        " Python {0}.".format(report["runs"][0]["python"]),
        f"- Before: `{report['before_src']}`; after: this checkout. Runs alternate, each in a process of its own:"
        f" a fresh database, the test city, {report['runs'][0]['warmup']} warm-up submissions, then"
        f" {len(report['runs'][0]['rounds'])} rounds of {report['runs'][0]['n_per_round']} sequential submissions"
        " through the ASGI app (operator, channel phone, a map point, an Idempotency-Key); CPU time of the app process"
        " (`time.process_time`, every thread) and of the PostgreSQL backends (/proc) per submission.",
        "- Statements: those the engine executes (not counted: BEGIN/COMMIT, and the pool's pre-ping `SELECT 1`,"
        " which the code before this session sent once per API call). Python calls: cProfile's count over one more"
        " round.",
        "- Other work on the machine inflates CPU time (shared caches and cores); it moves both sides alike because"
        " the runs alternate. Statements and Python function calls per submission do not depend on the load.",
        "",
        "| run | app CPU ms (median of rounds) | least round | PostgreSQL CPU ms | statements | Python calls |"
        " load 1 min before → after |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in report["runs"]:
        lines.append(
            f"| {r['label']} {r['pair']} | {r['app_cpu_ms_median']} | {r['app_cpu_ms_min']} | "
            f"{r['db_backend_cpu_ms_median']} | {r['statements_per_submission']} | "
            f"{r.get('profiled_calls_per_submission')} | {r['loadavg_before'][0]:.2f} → {r['loadavg_after'][0]:.2f} |"
        )
    before, after = report["summary"]["before"], report["summary"]["after"]
    lines += [
        "",
        "| | app CPU ms per submission (median of runs) | PostgreSQL CPU ms | statements | Python calls |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, figures in (("before", before), ("after", after)):
        lines.append(
            f"| {label} | {figures['app_cpu_ms_median_of_runs']} | {figures['db_backend_cpu_ms_median_of_runs']} | "
            f"{figures['statements_per_submission']} | {figures['profiled_calls_per_submission']} |"
        )
    ratio = after["app_cpu_ms_median_of_runs"] / before["app_cpu_ms_median_of_runs"]
    lines += ["", f"After ÷ before, app CPU: {ratio:.2f}.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--n", type=int, default=200, help="submissions per measured round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument(
        "--with-model", action="store_true", help="an active category model (classified at intake)"
    )
    parser.add_argument("--profile", default="", help="also write a cProfile of one more round to this file")
    parser.add_argument(
        "--top", type=int, default=0, help="print the profile's first lines (by cumulative and own time)"
    )
    parser.add_argument(
        "--inline",
        action="store_true",
        help="call sync endpoints and dependencies in the event loop's thread",
    )
    parser.add_argument("--statements", action="store_true", help="print the SQL of one submission (stderr)")
    parser.add_argument("--out", default="", help="write the figures as JSON here")
    parser.add_argument(
        "--compare",
        default="",
        help="a `src` directory of other code: alternate its runs with this checkout's",
    )
    parser.add_argument("--pairs", type=int, default=3, help="with --compare: before/after pairs")
    # With --compare, --out names the JSON report; the Markdown report is written next to it (.md).
    args = parser.parse_args()
    if args.compare:
        report = compare(args)
        report["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        report["command"] = sys.argv[1:]
        if args.out:
            Path(args.out).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
            Path(args.out).with_suffix(".md").write_text(markdown(report))
        print(json.dumps(report["summary"], indent=2))
        return
    load_before = os.getloadavg()
    result = run(args) | {"loadavg_before": load_before}
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
