"""Triage worker throughput, in process: a backlog of new requests, then the worker's batches until it is empty.

What the intake benchmark shows only through a busy server (issue 19: the worker must sustain 150 requests/s with
the model, place, duplicates and facts): here the backlog is written first (intake through the service, the worker
off), then `drain` runs the worker's own code (`chengzhi.worker.runner.run_once` with the steps of
`chengzhi.worker.intake.process`) in this process, and the figures are its wall time and CPU per request.

    python -m benchmarks.worker --url postgresql+psycopg://postgres@127.0.0.1:5432/chengzhi_bench_worker
    python -m benchmarks.worker --url sqlite:///var/bench/worker.db --n 1000
    python -m benchmarks.worker --profile var/bench/worker.prof     # cProfile of the drain
    python -m benchmarks.worker --text-model var/bench/warning-text.model --words 50   # every warning step too

A text model (`chengzhi hot train-text ../shared/data/msga-messages/train.csv --folds 0 --output FILE`) makes the
worker label each request's sentiment and type, as in a city that trained one (the demo does); `--words` puts that
many words on the sensitive-word list (none of them in the generated texts: the scan, not the alerts, is timed).

To compare two versions of the code, run this file with `PYTHONPATH=<other checkout>/src`.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import os
import platform
import pstats
import random
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from benchmarks.intake import WORK, activate_model, build_city, recreate_postgres, recreate_sqlite
from benchmarks.loadgen import submission

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/chengzhi_bench_worker"


def backlog(url: str, n: int, settings: Any) -> None:
    """`n` submissions through the intake service (the load generator's texts and points), committed by 100."""
    from sqlalchemy import select

    from chengzhi.db import get_sessionmaker
    from chengzhi.org.models import User
    from chengzhi.org.service import actor_for
    from chengzhi.requests import service as svc

    rng = random.Random(11)
    factory = get_sessionmaker(url)
    with factory() as session:
        user = session.scalar(select(User).where(User.username == "operator"))
        assert user is not None
        actor = actor_for(user)
        for i in range(n):
            body = submission(rng, "phone")
            data = svc.Submission(
                text=body["text"],
                channel="phone",
                category_code=None,  # as most calls arrive: the model chooses (and dispatches when sure)
                lat=body["lat"],
                lon=body["lon"],
                contact_name=body["contact_name"],
                contact_phone=body["contact_phone"],
            )
            svc.submit_request(session, actor, data, settings)
            if i % 100 == 99:
                session.commit()
        session.commit()


def sensitive_words(factory: Any, n: int) -> None:
    """`n` words on the sensitive-word list that the load generator's texts never contain."""
    from sqlalchemy import select

    from chengzhi.org.models import User
    from chengzhi.org.service import actor_for
    from chengzhi.warning import alerts

    with factory() as session:
        admin = session.scalar(select(User).where(User.username == "admin"))
        assert admin is not None
        for i in range(n):
            alerts.add_word(session, actor_for(admin), f"敏感词{i:03d}号")
        session.commit()


def run(args: argparse.Namespace) -> dict[str, Any]:
    from chengzhi.config import Settings
    from chengzhi.migrate import upgrade
    from chengzhi.worker import intake as triage_intake
    from chengzhi.worker.runner import drain

    url = args.url
    WORK.mkdir(parents=True, exist_ok=True)
    if make_url(url).get_backend_name() == "sqlite":
        recreate_sqlite(url)
    else:
        recreate_postgres(url)
    upgrade(url)
    build_city(url)
    model = activate_model(url) if not args.no_model else None
    settings = Settings(
        database_url=url,
        environment="development",
        scheduler_enabled=False,
        media_dir=WORK / "media",
        model_dir=WORK / "models",
        warning_text_model=args.text_model or str(WORK / "models" / "no-text-model"),
    )
    from chengzhi.db import get_sessionmaker

    factory = get_sessionmaker(url)
    if args.words:
        sensitive_words(factory, args.words)
    # A first small backlog warms the caches (model, area index, places) as a running worker has them.
    backlog(url, 50, settings)
    drain(factory, settings, triage_intake.process, batch=args.batch)
    backlog(url, args.n, settings)
    statements: dict[str, int] = {}
    if args.statements:
        from sqlalchemy import event

        from chengzhi.db import get_engine

        def count(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
            words = " ".join(statement.split()[:4])
            statements[words] = statements.get(words, 0) + 1

        event.listen(get_engine(url), "before_cursor_execute", count)
    load_before = os.getloadavg()
    profiler = cProfile.Profile() if args.profile else None
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if profiler:
        profiler.enable()
    done = drain(factory, settings, triage_intake.process, batch=args.batch)
    if profiler:
        profiler.disable()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    if profiler:
        Path(args.profile).parent.mkdir(parents=True, exist_ok=True)
        profiler.dump_stats(args.profile)
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(args.top)
    return {
        "url": make_url(url).render_as_string(hide_password=True),
        "model": model,
        "text_model": bool(args.text_model),
        "sensitive_words": args.words,
        "n": args.n,
        "batch": args.batch,
        "triaged": done,
        "wall_s": round(wall, 2),
        "per_s": round(args.n / wall, 1),
        "cpu_ms_per_request": round(cpu / args.n * 1000, 2),
        "profiled": bool(profiler),
        "statements_per_request": {
            k: round(v / args.n, 2) for k, v in sorted(statements.items(), key=lambda kv: -kv[1])
        },
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--n", type=int, default=2000, help="requests in the backlog")
    parser.add_argument("--batch", type=int, default=100, help="rows per worker batch")
    parser.add_argument("--no-model", action="store_true", help="no active category model")
    parser.add_argument("--profile", help="write a cProfile of the drain here")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--statements", action="store_true", help="count the statements the drain sends")
    parser.add_argument("--out", help="write the figures (JSON) here")
    parser.add_argument("--text-model", help="the sentiment and type model file (train-text's output)")
    parser.add_argument("--words", type=int, default=0, help="words on the sensitive-word list")
    args = parser.parse_args(argv)
    figures = run(args)
    text = json.dumps(figures, indent=2, ensure_ascii=False)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
