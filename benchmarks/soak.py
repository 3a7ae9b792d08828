"""Soak with crashes (issue 20, "nothing lost"): mixed traffic at half the measured peak on a PostgreSQL of its own,
while the app processes are killed with SIGKILL and PostgreSQL is crashed and restarted; then every acknowledged
answer is checked against the database.

    .venv/bin/python -m benchmarks.soak --minutes 30          # the full run (issue 20)
    nice -n 15 .venv/bin/python -m benchmarks.soak --minutes 6 --tag short   # on a shared machine

What it does (loopback only, bounded in time and in count):

1. `initdb` a private PostgreSQL cluster in a temporary directory on a free port (as the `postgres` user when run
   as root), so that restarting it disturbs no other database; migrate; the tests' small city; tokens for an
   operator, a city dispatcher, a community handler and a leader; an Open311 API key.
2. `--apps` uvicorn processes (one worker each, each on its own port; the scheduler on, every 5 s) and one
   `chengzhi worker` (triage), automatic dispatch off so that dispatching is the dispatcher's step.
3. Calibration (`--calibrate` s): the clients as fast as they can: the peak, in operations per second. Then the soak
   paces the same clients at half of it (or at `--rate`). The mix: submissions (`POST /api/v1/requests`), Open311
   posts, workflow steps (dispatch, sign, contact, reply of requests the soak submitted), reads of a request and
   dashboard reads. Every POST carries an `Idempotency-Key` and is retried with the same key after a connection
   error, a timeout or a 5xx, on another app process, for up to `--give-up` seconds, as a real client would.
4. During the soak: `--kills` times, app processes and the worker are killed with SIGKILL and started again (every
   app process at once in odd rounds, one of them in even rounds: the clients fail over to the others); once, PostgreSQL is stopped in `immediate` mode (a crash: recovery replays the WAL) and started again. A crash
   window runs from the kill to `--grace` seconds after everything answers again.
5. Every 5 s: resident memory and open file descriptors of each app process and the worker, PostgreSQL connections.
6. At the end: the outboxes' backlog when the traffic stops (triage queue, notifications due), and how long the
   worker and the jobs take to empty them (at most `--drain` s); after a scheduler round: every submission answered 201
   exists exactly once (a marker in its text), every acknowledged step is in the event log exactly once, every
   request's projection equals the fold of its event log, every periodic job ran after the last restart, the
   outboxes (triage queue, notifications due) are empty, and no attempt outside a crash window failed.

Results: benchmarks/results/soak-DATE[-TAG].json and .md. Exit status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import create_engine, text

from benchmarks.intake import free_port
from benchmarks.loadgen import PLACES, PROBLEMS
from benchmarks.run_all import machine_info

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
WORK = ROOT / "var" / "bench" / "soak"
MIX = (("submit", 30), ("open311", 10), ("step", 25), ("read", 25), ("dashboard", 10))
CHAIN = ("dispatch", "sign", "contact", "reply")
ATTEMPT_TIMEOUT = 30.0


# ---------------------------------------------------------------- a PostgreSQL of its own


class PrivatePostgres:
    """A throw-away cluster: `initdb`, `pg_ctl start`, a crash (`stop -m immediate`) and a restart."""

    def __init__(self, base: Path) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="chengzhi-soak-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.log = base / "postgres.log"
        self.bin = Path(shutil.which("pg_ctl") or "/usr/lib/postgresql/15/bin/pg_ctl").resolve().parent
        self.as_postgres = os.geteuid() == 0  # initdb refuses to run as root
        if self.as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
            self.log.touch()
            shutil.chown(self.log, "postgres", "postgres")

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/chengzhi"

    def init(self) -> None:
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"
        )
        self.start()
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "chengzhi")

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.dir} "
            "-c max_connections=200 -c shared_buffers=128MB -c fsync=on -c synchronous_commit=on"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def crash(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------- the city and the processes


def prepare(url: str) -> dict[str, Any]:
    """Migrate, build the tests' small city, tokens and an Open311 key; returns what the clients need."""
    from sqlalchemy.orm import Session
    from tests.factories import build_city

    from chengzhi.db import make_engine
    from chengzhi.migrate import upgrade
    from chengzhi.open311.keys import create_key
    from chengzhi.org.service import issue_token

    upgrade(url)
    engine = make_engine(url)
    try:
        with Session(engine) as session, session.begin():
            city = build_city(session)
            tokens = {
                name: issue_token(session, city.users[name], days=2, name="soak")[0]
                for name in ("operator", "dispatcher", "d1s1c1-handler", "leader")
            }
            key = create_key(session, "soak", "1000000/minute").key
            return {"tokens": tokens, "open311_key": key, "community_id": city.units["D1S1C1"].id}
    finally:
        engine.dispose()


@dataclass
class Fleet:
    """The app processes (one uvicorn worker each, fixed ports) and the triage worker."""

    url: str
    apps: int
    logs: Path
    ports: list[int] = field(default_factory=list)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    generation: int = 0

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "CHENGZHI_DATABASE_URL": self.url,
                "CHENGZHI_ENVIRONMENT": "development",
                "CHENGZHI_SCHEDULER_ENABLED": "true",
                "CHENGZHI_SCHEDULER_INTERVAL_SECONDS": "5",
                "CHENGZHI_TRIAGE_WORKER_IN_APP": "false",
                "CHENGZHI_AUTO_DISPATCH": "false",
                "CHENGZHI_MEDIA_DIR": str(WORK / "media"),
                "CHENGZHI_MODEL_DIR": str(WORK / "models"),
            }
        )
        return env

    @property
    def names(self) -> list[str]:
        return [f"app{i}" for i in range(self.apps)] + ["worker"]

    def _command(self, name: str) -> list[str]:
        if name == "worker":
            return [str(Path(sys.executable).parent / "chengzhi"), "worker"]
        port = self.ports[int(name.removeprefix("app"))]
        command = [sys.executable, "-m", "uvicorn", "chengzhi.app:create_app", "--factory", "--host"]
        # The server holds idle connections 75 s (as `chengzhi serve` does), the clients 2 s: even when a starved
        # machine delays the clients' own timers, they close first and never send on a connection being closed.
        options = ["--timeout-keep-alive", "75", "--no-access-log", "--log-level", "warning"]
        return [*command, "127.0.0.1", "--port", str(port), *options]

    def start(self) -> None:
        self.ports = [free_port() for _ in range(self.apps)]
        self.restart(self.names)

    def _spawn(self, name: str, command: list[str]) -> None:
        log = (self.logs / f"{name}.log").open("ab")
        log.write(f"\n--- generation {self.generation} ---\n".encode())
        log.flush()
        self.processes[name] = subprocess.Popen(command, cwd=ROOT, env=self.env(), stdout=log, stderr=log)

    def kill(self, names: list[str]) -> None:
        for name in names:
            self.processes[name].send_signal(signal.SIGKILL)
        for name in names:
            self.processes[name].wait()

    def restart(self, names: list[str]) -> None:
        self.generation += 1
        for name in names:
            command = self._command(name)
            self._spawn(name, command)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()

    async def wait_ready(self, client: aiohttp.ClientSession, timeout: float = 600.0) -> None:
        deadline = time.monotonic() + timeout
        for port in self.ports:
            while True:
                try:
                    async with client.get(f"http://127.0.0.1:{port}/api/v1/health") as answer:
                        if answer.status == 200:
                            break
                except (aiohttp.ClientError, TimeoutError):
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"app on port {port} did not start; see {self.logs}")
                await asyncio.sleep(0.3)


# ---------------------------------------------------------------- the clients


@dataclass
class Attempt:
    op: str
    start: float
    end: float
    outcome: str  # "ok", an HTTP status, or an exception's name


@dataclass
class State:
    tokens: dict[str, str]
    key: str
    community_id: int
    ports: list[int]
    attempts: list[Attempt] = field(default_factory=list)
    acknowledged: dict[str, str] = field(default_factory=dict)  # marker -> tracking number (API and Open311)
    gave_up: list[str] = field(default_factory=list)  # markers never acknowledged
    refused: Counter[str] = field(default_factory=Counter)  # final 4xx answers, by op and status
    steps_done: list[tuple[str, str]] = field(default_factory=list)  # (tracking number, action) acknowledged
    chains: list[tuple[str, int]] = field(default_factory=list)  # (tracking number, next step) waiting
    numbers: list[str] = field(default_factory=list)
    ops: Counter[str] = field(default_factory=Counter)


class GaveUp(Exception):
    pass


async def call(
    state: State,
    client: aiohttp.ClientSession,
    rng: random.Random,
    op: str,
    method: str,
    path: str,
    give_up: float,
    **kwargs: Any,
) -> tuple[int, Any]:
    """One logical call, retried (same headers and body, so the same Idempotency-Key) on another app process
    after a connection error, a timeout or a 5xx. Returns the final (status, body)."""
    deadline = time.monotonic() + give_up
    pause = 0.2
    while True:
        port = rng.choice(state.ports)
        start = time.monotonic()
        try:
            async with client.request(
                method,
                f"http://127.0.0.1:{port}{path}",
                timeout=aiohttp.ClientTimeout(total=ATTEMPT_TIMEOUT),
                **kwargs,
            ) as answer:
                body = await answer.read()
                status = answer.status
        except (aiohttp.ClientError, TimeoutError) as error:
            state.attempts.append(Attempt(op, start, time.monotonic(), type(error).__name__))
        else:
            ok = status < 500
            state.attempts.append(Attempt(op, start, time.monotonic(), "ok" if ok else str(status)))
            if ok:
                try:
                    return status, json.loads(body) if body else None
                except ValueError:
                    return status, None
        if time.monotonic() + pause > deadline:
            raise GaveUp(op)
        await asyncio.sleep(pause)
        pause = min(pause * 2, 2.0)


def _bearer(state: State, user: str, key: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {state.tokens[user]}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return headers


def _text(rng: random.Random, marker: str) -> str:
    return f"{rng.choice(PLACES)}{rng.choice(PROBLEMS['litter'])}，请尽快处理（{marker}）"


async def one_operation(
    state: State, client: aiohttp.ClientSession, rng: random.Random, give_up: float
) -> None:
    op = rng.choices([m for m, _ in MIX], [w for _, w in MIX])[0]
    if op == "step" and not state.chains:
        op = "submit"
    if op in ("read",) and not state.numbers:
        op = "submit"
    state.ops[op] += 1
    if op == "submit":
        marker = f"soak-{uuid.uuid4().hex}"
        body = {
            "text": _text(rng, marker),
            "category": "litter",
            "channel": "phone",
            "lat": round(rng.uniform(0.05, 0.45), 6),
            "lon": round(rng.uniform(0.05, 0.45), 6),
            "contact_name": "王先生",
            "contact_phone": f"13{rng.randrange(10**9):09d}",
        }
        try:
            status, answer = await call(
                state, client, rng, op, "POST", "/api/v1/requests", give_up,
                json=body, headers=_bearer(state, "operator", marker),
            )  # fmt: skip
        except GaveUp:
            state.gave_up.append(marker)
            return
        if status == 201:
            number = answer["request"]["tracking_number"]
            state.acknowledged[marker] = number
            state.numbers.append(number)
            state.chains.append((number, 0))
        else:
            state.refused[f"{op}:{status}"] += 1
    elif op == "open311":
        marker = f"soak-{uuid.uuid4().hex}"
        form = {
            "api_key": state.key,
            "service_code": "litter",
            "lat": str(round(rng.uniform(0.55, 0.95), 6)),
            "long": str(round(rng.uniform(0.05, 0.45), 6)),
            "description": _text(rng, marker),
            "email": "soak@example.org",
        }
        try:
            status, answer = await call(
                state, client, rng, op, "POST", "/open311/v2/requests.json", give_up,
                data=form, headers={"Idempotency-Key": marker},
            )  # fmt: skip
        except GaveUp:
            state.gave_up.append(marker)
            return
        if status == 201 and answer and answer[0].get("service_request_id"):
            state.acknowledged[marker] = answer[0]["service_request_id"]
        else:
            state.refused[f"{op}:{status}"] += 1
    elif op == "step":
        number, stage = state.chains.pop(rng.randrange(len(state.chains)))
        action = CHAIN[stage]
        body_of: dict[str, Any] = {
            "dispatch": {"lead_unit_id": state.community_id},
            "sign": {},
            "contact": {"note": "已电话联系"},
            "reply": {"text": "已清理完毕，感谢反映。"},
        }
        user = "dispatcher" if action == "dispatch" else "d1s1c1-handler"
        try:
            status, _ = await call(
                state, client, rng, f"step-{action}", "POST", f"/api/v1/requests/{number}/{action}", give_up,
                json=body_of[action], headers=_bearer(state, user, f"{number}-{action}"),
            )  # fmt: skip
        except GaveUp:
            state.chains.append((number, stage))  # the next client tries again with the same key
            return
        if status == 200:
            state.steps_done.append((number, action))
            if stage + 1 < len(CHAIN):
                state.chains.append((number, stage + 1))
        else:
            state.refused[f"step-{action}:{status}"] += 1
    elif op == "read":
        number = rng.choice(state.numbers)
        with_retry = call(
            state,
            client,
            rng,
            op,
            "GET",
            f"/api/v1/requests/{number}",
            give_up,
            headers=_bearer(state, "operator"),
        )
        status, _ = await _final(with_retry)
        if status != 200:
            state.refused[f"{op}:{status}"] += 1
    else:
        path = "/api/v1/metrics/operations"
        status, _ = await _final(
            call(state, client, rng, op, "GET", path, give_up, headers=_bearer(state, "leader"))
        )
        if status != 200:
            state.refused[f"{op}:{status}"] += 1


async def _final(pending: Any) -> tuple[int, Any]:
    try:
        result: tuple[int, Any] = await pending
        return result
    except GaveUp:
        return 0, None


async def run_clients(
    state: State, clients: int, seconds: float, rate: float | None, give_up: float, seed: int
) -> float:
    """`clients` loops for `seconds`; paced at `rate` operations per second in all, else as fast as they can.
    Returns the operations per second completed."""
    deadline = time.monotonic() + seconds
    done = [0]
    # Idle connections are dropped after 2 s, before uvicorn's 5 s keep-alive closes them: otherwise a call sent
    # just as the server closes its end fails (a client-side race every HTTP client configures away).
    connector = aiohttp.TCPConnector(limit=clients * 2, keepalive_timeout=2.0)
    async with aiohttp.ClientSession(connector=connector) as client:

        async def loop(i: int) -> None:
            rng = random.Random(f"{seed}-{i}")
            interval = clients / rate if rate else 0.0
            next_at = time.monotonic() + rng.uniform(0, interval)
            while time.monotonic() < deadline:
                if interval:
                    await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                    next_at = max(next_at + interval, time.monotonic() - interval)
                await one_operation(state, client, rng, give_up)
                done[0] += 1

        started = time.monotonic()
        await asyncio.gather(*(loop(i) for i in range(clients)))
        return done[0] / (time.monotonic() - started)


# ---------------------------------------------------------------- chaos and sampling


@dataclass
class Window:
    what: str
    start: float
    ready: float = 0.0


async def chaos(
    fleet: Fleet, pg: PrivatePostgres, start: float, seconds: float, kills: int, windows: list[Window]
) -> None:
    """`kills` rounds of SIGKILL, evenly spread over the soak: the odd rounds kill every app process and the
    worker at once (nothing answers until they are back), the even ones one app process and the worker (the
    clients go to the others); then PostgreSQL crashes once."""
    plan = [
        ("kill-all" if i % 2 == 0 else "kill-one", start + seconds * (i + 1) / (kills + 2))
        for i in range(kills)
    ]
    plan.append(("postgres", start + seconds * (kills + 1) / (kills + 2)))
    async with aiohttp.ClientSession() as client:
        for what, at in plan:
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            window = Window(what, time.monotonic())
            windows.append(window)
            if what.startswith("kill"):
                names = fleet.names if what == "kill-all" else [f"app{len(windows) % fleet.apps}", "worker"]
                await asyncio.to_thread(fleet.kill, names)
                await asyncio.to_thread(fleet.restart, names)
            else:
                await asyncio.to_thread(pg.crash)
                await asyncio.to_thread(pg.start)
            await fleet.wait_ready(client)
            window.ready = time.monotonic()
            print(
                f"  {what} at +{window.start - start:.0f} s, answering again after {window.ready - window.start:.1f} s"
            )


def _proc(pid: int) -> tuple[int, int] | None:
    try:
        rss = next(
            int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
            if line.startswith("VmRSS:")
        )  # fmt: skip
        return rss // 1024, len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, StopIteration):
        return None


async def sample(fleet: Fleet, url: str, start: float, until: float, out: list[dict[str, Any]]) -> None:
    engine = create_engine(url.replace("/chengzhi", "/postgres"), pool_pre_ping=True)
    try:
        while time.monotonic() < until:
            row: dict[str, Any] = {"t": round(time.monotonic() - start, 1)}
            for name, process in fleet.processes.items():
                figures = _proc(process.pid)
                row[name] = None if figures is None else (process.pid, *figures)
            try:
                with engine.connect() as connection:
                    row["pg_connections"] = connection.execute(
                        text("SELECT count(*) FROM pg_stat_activity WHERE datname = 'chengzhi'")
                    ).scalar_one()
            except Exception:  # PostgreSQL is down during its restart
                row["pg_connections"] = None
            out.append(row)
            await asyncio.sleep(5)
    finally:
        engine.dispose()


# ---------------------------------------------------------------- the checks


def verify(url: str, state: State, last_ready_wall: dt.datetime) -> dict[str, Any]:
    from sqlalchemy.orm import Session

    from chengzhi.db import make_engine
    from chengzhi.requests.log import state_of, steps_of
    from chengzhi.requests.models import Request, RequestEvent
    from chengzhi.requests.workflow import fold

    engine = make_engine(url)
    try:
        with Session(engine) as session:
            found: dict[str, list[str]] = {}
            for number, body in session.execute(
                text("SELECT tracking_number, text FROM requests WHERE text LIKE '%soak-%'")
            ):
                marker = body[body.index("soak-") :].split("）")[0]
                found.setdefault(marker, []).append(number)
            missing = [m for m in state.acknowledged if not found.get(m)]
            twice = [m for m in state.acknowledged if len(found.get(m, [])) > 1]
            wrong = [m for m, n in state.acknowledged.items() if found.get(m) and found[m][0] != n]
            unacknowledged_twice = [m for m in state.gave_up if len(found.get(m, [])) > 1]

            counts = Counter(
                (number, action)
                for number, action in session.execute(
                    text(
                        "SELECT r.tracking_number, e.action FROM request_events e JOIN requests r "
                        "ON r.id = e.request_id WHERE e.action IN ('dispatch', 'sign', 'contact', 'reply')"
                    )
                )
            )
            steps_not_once = [f"{n}:{a}={counts[(n, a)]}" for n, a in state.steps_done if counts[(n, a)] != 1]

            mismatched = []
            requests = session.query(Request).order_by(Request.id).all()
            events: dict[int, list[RequestEvent]] = {}
            for event in session.query(RequestEvent).order_by(RequestEvent.request_id, RequestEvent.seq):
                events.setdefault(event.request_id, []).append(event)
            for request in requests:
                if fold(steps_of(events.get(request.id, []))) != state_of(request):
                    mismatched.append(request.tracking_number)

            jobs = {
                job: last
                for job, last in session.execute(
                    text("SELECT job, max(started_at) FROM job_runs GROUP BY job")
                )
            }
            stale = sorted(job for job, last in jobs.items() if _aware(last) < last_ready_wall)
            triage_waiting = session.execute(text("SELECT count(*) FROM triage_queue")).scalar_one()
            due = session.execute(
                text("SELECT count(*) FROM notifications WHERE state = 'pending' AND next_attempt_at < :t"),
                {"t": dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30)},
            ).scalar_one()
            return {
                "requests_in_database": len(requests),
                "acknowledged_201": len(state.acknowledged),
                "acknowledged_missing": len(missing),
                "acknowledged_more_than_once": len(twice),
                "acknowledged_wrong_number": len(wrong),
                "given_up_calls": len(state.gave_up),
                "given_up_stored_more_than_once": len(unacknowledged_twice),
                "steps_acknowledged": len(state.steps_done),
                "steps_not_exactly_once": steps_not_once[:20],
                "projections_checked": len(requests),
                "projections_not_equal_to_fold": mismatched[:20],
                "jobs_seen": sorted(jobs),
                "jobs_not_run_since_last_restart": stale,
                "triage_queue_left": triage_waiting,
                "notifications_due_unsent": due,
            }
    finally:
        engine.dispose()


def _aware(value: Any) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    assert isinstance(value, dt.datetime)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def errors_outside(
    attempts: list[Attempt], windows: list[Window], grace: float, soak_start: float
) -> dict[str, Any]:
    spans = [(w.start, (w.ready or w.start) + grace) for w in windows]

    def inside(a: Attempt) -> bool:
        return any(a.start <= end and a.end >= start for start, end in spans)

    failed = [a for a in attempts if a.outcome != "ok"]
    outside = [a for a in failed if not inside(a)]
    counted = [a for a in attempts if not inside(a)]
    return {
        "attempts": len(attempts),
        "failed_attempts": len(failed),
        "failed_inside_crash_windows": len(failed) - len(outside),
        "attempts_outside_crash_windows": len(counted),
        "failed_outside_crash_windows": len(outside),
        "error_rate_outside_crash_windows": round(len(outside) / max(1, len(counted)), 6),
        "failures_outside_by_kind": dict(Counter(f"{a.op}:{a.outcome}" for a in outside)),
        "failures_outside_at_s": [round(a.start - soak_start, 1) for a in outside][:50],
        "failures_inside_by_kind": dict(Counter(a.outcome for a in failed if inside(a))),
    }


def latencies(attempts: list[Attempt]) -> dict[str, dict[str, float]]:
    """Successful attempts' latency per operation: count, p50, p95, max (ms)."""
    by_op: dict[str, list[float]] = {}
    for a in attempts:
        if a.outcome == "ok":
            by_op.setdefault(a.op, []).append((a.end - a.start) * 1000)
    out = {}
    for op, values in sorted(by_op.items()):
        values.sort()
        out[op] = {
            "n": len(values),
            "p50": round(values[len(values) // 2], 1),
            "p95": round(values[min(len(values) - 1, int(0.95 * len(values)))], 1),
            "max": round(values[-1], 1),
        }
    return out


def steadiness(samples: list[dict[str, Any]], fleet: Fleet) -> dict[str, Any]:
    """For each process (name and pid: a restart is a new one): memory (MiB) and descriptors at its first and
    last sample and at most."""
    out: dict[str, Any] = {}
    for name in fleet.names:
        lives: dict[int, list[tuple[int, int, int]]] = {}
        for s in samples:
            if s.get(name):
                lives.setdefault(s[name][0], []).append(s[name])
        for pid, rows in lives.items():
            if len(rows) >= 2:
                out[f"{name} pid {pid} ({len(rows) * 5} s)"] = {
                    "rss_mib_first_last_max": [rows[0][1], rows[-1][1], max(r[1] for r in rows)],
                    "fds_first_last_max": [rows[0][2], rows[-1][2], max(r[2] for r in rows)],
                }
    connections = [s["pg_connections"] for s in samples if s["pg_connections"] is not None]
    out["pg_connections_min_max_last"] = (
        [min(connections), max(connections), connections[-1]] if connections else []
    )
    return out


# ---------------------------------------------------------------- main


async def soak(args: argparse.Namespace) -> dict[str, Any]:
    WORK.mkdir(parents=True, exist_ok=True)
    for old in WORK.glob("*.log"):
        old.unlink()
    pg = PrivatePostgres(WORK)
    fleet = Fleet("", args.apps, WORK)
    report: dict[str, Any] = {"machine": machine_info(), "options": vars(args).copy()}
    try:
        pg.init()
        fleet.url = pg.url
        setup = prepare(pg.url)
        fleet.start()
        async with aiohttp.ClientSession() as client:
            await fleet.wait_ready(client)
        state = State(setup["tokens"], setup["open311_key"], setup["community_id"], fleet.ports)
        # Warm-up (not measured): the first calls of each process load what they cache.
        await run_clients(state, args.clients, args.warmup, None, args.give_up, args.seed - 1)
        print(f"calibrating for {args.calibrate:.0f} s with {args.clients} clients ...")
        state.attempts.clear()
        peak = await run_clients(state, args.clients, args.calibrate, None, args.give_up, args.seed)
        rate = args.rate or peak / 2
        print(f"peak {peak:.1f} operations/s; soaking at {rate:.1f}/s for {args.minutes} min")
        report["peak_ops_per_s"] = round(peak, 1)
        report["rate_ops_per_s"] = round(rate, 1)
        calibration_attempts = len(state.attempts)
        report["calibration_latency_ms"] = latencies(state.attempts)
        report["calibration_failed_attempts"] = sum(a.outcome != "ok" for a in state.attempts)
        state.attempts.clear()
        windows: list[Window] = []
        samples: list[dict[str, Any]] = []
        seconds = args.minutes * 60
        start = time.monotonic()
        await asyncio.gather(
            run_clients(state, args.clients, seconds, rate, args.give_up, args.seed + 1),
            chaos(fleet, pg, start, seconds, args.kills, windows),
            sample(fleet, pg.url, start, start + seconds, samples),
        )
        report["soak_seconds"] = round(time.monotonic() - start, 1)
        report["load_average_at_end"] = Path("/proc/loadavg").read_text().split()[:3]
        last_ready = max(w.ready for w in windows)
        last_ready_wall = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=time.monotonic() - last_ready)
        print("soak over; waiting for the outboxes to drain and a scheduler round ...")
        report["outboxes_at_end"] = await asyncio.to_thread(backlog, pg.url)
        report["outboxes_drained_after_s"] = await asyncio.to_thread(drain, pg.url, args.drain)
        await asyncio.sleep(args.settle)
        report["crash_windows"] = [
            {"what": w.what, "at_s": round(w.start - start, 1), "down_s": round(w.ready - w.start, 1)}
            for w in windows
        ]
        report["operations"] = dict(state.ops)
        report["final_refusals"] = dict(state.refused)
        report["calibration_attempts"] = calibration_attempts
        report["soak_latency_ms"] = latencies(state.attempts)
        report["errors"] = errors_outside(state.attempts, windows, args.grace, start)
        report["checks"] = verify(pg.url, state, last_ready_wall)
        report["resources"] = steadiness(samples, fleet)
        report["samples"] = samples
    finally:
        fleet.stop()
        pg.destroy()
    return report


def backlog(url: str) -> dict[str, int]:
    """What the outboxes hold: requests waiting for triage, notifications due (30 s of slack)."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            triage = connection.execute(text("SELECT count(*) FROM triage_queue")).scalar_one()
            due = connection.execute(
                text("SELECT count(*) FROM notifications WHERE state = 'pending' AND next_attempt_at < :t"),
                {"t": dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30)},
            ).scalar_one()
    finally:
        engine.dispose()
    return {"triage_queue": triage, "notifications_due": due}


def drain(url: str, limit: float) -> float | None:
    """Seconds until both outboxes are empty once the traffic has stopped (the worker and the jobs catching up
    with what the soak's rate left them), or None if they still hold rows after `limit` seconds."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if not any(backlog(url).values()):
            return round(time.monotonic() - started, 1)
        time.sleep(5)
    return None


def passed(report: dict[str, Any]) -> bool:
    checks = report["checks"]
    return (
        checks["acknowledged_missing"] == 0
        and checks["acknowledged_more_than_once"] == 0
        and checks["acknowledged_wrong_number"] == 0
        and checks["given_up_stored_more_than_once"] == 0
        and not checks["steps_not_exactly_once"]
        and not checks["projections_not_equal_to_fold"]
        and not checks["jobs_not_run_since_last_restart"]
        and checks["triage_queue_left"] == 0
        and checks["notifications_due_unsent"] == 0
        and report["errors"]["failed_outside_crash_windows"] == 0
        and report["calibration_failed_attempts"] == 0
    )


def markdown(report: dict[str, Any]) -> str:
    m, c, e = report["machine"], report["checks"], report["errors"]
    lines = [
        f"# Soak with crashes, {report['date']}",
        "",
        f"Machine: {m['cpu_model']}, {m['cpu_count']} cores, {m['ram_gib']} GiB; load average "
        f"{' '.join(m['load_average_at_start'])} at the start, {' '.join(report['load_average_at_end'])} at the end "
        f"(shared machine). Options: {json.dumps(report['options'])}.",
        "",
        f"Peak {report['peak_ops_per_s']} operations/s (calibration), soak at {report['rate_ops_per_s']}/s for "
        f"{report['soak_seconds']} s. Operations: {json.dumps(report['operations'])}.",
        "",
        "| crash | at (s) | until answering again (s) |",
        "|---|---|---|",
        *(f"| {w['what']} | {w['at_s']} | {w['down_s']} |" for w in report["crash_windows"]),
        "",
        "| check | result |",
        "|---|---|",
        f"| submissions answered 201 (API and Open311) | {c['acknowledged_201']} |",
        f"| ... missing / stored twice / wrong number | {c['acknowledged_missing']} / "
        f"{c['acknowledged_more_than_once']} / {c['acknowledged_wrong_number']} |",
        f"| calls given up (never acknowledged), stored twice | {c['given_up_calls']}, "
        f"{c['given_up_stored_more_than_once']} |",
        f"| workflow steps acknowledged, not exactly once in the log | {c['steps_acknowledged']}, "
        f"{len(c['steps_not_exactly_once'])} |",
        f"| projections checked, not equal to the fold | {c['projections_checked']}, "
        f"{len(c['projections_not_equal_to_fold'])} |",
        f"| periodic jobs not run since the last restart | {c['jobs_not_run_since_last_restart'] or 'none'} "
        f"(of {len(c['jobs_seen'])}) |",
        f"| outboxes when the traffic stopped (triage queue, notifications due) | "
        f"{report['outboxes_at_end']['triage_queue']}, {report['outboxes_at_end']['notifications_due']} |",
        f"| ... drained after (s) | {report['outboxes_drained_after_s']} (limit {report['options']['drain']:.0f}) |",
        f"| triage queue left, notifications due unsent | {c['triage_queue_left']}, {c['notifications_due_unsent']} |",
        f"| attempts, failed inside crash windows | {e['attempts']}, {e['failed_inside_crash_windows']} |",
        f"| attempts outside crash windows, failed | {e['attempts_outside_crash_windows']}, "
        f"{e['failed_outside_crash_windows']} (rate {e['error_rate_outside_crash_windows']}) |",
        f"| failed attempts during calibration (no crash) | {report['calibration_failed_attempts']} |",
        f"| final 4xx answers | {json.dumps(report['final_refusals']) or 'none'} |",
        "",
        f"**{'All checks passed' if report['passed'] else 'A check FAILED'}.**",
        "",
        "Resources (first, last, max over each process's life between restarts; memory MiB, descriptors):",
        "",
        "| process | memory | descriptors |",
        "|---|---|---|",
    ]
    for name, figures in report["resources"].items():
        if isinstance(figures, dict):
            lines.append(
                f"| {name} | {figures['rss_mib_first_last_max']} | {figures['fds_first_last_max']} |"
            )
    lines += ["", "Latency of successful attempts (ms): calibration, then soak (crash windows included):", ""]
    lines += ["| operation | calibration n, p50, p95, max | soak n, p50, p95, max |", "|---|---|---|"]
    for op, figures in report["soak_latency_ms"].items():
        before = report["calibration_latency_ms"].get(op, {})
        lines.append(f"| {op} | {list(before.values())} | {list(figures.values())} |")
    lines += [
        "",
        f"PostgreSQL connections (min, max, last): {report['resources']['pg_connections_min_max_last']}.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="length of the soak (issue 20: 30)")
    parser.add_argument("--apps", type=int, default=3, help="app processes")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients")
    parser.add_argument(
        "--kills", type=int, default=3, help="rounds of SIGKILL of every app process and the worker"
    )
    parser.add_argument(
        "--rate", type=float, default=0.0, help="operations/s (default: half the measured peak)"
    )
    parser.add_argument("--warmup", type=float, default=20.0, help="seconds of unmeasured calls first")
    parser.add_argument("--calibrate", type=float, default=30.0, help="seconds measuring the peak")
    parser.add_argument(
        "--grace", type=float, default=5.0, help="seconds after a restart still in its window"
    )
    parser.add_argument("--give-up", type=float, default=120.0, help="seconds a client retries one call")
    parser.add_argument(
        "--settle", type=float, default=20.0, help="seconds for queues and jobs after the soak"
    )
    parser.add_argument(
        "--drain", type=float, default=600.0, help="seconds the outboxes may take to drain after the traffic"
    )
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--tag", default="")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if args.minutes <= 0 or args.minutes > 24 * 60 or args.apps < 1 or args.clients < 1:
        parser.error("--minutes must be in (0, 1440], --apps and --clients at least 1")
    report = asyncio.run(soak(args))
    report["date"] = dt.date.today().isoformat()
    report["passed"] = passed(report)
    print(markdown(report))
    if not args.no_write:
        name = f"soak-{report['date']}{'-' + args.tag if args.tag else ''}"
        (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
        (RESULTS / f"{name}.md").write_text(markdown(report))
    sys.exit(0 if report["passed"] else 1)


if __name__ == "__main__":
    main()
