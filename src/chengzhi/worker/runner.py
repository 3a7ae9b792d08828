"""Running the triage worker: batches, retries, the lease inside `chengzhi serve`, and draining for tools.

At least once: a batch's work and the deletion of its outbox rows commit together; a worker killed mid-batch
leaves the rows, which the next claim takes again (the work is idempotent per request). A batch that fails is
retried request by request, so one bad request is postponed (with backoff and its error kept on its row) without
holding back the others.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import gc
import logging
import threading
import time
import traceback
import zlib
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import IO, TypeAlias

from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session, sessionmaker

from chengzhi.config import Settings
from chengzhi.db import sqlite_write_gate, utcnow
from chengzhi.requests import queue
from chengzhi.requests.queue import TriageTask
from chengzhi.worker.urgent import EmergencyLane, LaneThread

log = logging.getLogger(__name__)

Process: TypeAlias = "Callable[[Session, Settings, list[TriageTask], dt.datetime], None]"
LEASE_KEY = zlib.crc32(b"chengzhi.worker.lease")


@dataclass
class Round:
    claimed: int = 0
    done: int = 0
    postponed: int = 0


def run_once(
    factory: sessionmaker[Session], settings: Settings, process: Process, batch: int, *, look: bool = True
) -> Round:
    """Claim up to `batch` rows and process them in one transaction; on failure, one by one. `look=False`: the
    caller has just seen rows due (`has_work`)."""
    result = Round()
    engine = factory.kw["bind"]
    immediate = engine.dialect.name == "sqlite"
    bind = engine.execution_options(sqlite_begin_immediate=True) if immediate else engine
    ids: list[int] = []
    if immediate and look:
        # SQLite: look without the write lock first, so that an idle worker never holds it (intake would wait).
        with factory() as session:
            if not queue.has_due(session, utcnow()):
                return result
    try:
        with factory(bind=bind) as session, session.begin():
            now = utcnow()
            tasks = queue.claim(session, batch, now)
            result.claimed = len(tasks)
            ids = [t.id for t in tasks]
            if not tasks:
                return result
            process(session, settings, tasks, now)
            queue.finish(session, ids)
        result.done = len(ids)
        return result
    except Exception:
        if len(ids) <= 1:
            log.exception("triage of outbox rows %s failed; postponed", ids)
            _postpone(factory, ids)
            result.postponed = len(ids)
            return result
        log.warning("a triage batch of %d failed; retrying its requests one by one", len(ids), exc_info=True)
    for task_id in ids:
        single = _one(factory, bind, settings, process, task_id)
        result.done += single
        result.postponed += 1 - single
    return result


def _one(
    factory: sessionmaker[Session], bind: Engine, settings: Settings, process: Process, task_id: int
) -> int:
    try:
        with factory(bind=bind) as session, session.begin():
            task = queue.get(session, task_id)
            if task is None:
                return 1  # another worker did it meanwhile
            process(session, settings, [task], utcnow())
            queue.finish(session, [task_id])
        return 1
    except Exception:
        log.exception("triage of outbox row %s failed; postponed", task_id)
        _postpone(factory, [task_id])
        return 0


def _postpone(factory: sessionmaker[Session], ids: list[int]) -> None:
    if not ids:
        return
    error = traceback.format_exc(limit=3)
    with factory() as session, session.begin():
        queue.postpone(session, ids, error, utcnow())


def drain(
    factory: sessionmaker[Session], settings: Settings, process: Process, *, batch: int = 100, limit: int = 0
) -> int:
    """Process everything due now (tools, tests, the demo); returns how many rows were done."""
    total = 0
    while True:
        result = run_once(factory, settings, process, batch)
        total += result.done
        if result.claimed == 0 or (limit and total >= limit) or result.done == 0:
            return total


def freeze_heap() -> None:
    """Collect, then move every object alive now (modules, the models, the caches of start-up) out of the garbage
    collector's reach (`gc.freeze`): they stay for the process's life, and every later full collection would walk
    them again with the GIL held (0.67 s in a warmed process, a pause for every submission under way)."""
    gc.collect()
    gc.freeze()


def largest_batch(settings: Settings, dialect: str) -> int:
    """The largest batch a worker grows to while a backlog lasts (`triage_batch_max`; 0: by database)."""
    if settings.triage_batch_max:
        return settings.triage_batch_max
    return settings.triage_batch_size if dialect == "sqlite" else 200


class Worker:
    """A worker loop in a daemon thread: claims as long as there is work, then polls every `idle` seconds.

    `lease=True` (inside `chengzhi serve`): only the process holding the lease works (a PostgreSQL session-level
    advisory lock on a connection of its own, retried every few seconds; on SQLite the embedded default runs one
    process), so several uvicorn workers do not all triage. `chengzhi worker` processes take no lease: any number
    of them share the outbox (SKIP LOCKED)."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        settings: Settings,
        process: Process,
        *,
        lease: bool,
        batch: int | None = None,
        batch_max: int | None = None,
        idle: float | None = None,
        warm: Callable[[Session, Settings], None] | None = None,
    ) -> None:
        self.factory = factory
        self.warm = warm
        self.settings = settings
        self.process = process
        self.lease = lease
        self.batch = batch or settings.triage_batch_size
        grow_to = (
            batch_max if batch_max is not None else largest_batch(settings, factory.kw["bind"].dialect.name)
        )
        self.batch_max = max(self.batch, grow_to)
        self.idle = idle if idle is not None else settings.triage_poll_seconds
        # Only a worker beside the web process gives way (`chengzhi worker` processes have the CPU to themselves).
        self.yield_share = settings.triage_yield_share if lease else 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lease_conn: Connection | None = None
        self._lease_file: IO[bytes] | None = None
        self._lane: LaneThread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="chengzhi-triage", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Asks the loop to end after the batch under way (from a signal handler: no waiting here)."""
        self._stop.set()

    def stop(self, timeout: float = 30.0) -> bool:
        """Ends the loop after the batch under way and the emergency lane; True once both threads have ended
        (False if one was still running after `timeout` seconds each)."""
        self._stop.set()
        stopped = True
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            stopped = not self._thread.is_alive()
        if self._lane is not None:
            stopped = self._lane.stop(timeout) and stopped
        return stopped

    def _hold_lease(self) -> bool:
        engine = self.factory.kw["bind"]
        if not self.lease:
            return True
        if self._lease_conn is not None or self._lease_file is not None:
            return True
        if engine.dialect.name == "sqlite":
            return self._hold_file_lease(engine)
        conn = engine.connect()
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LEASE_KEY}).scalar()
        conn.commit()
        if got:
            self._lease_conn = conn
            return True
        conn.close()
        return False

    def run(self) -> None:
        warmed = False
        size = self.batch
        try:
            while not self._stop.is_set():
                if not self._hold_lease():
                    self._stop.wait(5.0)
                    continue
                if self._lane is None and self.settings.triage_emergency_lane:
                    # Beside the loop, so that a long batch never holds an emergency back (worker/urgent.py).
                    self._lane = LaneThread(EmergencyLane(self.factory, self.settings), poll=0.1)
                    self._lane.start()
                try:
                    # Look first, without a lock: an idle poll is one small query, no warm-up (a file's stat,
                    # now and then a model registry query) and, on SQLite, no write lock. The first turn warms up
                    # anyway: importing the model's libraries takes seconds of CPU (more on a busy machine), better
                    # spent at start than in the first burst of submissions, which it would slow down.
                    with self.factory() as session:
                        due = queue.has_due(session, utcnow())
                        if (due or not warmed) and self.warm is not None:  # outside the batch's transaction
                            self.warm(session, self.settings)
                            if not warmed and self.settings.gc_freeze:
                                freeze_heap()  # the models and dictionaries just loaded
                        warmed = True
                    if not due:
                        self._stop.wait(self.idle)
                        continue
                    started = time.monotonic()
                    with self._turn():
                        result = run_once(self.factory, self.settings, self.process, size, look=False)
                    pause = self.give_way(time.monotonic() - started)
                    if pause:
                        self._stop.wait(pause)
                    # A full claim means a backlog: the next batch doubles (up to batch_max); anything less, and
                    # the worker is back to small batches that keep a quiet queue's triage lag low.
                    size = min(size * 2, self.batch_max) if result.claimed >= size else self.batch
                except Exception:  # the database is down, say: wait and try again
                    log.exception("triage worker round failed")
                    self._release()
                    self._stop.wait(max(self.idle, 1.0))
                    continue
                if result.claimed == 0:
                    self._stop.wait(self.idle)
        finally:
            self._release()

    def give_way(self, took: float) -> float:
        """Seconds to wait after a batch that took `took` seconds: while submissions arrive in this process (the
        worker inside `chengzhi serve`), intake gets `triage_yield_share` of the time (the CPU, the GIL and on
        SQLite the write lock); otherwise none."""
        share = self.yield_share
        if share <= 0 or not queue.arriving():
            return 0.0
        return took * share / (1 - share)

    def _turn(self) -> AbstractContextManager[object]:
        """SQLite: the batch takes the process's write gate (db.sqlite_write_gate, shared with intake), after the
        emergency lane's waiting write (worker/urgent.py)."""
        engine = self.factory.kw["bind"]
        if engine.dialect.name != "sqlite":
            return nullcontext()
        if self._lane is not None:
            lane = self._lane.lane
            deadline = time.monotonic() + 2.0
            while lane.wants_turn.is_set() and time.monotonic() < deadline:
                time.sleep(0.005)
        return sqlite_write_gate(engine.url.database)

    def _hold_file_lease(self, engine: Engine) -> bool:
        """SQLite: an exclusive lock on a file beside the database (released with the process)."""
        database = engine.url.database
        if not database or database == ":memory:":
            return True
        handle = open(f"{database}.triage-lease", "ab")  # noqa: SIM115 - held for the worker's life
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._lease_file = handle
        return True

    def _release(self) -> None:
        if self._lease_file is not None:
            self._lease_file.close()
            self._lease_file = None
        if self._lease_conn is not None:
            try:
                self._lease_conn.close()  # the session-level lock goes with the connection
            except Exception:
                log.debug("closing the lease connection failed", exc_info=True)
            self._lease_conn = None


def wait_until_empty(factory: sessionmaker[Session], timeout: float = 30.0) -> bool:
    """For tests and benchmarks: True once the outbox is empty (a worker running elsewhere drained it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with factory() as session:
            if queue.depth(session) == 0:
                return True
        time.sleep(0.05)
    return False
