"""The triage worker (both databases): intake leaves the work to it, the API says "being triaged" meanwhile, a
failing request is postponed without holding back the others, a batch that dies leaves its rows for the next
claim (nothing lost, nothing done twice), and a killed `chengzhi worker` process loses nothing."""

from __future__ import annotations

import datetime as dt
import gc
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chengzhi.app import create_app
from chengzhi.config import Settings
from chengzhi.db import get_sessionmaker, sqlite_write_gate, utcnow
from chengzhi.requests import queue
from chengzhi.requests import service as svc
from chengzhi.requests.models import Request, RequestEvent
from chengzhi.requests.queue import TriageTask
from chengzhi.requests.service import Submission
from chengzhi.routing.triage_models import RequestTriage
from chengzhi.worker import intake
from chengzhi.worker.runner import Worker, drain, largest_batch, run_once
from chengzhi.worker.urgent import EmergencyLane

from .conftest import auth, triage
from .factories import City
from .patience import START_SECONDS, STOP_SECONDS, WORK_SECONDS
from .steps import actor, submit

NOW = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
URGENT = "3栋楼道里煤气味很重，请马上派人处理"

pytestmark = pytest.mark.being_triaged


def _queued(session: Session) -> int:
    session.commit()  # a new snapshot: the worker committed in other connections
    return int(session.scalar(select(func.count()).select_from(TriageTask)) or 0)


def test_the_api_says_being_triaged_until_the_worker_has_read_the_request(
    client: TestClient, session: Session, settings: Settings, city: City
) -> None:
    operator = auth(client, "operator")
    created = client.post(
        "/api/v1/requests",
        json={"text": URGENT, "channel": "phone", "lat": 0.2, "lon": 0.2, "category": "litter"},
        headers=operator,
    )
    assert created.status_code == 201, created.text
    body = created.json()["request"]
    assert body["being_triaged"] is True and body["status"] == "received" and body["priority"] == "normal"
    assert _queued(session) == 1  # committed with the request
    assert triage(settings) == 1
    shown = client.get(f"/api/v1/requests/{body['tracking_number']}", headers=operator).json()
    assert shown["being_triaged"] is False and shown["priority"] == "emergency"
    assert _queued(session) == 0
    assert triage(settings) == 0  # nothing left, nothing done twice


def test_a_request_that_fails_is_postponed_and_the_others_are_triaged(
    session: Session, settings: Settings, city: City, monkeypatch: pytest.MonkeyPatch
) -> None:
    with session.begin():
        good = [submit(session, settings, NOW, where="D1S1C1") for _ in range(3)]
        bad = submit(session, settings, NOW, where="D1S1C2")
    process = intake.process

    def failing(s: Session, st: Settings, tasks: list[TriageTask], now: dt.datetime) -> None:
        if any(t.request_id == bad.id for t in tasks):
            raise RuntimeError("triage failed for this request")
        process(s, st, tasks, now)

    factory = get_sessionmaker(settings.database_url)
    result = run_once(factory, settings, failing, batch=10)
    assert (result.claimed, result.done, result.postponed) == (4, 3, 1)
    session.expire_all()
    left = session.scalars(select(TriageTask)).all()
    assert [(t.request_id, t.attempts) for t in left] == [(bad.id, 1)]
    assert left[0].last_error and "triage failed" in left[0].last_error
    assert left[0].available_at > NOW  # later, with backoff
    assert all(not session.get_one(Request, r.id).triage_pending for r in good)
    assert session.get_one(Request, bad.id).triage_pending
    # Not due yet: the next round leaves it; once due, it is triaged like the others.
    assert drain(factory, settings, process) == 0
    session.commit()
    with session.begin():
        session.get_one(TriageTask, left[0].id).available_at = NOW
    assert drain(factory, settings, process) == 1
    session.commit()
    session.expire_all()
    assert not session.get_one(Request, bad.id).triage_pending


def test_a_batch_that_dies_leaves_its_rows_and_the_next_claim_does_them_once(
    session: Session, settings: Settings, city: City
) -> None:
    with session.begin():
        received = [submit(session, settings, NOW, where="D1S1C1") for _ in range(3)]
    process = intake.process

    def dies_after_the_work(s: Session, st: Settings, tasks: list[TriageTask], now: dt.datetime) -> None:
        process(s, st, tasks, now)
        s.flush()
        raise SystemExit(
            "killed"
        )  # not an Exception: the runner does not catch it, the transaction rolls back

    factory = get_sessionmaker(settings.database_url)
    with pytest.raises(SystemExit):
        run_once(factory, settings, dies_after_the_work, batch=10)
    assert _queued(session) == 3
    assert session.scalar(select(func.count()).select_from(RequestTriage)) == 0
    assert drain(factory, settings, process) == 3
    assert _queued(session) == 0
    rows = session.scalars(select(RequestTriage.request_id)).all()
    assert sorted(rows) == sorted(r.id for r in received if session.get(RequestTriage, r.id) is not None)


def test_the_client_fixture_runs_no_worker(client: TestClient) -> None:
    """The tests that start a `Worker` of their own are the only ones taking rows: the app under test starts no
    triage worker and no emergency lane (`triage_worker_in_app` is off in the tests' settings; tests triage with
    `triage(settings)` or after each commit, tests/conftest.py)."""
    running = {thread.name for thread in threading.enumerate()}
    assert not running & {"chengzhi-triage", "chengzhi-emergency-lane"}, running


def test_rows_of_one_request_are_claimed_in_order(session: Session, settings: Settings, city: City) -> None:
    with session.begin():
        first = submit(session, settings, NOW)
        queue.enqueue(session, first.id, NOW, kind="again")
    with session.begin():
        claimed = queue.claim(session, 10)
        assert [(t.request_id, t.kind) for t in claimed] == [(first.id, "intake")]  # the second waits


def _worker(url: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHENGZHI_")}
    env.update(
        {"CHENGZHI_DATABASE_URL": url, "CHENGZHI_ENVIRONMENT": "test", "CHENGZHI_TRIAGE_BATCH_SIZE": "5"}
    )
    command = [str(Path(sys.executable).with_name("chengzhi")), "worker"]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.mark.slow
def test_killing_a_worker_process_loses_nothing(session: Session, settings: Settings, city: City) -> None:
    with session.begin():
        received = [submit(session, settings, NOW, where="D1S1C1", category=None) for _ in range(60)]
    worker = _worker(settings.database_url)
    # Generous bounds: a new process imports the application and its models first, which took over 60 s on the
    # 2-core machine at load 35 (a full suite beside others). On success the waits end as soon as the rows move.
    deadline = time.monotonic() + START_SECONDS
    while _queued(session) == 60 and time.monotonic() < deadline:
        time.sleep(0.05)
    worker.send_signal(signal.SIGKILL)  # mid-run: some batches done, one perhaps half done
    worker.wait(timeout=10)
    left = _queued(session)
    assert left < 60
    again = _worker(settings.database_url)
    deadline = time.monotonic() + START_SECONDS + WORK_SECONDS
    while _queued(session) and time.monotonic() < deadline:
        time.sleep(0.1)
    again.send_signal(signal.SIGINT)
    again.wait(timeout=STOP_SECONDS)  # ends after the batch under way
    assert _queued(session) == 0
    ids = [r.id for r in received]
    pending = select(func.count()).select_from(Request).where(Request.id.in_(ids), Request.triage_pending)
    assert session.scalar(pending) == 0
    # Each request was received once and triaged once: one receive event each, no second triage row.
    receives = select(RequestEvent.request_id, func.count()).where(RequestEvent.action == "receive")
    counts: dict[Any, Any] = dict(session.execute(receives.group_by(RequestEvent.request_id)).all())
    assert all(counts[i] == 1 for i in ids)


BACKLOG_SECONDS = 10.0  # the slow worker's time for the ten ordinary requests before the emergency


def test_the_emergency_lane_flags_an_emergency_behind_a_backlog(
    client: TestClient, session: Session, settings: Settings, city: City
) -> None:
    """Ten ordinary requests wait before an emergency, and the worker takes a second for each (a slow model, say):
    the emergency still gets its priority from the lane, long before its turn (the backlog alone takes ten
    seconds), while it is still waiting for its triage; its full triage follows in order. (Quiet, the lane flags
    it within a few tenths of a second; the bound is half the backlog so that a starved CPU cannot fail it.)"""
    operator = auth(client, "operator")
    ordinary = {"text": "小区路灯不亮了", "channel": "phone", "lat": 0.2, "lon": 0.2, "category": "litter"}
    assert client.post("/api/v1/requests", json=ordinary, headers=operator).status_code == 201
    assert triage(settings) == 1  # a warm worker: the text pipeline's dictionaries load on first use
    numbers = []
    for _ in range(10):
        created = client.post("/api/v1/requests", json=ordinary, headers=operator)
        assert created.status_code == 201, created.text
        numbers.append(created.json()["request"]["tracking_number"])
    urgent = client.post("/api/v1/requests", json={**ordinary, "text": URGENT}, headers=operator)
    assert urgent.status_code == 201, urgent.text
    number = urgent.json()["request"]["tracking_number"]

    def slow(session: Session, settings: Settings, tasks: list[TriageTask], now: dt.datetime) -> None:
        time.sleep(BACKLOG_SECONDS / 10)
        intake.process(session, settings, tasks, now)

    worker = Worker(
        get_sessionmaker(settings.database_url), settings, slow, lease=False, batch=1, batch_max=1, idle=0.05
    )
    started = time.monotonic()
    worker.start()
    try:
        shown: dict[str, Any] = {}
        while time.monotonic() - started < BACKLOG_SECONDS:
            shown = client.get(f"/api/v1/requests/{number}", headers=operator).json()
            if shown["priority"] == "emergency":
                break
            time.sleep(0.05)
        flagged_after = time.monotonic() - started

        assert shown["priority"] == "emergency" and shown["being_triaged"] is True, shown
        assert flagged_after < BACKLOG_SECONDS / 2, flagged_after  # long before the worker could reach it
        first = client.get(f"/api/v1/requests/{numbers[0]}", headers=operator).json()
        assert first["priority"] == "normal"  # the lane flags only what the text says is urgent
    finally:
        stopped = worker.stop(timeout=STOP_SECONDS)
    # Both threads ended before the test writes again (on SQLite a batch still under way would hold the lock).
    assert stopped
    drain(get_sessionmaker(settings.database_url), settings, intake.process)
    done = client.get(f"/api/v1/requests/{number}", headers=operator).json()
    assert done["being_triaged"] is False and done["priority"] == "emergency"


def test_the_lane_leaves_a_priority_staff_chose(session: Session, settings: Settings, city: City) -> None:
    factory = get_sessionmaker(settings.database_url)
    with factory() as s, s.begin():
        where = {"lat": 0.2, "lon": 0.2, "category_code": "litter"}
        by_staff = Submission(text=URGENT, channel="phone", priority="low", **where)  # type: ignore[arg-type]
        by_resident = Submission(text=URGENT, **where)  # type: ignore[arg-type]
        chosen = svc.submit_request(s, actor(s, "operator"), by_staff, settings, NOW)
        plain = svc.submit_request(s, actor(s, "resident"), by_resident, settings, NOW)
        ids = (chosen.id, plain.id)
    lane = EmergencyLane(factory, settings)
    assert lane.run_once() == [ids[1]]
    assert lane.run_once() == []  # looked at already
    with factory() as s:
        assert [s.get(Request, i).priority for i in ids] == ["low", "emergency"]  # type: ignore[union-attr]


def test_the_lane_sees_a_row_committed_after_a_later_one(
    session: Session, settings: Settings, city: City
) -> None:
    """Outbox ids are given at INSERT and transactions commit out of id order: a row that appears below the highest
    id the lane has read is still looked at. Simulated by taking an urgent request's row out before the lane's
    round and putting it back, with its id, after it."""
    factory = get_sessionmaker(settings.database_url)
    where = {"lat": 0.2, "lon": 0.2, "category_code": "litter"}
    with factory() as s, s.begin():
        ids = [
            svc.submit_request(s, actor(s, "resident"), Submission(text=text, **where), settings, NOW).id  # type: ignore[arg-type]
            for text in ("小区路灯不亮了", URGENT, "垃圾没人清理")
        ]
    with factory() as s, s.begin():
        late = s.scalars(select(TriageTask).where(TriageTask.request_id == ids[1])).one()
        kept = {c.name: getattr(late, c.name) for c in TriageTask.__table__.columns}
        s.delete(late)
    lane = EmergencyLane(factory, settings)
    assert lane.run_once() == []  # the two ordinary ones, and the highest id
    with factory() as s, s.begin():
        s.add(TriageTask(**kept))  # "commits" now, below the highest id read
    assert lane.run_once() == [ids[1]]
    assert lane.run_once() == []


def test_the_worker_reads_its_models_before_each_batch_outside_the_batch(
    client: TestClient, session: Session, settings: Settings, city: City
) -> None:
    """`chengzhi serve` and `chengzhi worker` give the worker `intake.warm`: the category model (and the steps'
    model files) are read in a session of their own before each batch, never inside the batch's transaction,
    where on SQLite they would hold the database's one write lock while a file loads."""
    operator = auth(client, "operator")
    ordinary = {"text": "小区路灯不亮了", "channel": "phone", "lat": 0.2, "lon": 0.2, "category": "litter"}
    for _ in range(3):
        assert client.post("/api/v1/requests", json=ordinary, headers=operator).status_code == 201
    calls: list[str] = []

    def warm(warm_session: Session, warm_settings: Settings) -> None:
        calls.append("warm")
        intake.warm(warm_session, warm_settings)
        assert not warm_session.new and not warm_session.dirty  # reads only

    def process(s: Session, st: Settings, tasks: list[TriageTask], now: dt.datetime) -> None:
        calls.append("batch")
        intake.process(s, st, tasks, now)

    factory = get_sessionmaker(settings.database_url)
    worker = Worker(factory, settings, process, lease=False, batch=1, batch_max=1, idle=0.05, warm=warm)
    worker.start()
    try:
        deadline = time.monotonic() + WORK_SECONDS  # the first warm-up imports scipy: slow on a busy machine
        while _queued(session) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # a batch under way ends
        idle_from = len(calls)
        time.sleep(0.5)  # ten idle polls
        idle_calls = calls[idle_from:]
    finally:
        stopped = worker.stop(timeout=STOP_SECONDS)
    assert stopped
    assert _queued(session) == 0, calls
    batches = [i for i, call in enumerate(calls) if call == "batch"]
    # This worker is the only one: the `client` fixture's app runs none (`triage_worker_in_app` is off in the
    # tests' settings, test_the_client_fixture_runs_no_worker), so it did the three rows, one per batch.
    assert len(batches) == 3, calls
    assert all(calls[i - 1] == "warm" for i in batches)  # each batch right after a warm-up
    assert calls[0] == "warm"  # at start, even if the client's worker took every row
    assert idle_calls == []  # an idle worker does not warm up


def test_batches_grow_while_a_backlog_lasts_and_shrink_after_it(
    session: Session, settings: Settings, city: City
) -> None:
    """A full claim means a backlog: the next batch is twice as large, up to the largest; a claim that is not full
    brings the worker back to its small batches (a quiet queue keeps a short triage lag)."""
    factory = get_sessionmaker(settings.database_url)

    def add(s: Session, text: str) -> None:
        where = Submission(text=text, lat=0.2, lon=0.2, category_code="litter")
        svc.submit_request(s, actor(s, "resident"), where, settings, NOW)

    with factory() as s, s.begin():
        for i in range(17):
            add(s, f"小区路灯不亮了，第{i}盏")
    sizes: list[int] = []
    more = threading.Event()

    def process(s: Session, st: Settings, tasks: list[TriageTask], now: dt.datetime) -> None:
        sizes.append(len(tasks))
        intake.process(s, st, tasks, now)
        if sum(sizes) == 17:
            more.set()

    worker = Worker(factory, settings, process, lease=False, batch=2, batch_max=8, idle=0.05)
    worker.start()
    try:
        assert more.wait(WORK_SECONDS), sizes
        # After the backlog, three more, behind the worker's batch (on SQLite it holds the process's write gate).
        with sqlite_write_gate(factory.kw["bind"].url.database), factory() as s, s.begin():
            for _ in range(3):
                add(s, "垃圾没人清理")
        deadline = time.monotonic() + WORK_SECONDS
        while _queued(session) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stopped = worker.stop(timeout=STOP_SECONDS)
    assert stopped and _queued(session) == 0, sizes
    # 2, 4, 8 (the largest), then the last 3 of the 17 (not full: back to 2), then the three new ones at 2 a batch.
    assert sizes[:4] == [2, 4, 8, 3], sizes
    assert max(sizes[4:]) <= 2 and sum(sizes[4:]) == 3, sizes


def test_the_largest_batch_by_database(settings: Settings) -> None:
    by_default = settings.model_copy(update={"triage_batch_size": 16, "triage_batch_max": 0})
    assert largest_batch(by_default, "postgresql") == 200
    assert largest_batch(by_default, "sqlite") == 16  # a batch holds the write lock that intake waits for
    assert largest_batch(by_default.model_copy(update={"triage_batch_max": 64}), "sqlite") == 64


def test_the_in_app_worker_gives_way_while_submissions_arrive(
    session: Session, settings: Settings, city: City
) -> None:
    """Inside `serve` (the lease) the worker waits `took × share / (1 − share)` after a batch while requests arrive
    in its process; not when none arrive, and never as a `chengzhi worker` process."""
    factory = get_sessionmaker(settings.database_url)
    in_app = Worker(factory, settings, intake.process, lease=True)
    alone = Worker(factory, settings, intake.process, lease=False)
    assert settings.triage_yield_share == 0.25
    queue.row(utcnow())  # a request has just been received in this process
    assert queue.arriving()
    assert in_app.give_way(0.3) == pytest.approx(0.1)
    assert alone.give_way(0.3) == 0.0
    off = Worker(factory, settings.model_copy(update={"triage_yield_share": 0}), intake.process, lease=True)
    assert off.give_way(0.3) == 0.0
    assert not queue.arriving(within=0.0)
    # Through the API, as a resident submits.
    client = TestClient(create_app(settings))
    time.sleep(0.01)
    assert not queue.arriving(within=0.01)
    lon, lat = 0.2, 0.2
    answer = client.post(
        "/api/v1/requests", json={"text": "路灯坏了", "lat": lat, "lon": lon, "contact_phone": "13912345678"}
    )
    assert answer.status_code == 201
    assert queue.arriving(within=1.0) and in_app.give_way(0.3) > 0


def test_start_up_s_objects_are_frozen_out_of_the_collector(
    session: Session, settings: Settings, city: City
) -> None:
    """After start-up (and after the worker's first warm-up) `gc.freeze()`: full collections no longer walk them."""
    settings = settings.model_copy(update={"gc_freeze": True})
    gc.unfreeze()
    with TestClient(create_app(settings)) as client:
        assert gc.get_freeze_count() > 0
        assert client.get("/api/v1/health").status_code == 200
    assert gc.get_freeze_count() == 0  # given back when the application stops
    with TestClient(create_app(settings.model_copy(update={"gc_freeze": False}))):
        assert gc.get_freeze_count() == 0
    warmed = threading.Event()

    def warm(s: Session, st: Settings) -> None:
        warmed.set()

    factory = get_sessionmaker(settings.database_url)
    worker = Worker(factory, settings, intake.process, lease=False, idle=0.05, warm=warm)
    worker.start()
    try:
        assert warmed.wait(WORK_SECONDS)
        deadline = time.monotonic() + WORK_SECONDS
        while gc.get_freeze_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert gc.get_freeze_count() > 0
    finally:
        assert worker.stop(timeout=STOP_SECONDS)
        gc.unfreeze()
