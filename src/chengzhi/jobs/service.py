"""Periodic jobs, run by exactly one process at a time.

On PostgreSQL a transaction-scoped advisory lock (`pg_try_advisory_xact_lock`) elects the runner: a process that
does not get it skips the round. On SQLite the embedded default runs one process, and `BEGIN IMMEDIATE` (taken by
the first write) serialises writers anyway. Each run is recorded in `job_runs`.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import zlib
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from chengzhi.config import Settings
from chengzhi.db import utcnow
from chengzhi.idempotency import purge_expired
from chengzhi.jobs.models import JobRun
from chengzhi.requests import queries as requests_queries
from chengzhi.requests import service as requests_service

log = logging.getLogger(__name__)

HOLDER = f"{socket.gethostname()}:{os.getpid()}"
BATCH = 500


def detect_overdue(session: Session, settings: Settings, now: dt.datetime) -> dict[str, Any]:
    """Append a mark_overdue event to every request whose current stage ran past its deadline."""
    marked = 0
    while True:
        rows = requests_queries.overdue_batch(session, now, BATCH)
        for request in rows:
            if requests_service.mark_overdue(session, request, now) is not None:
                marked += 1
        session.flush()
        if len(rows) < BATCH:
            break
    return {"marked": marked}


def purge_idempotency(session: Session, settings: Settings, now: dt.datetime) -> dict[str, Any]:
    """Delete saved Idempotency-Key responses older than their time to live."""
    return {"purged": purge_expired(session, settings.idempotency_ttl_hours, now)}


Job = Callable[[Session, Settings, dt.datetime], dict[str, Any]]

# The runner's own jobs; other domains add theirs with `register` at start-up (chengzhi/reactions.py), so that
# this module imports none of them.
JOBS: dict[str, Job] = {
    "overdue": detect_overdue,
    "purge_idempotency": purge_idempotency,
}

# Jobs that write through sessions of their own, committing as they go (the session they are given only reads).
OWN_TRANSACTIONS: set[str] = set()

# Jobs that share one lock (job name -> lock name): jobs updating the same rows in different orders would otherwise
# deadlock on PostgreSQL when two processes run them at the same moment (seen in the soak: open data's publishing
# and quality jobs, both updating several datasets). A job without an entry is locked under its own name.
LOCKS: dict[str, str] = {}


def register(name: str, job: Job, *, own_transactions: bool = False, lock: str | None = None) -> None:
    """Add a domain's periodic job (idempotent); jobs given the same `lock` never run at the same time."""
    JOBS[name] = job
    if own_transactions:
        OWN_TRANSACTIONS.add(name)
    if lock is not None:
        LOCKS[name] = lock


def last_result(session: Session, name: str) -> dict[str, Any] | None:
    """The result the last run of job `name` recorded (a job's cursor, say)."""
    query = select(JobRun.result).where(JobRun.job == name).order_by(JobRun.id.desc()).limit(1)
    result: dict[str, Any] | None = session.scalar(query)
    return result


def _lock_key(name: str) -> int:
    return zlib.crc32(f"chengzhi.job.{name}".encode())


def run_job(
    factory: sessionmaker[Session], settings: Settings, name: str, now: dt.datetime | None = None
) -> dict[str, Any] | None:
    """Run job `name` unless another process is running it; returns its result, or None if skipped."""
    job = JOBS[name]
    engine = factory.kw["bind"]
    # SQLite: a job that writes in its session after reading takes the write lock at BEGIN (IMMEDIATE) and waits
    # for it, instead of failing with "database is locked" when a request commits in between. Jobs that commit
    # in short transactions of their own (OWN_TRANSACTIONS: remote calls must not hold the lock) must not: their
    # writers would wait on this very transaction.
    immediate = engine.dialect.name == "sqlite" and name not in OWN_TRANSACTIONS
    bind = engine.execution_options(sqlite_begin_immediate=True) if immediate else engine
    with factory(bind=bind) as session, session.begin():
        if engine.dialect.name == "postgresql":
            got = session.execute(
                text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _lock_key(LOCKS.get(name, name))}
            ).scalar()
            if not got:
                return None
        else:
            session.execute(text("SELECT 1"))  # BEGIN (IMMEDIATE) now: the lock is held before the job reads
        started = utcnow()
        result = job(session, settings, now or started)
        session.add(JobRun(job=name, holder=HOLDER, started_at=started, finished_at=utcnow(), result=result))
    return result


class Scheduler:
    """Runs every job every `interval` seconds in a daemon thread of the app process."""

    def __init__(self, factory: sessionmaker[Session], settings: Settings) -> None:
        self.factory = factory
        self.settings = settings
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="chengzhi-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(self.settings.scheduler_interval_seconds):
            for name in JOBS:
                try:
                    run_job(self.factory, self.settings, name)
                except Exception:  # a failing job must not stop the others; it is logged and retried
                    log.exception("periodic job %s failed", name)
