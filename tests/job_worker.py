"""A separate OS process that runs periodic jobs against a database, for tests/test_jobs.py.

    python tests/job_worker.py DATABASE_URL OVERDUE_NOW ROUNDS

It registers one test-only job, `slow_probe`, that holds its run for 0.2 s and reports when it began and ended;
prints "ready", waits for a line on stdin (so that two workers start together), then runs the `overdue` job
(at OVERDUE_NOW) and `slow_probe` in turns, at least ROUNDS times and until it has won `slow_probe` twice (or a
time budget runs out), and prints a JSON summary of what it ran and what it skipped.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
from typing import Any

from sqlalchemy.orm import Session

from chengzhi import reactions
from chengzhi.config import Settings
from chengzhi.db import get_sessionmaker, utcnow
from chengzhi.jobs.service import HOLDER, JOBS, run_job

PROBE_SECONDS = 0.2
BUDGET_SECONDS = 30.0


def slow_probe(session: Session, settings: Settings, now: dt.datetime) -> dict[str, Any]:
    began = utcnow()
    time.sleep(PROBE_SECONDS)
    return {"pid": os.getpid(), "began": began.isoformat(), "ended": utcnow().isoformat()}


def main() -> None:
    url, overdue_now, rounds = sys.argv[1], dt.datetime.fromisoformat(sys.argv[2]), int(sys.argv[3])
    reactions.install()  # as the app and the CLI do
    JOBS["slow_probe"] = slow_probe
    settings = Settings(database_url=url, environment="test", scheduler_enabled=False)
    factory = get_sessionmaker(url)
    summary: dict[str, Any] = {
        "holder": HOLDER,
        "overdue": {"ran": 0, "skipped": 0, "marked": 0},
        "slow_probe": {"ran": 0, "skipped": 0},
    }
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.monotonic()
    done = 0
    while done < rounds or summary["slow_probe"]["ran"] < 2:
        if time.monotonic() - started > BUDGET_SECONDS:
            break
        result = run_job(factory, settings, "overdue", overdue_now)
        if result is None:
            summary["overdue"]["skipped"] += 1
        else:
            summary["overdue"]["ran"] += 1
            summary["overdue"]["marked"] += result["marked"]
        probe = run_job(factory, settings, "slow_probe")
        summary["slow_probe"]["skipped" if probe is None else "ran"] += 1
        time.sleep(0.03)
        done += 1
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
