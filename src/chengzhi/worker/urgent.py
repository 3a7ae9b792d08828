"""The emergency lane: emergencies flagged within a second of intake, whatever the triage backlog.

The triage worker takes new requests in order, and a full triage (category model, place, duplicates) costs tens of
milliseconds a request: behind a burst of ordinary requests an emergency would wait its turn. The lane looks at
every new outbox row as soon as it is committed, reads only the text's urgency (a few milliseconds, no model),
and gives the urgent ones the emergency priority at once, in a short transaction of its own; the full triage
follows in its turn (idempotent: an emergency stays one). Rows whose priority staff chose are left alone.
"""

from __future__ import annotations

import logging
import threading
from contextlib import AbstractContextManager

from sqlalchemy.orm import Session, sessionmaker

from chengzhi.config import Settings
from chengzhi.db import sqlite_write_gate
from chengzhi.requests import queue
from chengzhi.requests import service as requests_service
from chengzhi.routing import triage

log = logging.getLogger(__name__)

LOOK_AHEAD = 500  # new rows read per round
# Outbox ids are given at INSERT, but transactions commit out of id order: each round reads this many ids below the
# highest seen again, and remembers which of them it has looked at already.
WINDOW = 1000


class EmergencyLane:
    """Remembers the outbox rows it looked at (in memory: after a restart it looks at the backlog again, which is
    harmless): the highest id, and which ids of the window below it it has seen (rows may still appear there)."""

    def __init__(self, factory: sessionmaker[Session], settings: Settings) -> None:
        self.factory = factory
        self.settings = settings
        self.after_id = 0
        self.seen: set[int] = set()
        # SQLite has one writer, and its lock is not fair: the worker's loop would take it again and again before
        # the lane's wait noticed it free. The lane says it wants a turn; the loop waits for it between batches.
        self.wants_turn = threading.Event()
        engine = factory.kw["bind"]
        # The same lock as intake's and the worker's batches on SQLite (db.sqlite_write_gate).
        self.turn: AbstractContextManager[object] = (
            sqlite_write_gate(engine.url.database) if engine.dialect.name == "sqlite" else threading.RLock()
        )

    def run_once(self) -> list[int]:
        """Look at the rows queued since the last round; returns the ids of the requests flagged."""
        with self.factory() as session:
            rows = queue.queued_after(session, max(0, self.after_id - WINDOW), LOOK_AHEAD + WINDOW)
            tasks = [t for t in rows if t.id not in self.seen]
            if not tasks:
                return []
            ids = [t.request_id for t in tasks if not t.keep_priority]
            texts = requests_service.pending_texts(session, ids)
        urgent = [
            rid for rid, title, text in texts if triage.is_urgent(self.settings, _title(title, text), text)
        ]
        flagged: list[int] = []
        if urgent:
            engine = self.factory.kw["bind"]
            if engine.dialect.name == "sqlite":  # take the write lock at BEGIN (a read cannot be upgraded)
                engine = engine.execution_options(sqlite_begin_immediate=True)
            self.wants_turn.set()
            try:
                with self.turn, self.factory(bind=engine) as session, session.begin():
                    flagged = requests_service.flag_emergencies(session, urgent)
            finally:
                self.wants_turn.clear()
            if flagged:
                log.info("emergency lane flagged %d request(s)", len(flagged))
        self.after_id = max(self.after_id, tasks[-1].id)
        self.seen.update(t.id for t in tasks)
        self.seen = {i for i in self.seen if i > self.after_id - WINDOW}
        return flagged


def _title(title: str, text: str) -> str:
    # As the worker reads it: a title cut from the text is not words of its own.
    return "" if text.startswith(title) else title


class LaneThread:
    """The lane in a daemon thread beside the worker's loop, polling every `poll` seconds."""

    def __init__(self, lane: EmergencyLane, poll: float) -> None:
        self.lane = lane
        self.poll = poll
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="chengzhi-emergency-lane", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> bool:
        """True once the thread has ended (False if it was still running after `timeout` seconds)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            return not self._thread.is_alive()
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.lane.run_once()
            except Exception:  # the database is down, say: the worker's own loop reports it too
                log.warning("emergency lane round failed", exc_info=True)
                self._stop.wait(1.0)
            self._stop.wait(self.poll)
