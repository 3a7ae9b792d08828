"""What the two session-wide `before_flush` hooks of channels cost under intake load: notify's outbox
(`notify.outbox.write_outbox`, which reads the followers through participate) and the webhooks' outbox
(`webhooks.outbox.write_outbox`). Both run on every flush of every session, so intake pays them even though
intake adds no event they act on.

    python -m benchmarks.flush_hooks --url postgresql+psycopg://postgres@127.0.0.1:5432/chengzhi_bench_hooks
    python -m benchmarks.flush_hooks --url sqlite:///var/bench/hooks.db

In process, through the real app and services: (1) `--submissions` POST /api/v1/requests through the ASGI app
(intake: the hooks look and find nothing to do), (2) the triage worker drains them (its flushes add triage events,
not the hooks' kinds), (3) `--dispatches` dispatches through `requests.service` with one webhook subscription and
three followers on half of the requests (the hooks' real work: resident, unit staff, followers, subscribers).
Each hook is wrapped by a timer (wall: perf_counter_ns; "(cpu)": the thread's CPU, which a busy machine inflates
far less; the database's own time is in the wall figure only); the figures are per flush, by phase, with the process CPU of the
whole phase beside them, so the hooks' share shows. The database is recreated (never one named "postgres").
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from benchmarks.intake import WORK
from benchmarks.intake_cpu import Client, prepare

RESULTS = Path(__file__).resolve().parent / "results"
Phase = dict[str, list[int]]


class Timed:
    """The two hooks, each wrapped by a timer that files its time under the current phase."""

    def __init__(self) -> None:
        self.phase = "setup"
        self.times: dict[str, dict[str, list[int]]] = {}

    def wrap(self, name: str, hook: Callable[..., None]) -> Callable[..., None]:
        def timed(session: Session, flush_context: Any, instances: Any) -> None:
            started, started_cpu = time.perf_counter_ns(), time.thread_time_ns()
            hook(session, flush_context, instances)
            spent, spent_cpu = time.perf_counter_ns() - started, time.thread_time_ns() - started_cpu
            self.times.setdefault(self.phase, {}).setdefault(name, []).append(spent)
            self.times.setdefault(self.phase, {}).setdefault(name + " (cpu)", []).append(spent_cpu)

        return timed


def _summary(values: list[int]) -> dict[str, float]:
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000, 1)

    return {
        "flushes": len(ordered),
        "p50_us": at(0.5),
        "p95_us": at(0.95),
        "p99_us": at(0.99),
        "max_us": round(ordered[-1] / 1000, 1),
        "mean_us": round(statistics.fmean(ordered) / 1000, 1),
        "total_ms": round(sum(ordered) / 1e6, 1),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    from chengzhi.app import create_app
    from chengzhi.config import Settings
    from chengzhi.db import get_sessionmaker, transaction, utcnow
    from chengzhi.notify import outbox as notify_outbox
    from chengzhi.notify.models import Notification
    from chengzhi.org.models import Unit, User
    from chengzhi.org.service import actor_for
    from chengzhi.participate.models import Follow
    from chengzhi.requests import service as requests_service
    from chengzhi.requests.models import Request
    from chengzhi.webhooks import outbox as webhooks_outbox
    from chengzhi.webhooks import service as webhooks_service
    from chengzhi.worker import intake as triage_intake
    from chengzhi.worker.runner import drain

    url = args.url
    token = prepare(url, with_model=False)
    settings = Settings(
        database_url=url,
        environment="development",
        scheduler_enabled=False,
        media_dir=WORK / "media",
        model_dir=WORK / "models",
    )
    app = create_app(settings)  # installs the reactions, the two hooks among them
    timed = Timed()
    notify_outbox.unregister()
    webhooks_outbox.unregister()
    hooks = [
        timed.wrap("notify", notify_outbox.write_outbox),
        timed.wrap("webhooks", webhooks_outbox.write_outbox),
    ]
    for hook in hooks:
        event.listen(Session, "before_flush", hook)
    factory = get_sessionmaker(url)
    with transaction(factory) as session:
        webhooks_service.subscribe(
            session,
            settings,
            "benchmark",
            "http://127.0.0.1:9/hook",
            ["request.dispatched", "request.replied", "request.closed"],
            utcnow(),
        )
    client = Client(app, token)
    loop = asyncio.new_event_loop()
    cpu: dict[str, float] = {}
    wall: dict[str, float] = {}

    def phase(name: str, work: Callable[[], None]) -> None:
        timed.phase = name
        started, started_cpu = time.perf_counter(), time.process_time()
        work()
        wall[name] = round(time.perf_counter() - started, 2)
        cpu[name] = round(time.process_time() - started_cpu, 2)

    async def submit(n: int) -> None:
        for _ in range(n):
            await client.submit()

    load_before = os.getloadavg()
    phase("intake", lambda: loop.run_until_complete(submit(args.submissions)))
    phase("triage", lambda: drain(factory, settings, triage_intake.process, batch=16))

    with transaction(factory) as session:
        ids = list(session.scalars(select(Request.id).order_by(Request.id).limit(args.dispatches)))
        residents = list(session.scalars(select(User.id).where(User.username.in_(["resident", "resident2"]))))
        for k, request_id in enumerate(ids):
            if k % 2 == 0:
                for user_id in residents:
                    session.add(Follow(request_id=request_id, user_id=user_id, created_at=utcnow()))
        unit = session.scalar(select(Unit.id).where(Unit.code == "D1S1C1"))
        dispatcher = session.scalar(select(User).where(User.username == "dispatcher"))
        assert unit is not None and dispatcher is not None
        dispatcher_actor = actor_for(dispatcher)

    def dispatch_all() -> None:
        for request_id in ids:
            with transaction(factory) as session:
                request = session.get(Request, request_id)
                assert request is not None
                if request.status in ("received", "returned", "reopened"):
                    requests_service.dispatch_request(session, dispatcher_actor, request, unit, settings)

    phase("dispatch", dispatch_all)
    with factory() as session:
        written = len(session.scalars(select(Notification.id)).all())
    load_after = os.getloadavg()
    for hook in hooks:
        event.remove(Session, "before_flush", hook)
    figures = {
        phase_name: {name: _summary(values) for name, values in by_hook.items()}
        for phase_name, by_hook in timed.times.items()
        if phase_name != "setup"
    }
    return {
        "url": make_url(url).render_as_string(hide_password=True),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in load_after],
        "submissions": args.submissions,
        "dispatches": len(ids),
        "notifications_written": written,
        "phase_wall_s": wall,
        "phase_cpu_s": cpu,
        "hooks": figures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="sqlite:///var/bench/hooks.db")
    parser.add_argument("--submissions", type=int, default=400)
    parser.add_argument("--dispatches", type=int, default=200)
    parser.add_argument("--out", default="", help="write the JSON here too")
    args = parser.parse_args()
    random.seed(7)
    result = run(args)
    text = json.dumps(result, ensure_ascii=False, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
