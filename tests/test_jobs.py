"""Periodic jobs: overdue detection marks exactly the late stages once; one runner at a time across processes."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import selectors
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from chengzhi.cli import app as cli_app
from chengzhi.config import Settings
from chengzhi.db import get_sessionmaker, utcnow
from chengzhi.jobs import service as jobs_service
from chengzhi.jobs.models import JobRun
from chengzhi.jobs.service import HOLDER, detect_overdue, run_job
from chengzhi.requests import service as svc
from chengzhi.requests.models import Request, RequestEvent
from chengzhi.requests.workflow import STAGE_OF_STATUS

from .conftest import Configure
from .factories import City
from .patience import START_SECONDS, WORK_SECONDS
from .steps import actor, dispatch, handle, submit

T0 = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)  # Monday 10:00 in Beijing
HOUR = dt.timedelta(hours=1)
WORKER = Path(__file__).with_name("job_worker.py")


def late_stage(request: Request, now: dt.datetime) -> str | None:
    """The stage the overdue job should flag now, computed from the request's own deadlines."""
    stage = STAGE_OF_STATUS.get(request.status)  # type: ignore[call-overload]
    deadline = (request.deadlines or {}).get(stage) if stage else None
    if deadline is None or request.overdue_stage is not None:
        return None
    return stage if dt.datetime.fromisoformat(deadline) < now else None


def overdue_marks(session: Session) -> list[tuple[int, str]]:
    events = session.scalars(select(RequestEvent).where(RequestEvent.action == "mark_overdue"))
    return [(e.request_id, e.payload["stage"]) for e in events]


def test_detect_overdue_marks_exactly_the_late_stages_once(
    session: Session, settings: Settings, city: City
) -> None:
    late_sign = submit(session, settings, T0)
    signed = submit(session, settings, T0)
    received = submit(session, settings, T0)
    replied = submit(session, settings, T0)
    closed = submit(session, settings, T0)
    urgent = submit(session, settings, T0, priority="emergency", by="operator")
    for request in (late_sign, signed, replied, closed, urgent):
        dispatch(session, settings, request, "D1S1C1", T0)
    handle(session, settings, signed, "d1s1c1-handler", T0 + HOUR, upto="signed")
    handle(session, settings, replied, "d1s1c1-handler", T0 + HOUR)
    handle(session, settings, closed, "d1s1c1-handler", T0 + HOUR)
    svc.close_request(session, actor(session, "supervisor"), closed, None, T0 + 2 * HOUR)
    handle(session, settings, urgent, "d1s1c1-handler", T0 + dt.timedelta(minutes=10), upto="signed")
    session.commit()
    everyone = [late_sign, signed, received, replied, closed, urgent]

    # Three hours on: the 2-hour sign stage of one, the 1-hour contact stage of the emergency.
    now = T0 + 3 * HOUR
    expected = {r.id: late_stage(r, now) for r in everyone if late_stage(r, now)}
    assert expected == {late_sign.id: "sign", urgent.id: "contact"}
    assert detect_overdue(session, settings, now) == {"marked": 2}
    session.commit()
    assert {r.id: r.overdue_stage for r in everyone if r.overdue_stage} == expected
    assert all(r.ever_overdue == (r.id in expected) for r in everyone)
    event = session.scalar(
        select(RequestEvent).where(RequestEvent.request_id == late_sign.id).order_by(RequestEvent.seq.desc())
    )
    assert event is not None and event.action == "mark_overdue" and event.actor_id is None
    assert event.payload == {"stage": "sign", "due_at": late_sign.deadlines["sign"]}

    # Once: a second run, now or later in the same stage, marks nothing.
    assert detect_overdue(session, settings, now) == {"marked": 0}
    assert detect_overdue(session, settings, now + HOUR) == {"marked": 0}
    session.commit()

    # The flag clears when the stage changes; ever_overdue stays.
    handle(session, settings, late_sign, "d1s1c1-handler", T0 + 5 * HOUR, upto="signed")
    session.commit()
    assert late_sign.overdue_stage is None and late_sign.ever_overdue

    # Two days on: contact stages (1 day) and the follow-up stage (1 working day) ran out.
    later = T0 + dt.timedelta(days=2)
    expected = {r.id: late_stage(r, later) for r in everyone if late_stage(r, later)}
    assert expected == {late_sign.id: "contact", signed.id: "contact", replied.id: "review"}
    assert detect_overdue(session, settings, later) == {"marked": 3}
    session.commit()
    assert {r.id: r.overdue_stage for r in everyone if r.id in expected} == expected
    assert urgent.overdue_stage == "contact"  # still the same stage: not marked twice
    assert received.overdue_stage is None and closed.overdue_stage is None

    marks = overdue_marks(session)
    assert len(marks) == len(set(marks)) == 5
    assert Counter(stage for _, stage in marks) == {"sign": 1, "contact": 3, "review": 1}


def test_an_approved_extension_ends_the_reply_overdue(
    session: Session, settings: Settings, city: City
) -> None:
    request = submit(session, settings, T0)
    dispatch(session, settings, request, "D1S1C1", T0)
    handle(session, settings, request, "d1s1c1-handler", T0 + HOUR, upto="contacted")
    reply_due = dt.datetime.fromisoformat(request.deadlines["reply"])
    late = reply_due + HOUR
    assert detect_overdue(session, settings, late) == {"marked": 1}
    assert request.overdue_stage == "reply"
    handler, supervisor = actor(session, "d1s1c1-handler"), actor(session, "supervisor")
    svc.request_extension(session, handler, request, 5, "等待配件", late + HOUR)
    svc.decide_extension(session, supervisor, request, True, settings, None, late + 2 * HOUR)
    assert request.overdue_stage is None
    assert request.due_at is not None and request.due_at > late + 2 * HOUR
    assert detect_overdue(session, settings, late + 3 * HOUR) == {"marked": 0}
    # When the extended deadline passes too, the stage is flagged again.
    assert detect_overdue(session, settings, request.due_at + HOUR) == {"marked": 1}
    assert [stage for _, stage in overdue_marks(session)] == ["reply", "reply"]
    session.rollback()


def test_run_job_records_each_run(session: Session, settings: Settings, city: City) -> None:
    request = submit(session, settings, T0)
    dispatch(session, settings, request, "D1S1C1", T0)
    session.commit()
    factory = get_sessionmaker(settings.database_url)
    before = utcnow()
    assert run_job(factory, settings, "overdue", T0 + 3 * HOUR) == {"marked": 1}
    assert run_job(factory, settings, "overdue", T0 + 3 * HOUR) == {"marked": 0}
    runs = list(session.scalars(select(JobRun).order_by(JobRun.id)))
    assert [(r.job, r.holder, r.result) for r in runs] == [
        ("overdue", HOLDER, {"marked": 1}),
        ("overdue", HOLDER, {"marked": 0}),
    ]
    for run in runs:
        assert before <= run.started_at <= run.finished_at <= utcnow()
    session.expire_all()
    assert request.overdue_stage == "sign"


def cli(settings: Settings, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"CHENGZHI_DATABASE_URL": settings.database_url, "CHENGZHI_ENVIRONMENT": "test"}
    return subprocess.run(
        [str(Path(sys.executable).with_name("chengzhi")), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=START_SECONDS,  # the command imports the application first: slow on a starved CPU
        check=False,
    )


@pytest.mark.slow
def test_cli_runs_the_overdue_job(
    session: Session, settings: Settings, city: City, tmp_path: Path, configure: Configure
) -> None:
    """The console command in a process of its own runs the job; listing the jobs and refusing an unknown one are
    the same command's answers in this process (a new process imports the application first: 4-6 s each)."""
    now = utcnow()
    old = submit(session, settings, now - dt.timedelta(days=10))
    fresh = submit(session, settings, now)
    dispatch(session, settings, old, "D1S1C1", now - dt.timedelta(days=10))
    dispatch(session, settings, fresh, "D1S1C1", now)
    session.commit()

    configure()
    listed = CliRunner().invoke(cli_app, ["jobs", "list"])
    assert listed.exit_code == 0, listed.output
    assert "overdue" in listed.stdout.split()

    first = cli(settings, tmp_path, "jobs", "run", "overdue")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {"job": "overdue", "skipped": False, "result": {"marked": 1}}
    session.expire_all()
    assert old.overdue_stage == "sign" and fresh.overdue_stage is None
    assert [r.result for r in session.scalars(select(JobRun))] == [{"marked": 1}]

    unknown = CliRunner().invoke(cli_app, ["jobs", "run", "no-such-job"])
    assert unknown.exit_code == 2
    assert "unknown job" in unknown.stderr


# ---------------------------------------------------------------- one runner at a time (PostgreSQL)


@pytest.mark.slow
def test_two_processes_never_run_a_job_at_the_same_time(
    session: Session, settings: Settings, city: City, tmp_path: Path
) -> None:
    if settings.is_sqlite:
        pytest.skip("advisory locks are PostgreSQL's")
    n_late = 150
    for n in range(n_late):
        request = submit(session, settings, T0, where="D1S1C1" if n % 2 else "D2S1C1")
        dispatch(session, settings, request, "D1S1C1" if n % 2 else "D2S1C1", T0)
    session.commit()
    overdue_now = (T0 + 3 * HOUR).isoformat()

    env = os.environ | {"CHENGZHI_ENVIRONMENT": "test"}
    workers = [
        subprocess.Popen(
            [sys.executable, str(WORKER), settings.database_url, overdue_now, "6"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=tmp_path,
        )
        for _ in range(2)
    ]
    try:
        for worker in workers:  # both imported, connected and waiting
            assert worker.stdout is not None
            # A worker that never gets ready fails the test instead of blocking it (START_SECONDS: it imports first).
            with selectors.DefaultSelector() as waiting:
                waiting.register(worker.stdout, selectors.EVENT_READ)
                assert waiting.select(START_SECONDS), f"a worker said nothing in {START_SECONDS:.0f} s"
            line = worker.stdout.readline().strip()
            assert line == "ready", (line, worker.stderr.read() if worker.stderr else "")
        for worker in workers:  # go, together
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        outputs = [worker.communicate(timeout=WORK_SECONDS) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    for worker, (_out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err
    summaries = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    holders = {s["holder"] for s in summaries}
    assert len(holders) == 2

    session.expire_all()
    runs = list(session.scalars(select(JobRun).order_by(JobRun.started_at)))
    for job in ("overdue", "slow_probe"):
        mine = [r for r in runs if r.job == job]
        assert len(mine) == sum(s[job]["ran"] for s in summaries)
        for earlier, later in itertools.pairwise(mine):
            assert earlier.finished_at <= later.started_at, (
                f"{job} ran twice at once: {earlier.id}, {later.id}"
            )
    probes = [r for r in runs if r.job == "slow_probe"]
    # The job's own clock agrees: no two probes were inside the job at once.
    spans = sorted(
        (dt.datetime.fromisoformat(r.result["began"]), dt.datetime.fromisoformat(r.result["ended"]))
        for r in probes
    )
    for (_, end), (begin, _) in itertools.pairwise(spans):
        assert end <= begin
    # Both processes won the lock at some point, and each was turned away while the other held it.
    assert {r.holder for r in probes} == holders
    assert all(s["slow_probe"]["ran"] >= 1 for s in summaries)
    assert sum(s["slow_probe"]["skipped"] for s in summaries) >= 1

    # Every late request was marked exactly once, by one run or the other.
    marks = overdue_marks(session)
    assert len(marks) == len(set(marks)) == n_late
    assert sum(s["overdue"]["marked"] for s in summaries) == n_late
    assert sum(r.result["marked"] for r in runs if r.job == "overdue") == n_late
    assert session.scalar(select(Request.id).where(Request.overdue_stage.is_(None))) is None


def test_on_sqlite_a_job_holds_the_write_lock_from_its_start(
    settings: Settings, city: City, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job that reads and then writes would fail with "database is locked" if a request committed in between;
    so on SQLite its transaction begins IMMEDIATE: while it runs, another writer cannot get in."""
    if not settings.is_sqlite:
        pytest.skip("SQLite's locking; PostgreSQL jobs use advisory locks (tested above)")
    import sqlite3

    from sqlalchemy.engine import make_url

    from chengzhi.jobs import service as jobs

    path = make_url(settings.database_url).database
    assert path
    seen: dict[str, str] = {}

    def probe(session: Session, _settings: Settings, _now: dt.datetime) -> dict[str, str]:
        other = sqlite3.connect(path, timeout=0.2)
        try:
            other.execute("BEGIN IMMEDIATE")
            seen["other writer"] = "got in"
            other.rollback()
        except sqlite3.OperationalError as exc:
            seen["other writer"] = str(exc)
        finally:
            other.close()
        return {}

    monkeypatch.setitem(jobs.JOBS, "probe", probe)
    assert run_job(get_sessionmaker(settings.database_url), settings, "probe") == {}
    assert seen == {"other writer": "database is locked"}


def test_jobs_sharing_a_lock_never_run_together(session: Session, settings: Settings) -> None:
    """Open data's publishing, quality and table jobs update the same datasets: run by two processes at the same
    moment they deadlocked on PostgreSQL (seen in the soak). They share one lock: while another connection holds
    it, each of them skips its round; a job outside the group still runs."""
    if settings.is_sqlite:
        pytest.skip(
            "SQLite serialises writers with BEGIN IMMEDIATE; the shared lock is PostgreSQL's advisory lock"
        )
    assert {
        jobs_service.LOCKS[name] for name in ("opendata_platform", "opendata_quality", "opendata_tables")
    } == {"opendata"}
    factory = get_sessionmaker(settings.database_url)
    with factory() as holder, holder.begin():
        holder.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": jobs_service._lock_key("opendata")})
        for name in ("opendata_platform", "opendata_quality", "opendata_tables"):
            assert run_job(factory, settings, name) is None, name
        assert run_job(factory, settings, "purge_idempotency") is not None
    assert run_job(factory, settings, "opendata_quality") is not None
