"""Intake benchmark on one database: a fresh database, a small city, uvicorn with N workers, then three phases.

1. submit: `POST /api/v1/requests` from the load generator (a separate process) as an operator, channel "phone";
2. read:   `GET /api/v1/requests/{tracking_number}` of requests created in phase 1;
3. raw:    single-row INSERT + COMMIT into the same `requests` table with psycopg / sqlite3 directly, from the
           same number of connections, with the server stopped: the database's ceiling for committed inserts.

During each phase the CPU time of the server processes, the load generator, the PostgreSQL processes and the
whole machine is sampled from /proc, so that the report shows who used the cores.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "var" / "bench"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Options:
    quiet_wait: float = 0.0  # seconds to wait for a quiet machine before each phase
    concurrency: int = 32
    workers: int = 2
    warmup: float = 5.0
    duration: float = 20.0
    read_duration: float = 20.0
    raw_duration: float = 10.0
    raw_single_duration: float = 5.0
    ramp: float = 2.0
    # Submissions offered per second in all (open loop, latency from each request's scheduled time); 0: closed
    # loop, every client sends again as soon as it has its answer (the platform's maximum rate).
    rate: float = 0.0
    # Train a category model on load-generator-like texts and make it active: intake then classifies every
    # request and dispatches the sure ones itself (what a city with a trained model pays per submission).
    with_model: bool = False
    # How long the triage worker may take to empty the outbox after the submit phase (issue 19: 5 minutes).
    catch_up_timeout: float = 600.0


# ---------------------------------------------------------------- database and fixture


def recreate_postgres(url: str) -> None:
    parsed = make_url(url)
    name = parsed.database
    if not name or not name.replace("_", "").isalnum():
        raise SystemExit(f"refusing to recreate the PostgreSQL database {name!r}")
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()


def recreate_sqlite(url: str) -> None:
    database = make_url(url).database
    if not database:
        raise SystemExit("the SQLite benchmark needs a file")
    path = Path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def build_city(url: str) -> dict[str, str]:
    """The tests' small city (lon 0..2, lat 0..1: two districts, four streets, eight communities, departments,
    the categories litter/road/water/bus, a user per role). Returns an API token for the operator and the
    resident, the two users the load generator acts as."""
    from sqlalchemy.orm import Session
    from tests.factories import build_city as build_test_city

    from chengzhi.db import make_engine
    from chengzhi.org.service import issue_token

    engine = make_engine(url)
    try:
        with Session(engine) as session, session.begin():
            city = build_test_city(session)
            return {
                username: issue_token(session, city.users[username], days=1, name="bench")[0]
                for username in ("operator", "resident")
            }
    finally:
        engine.dispose()


def activate_model(url: str) -> dict[str, Any]:
    """Trains a category model on 1,200 texts made like the load generator's and registers it as active."""
    import random
    import shutil

    from sqlalchemy.orm import Session

    from benchmarks.loadgen import submission
    from chengzhi.config import Settings
    from chengzhi.db import make_engine
    from chengzhi.routing import classifier_features, classifier_training, registry

    rng = random.Random(7)
    bodies = [submission(rng, "phone") for _ in range(1200)]
    data = classifier_training.TrainingData(
        [b["text"] for b in bodies], [b["category"] for b in bodies], source="bench"
    )
    model = classifier_training.train(data, classifier_features.ClassifierConfig(folds=3))
    shutil.rmtree(WORK / "models", ignore_errors=True)
    settings = Settings(database_url=url, model_dir=WORK / "models")
    engine = make_engine(url)
    try:
        with Session(engine) as session, session.begin():
            row = registry.register(session, model, settings=settings, activate=True, actor="bench")
            return {
                "version": row.version,
                "labels": row.labels,
                "training_seconds": model.meta["training_seconds"],
            }
    finally:
        engine.dispose()


def count_dispatched(url: str) -> int:
    from chengzhi.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return int(
                connection.execute(
                    text("SELECT count(*) FROM requests WHERE status = 'dispatched'")
                ).scalar_one()
            )
    finally:
        engine.dispose()


def count_requests(url: str) -> int:
    from chengzhi.db import make_engine
    from chengzhi.requests.models import Request

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(Request)).scalar_one())
    finally:
        engine.dispose()


# ---------------------------------------------------------------- CPU accounting from /proc


def _processes() -> dict[int, tuple[str, int, float]]:
    """pid -> (command name, parent pid, CPU seconds used so far)."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        table[int(entry)] = (name, int(fields[1]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS)
    return table


def _machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


def _postgres_pids(table: dict[int, tuple[str, int, float]], database: str) -> set[int]:
    """The server's own processes and the backends of `database` (not those of other databases)."""
    pids = set()
    for pid, (name, _ppid, _cpu) in table.items():
        if name != "postgres":
            continue
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        # Backends are titled "postgres: 15/main: user database host(port) state"; background processes have
        # no client address.
        if f" {database} " in title or "(" not in title:
            pids.add(pid)
    return pids


def _snapshot(server_pid: int | None, database: str | None) -> dict[str, Any]:
    table = _processes()
    tree = set()
    if server_pid is not None:
        tree.add(server_pid)
        changed = True
        while changed:
            children = {pid for pid, (_n, ppid, _c) in table.items() if ppid in tree} - tree
            tree |= children
            changed = bool(children)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy, total = _machine_busy()
    postgres = _postgres_pids(table, database) if database else set()
    return {
        "server": {pid: table[pid][2] for pid in tree if pid in table},
        "database": {pid: table[pid][2] for pid in postgres},
        "loadgen": usage.ru_utime + usage.ru_stime,  # finished children: the load generator or raw inserter
        "machine_busy": busy,
        "machine_total": total,
    }


def _grown(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU used between two per-process readings; a process that ended in between is not counted."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


@contextmanager
def cpu_meter(server_pid: int | None, out: dict[str, Any], database: str | None = None) -> Iterator[None]:
    """Fill `out` with the cores' worth of CPU each component used over the block (1.0 = one full core):
    the server's process tree, finished child processes (the client), the PostgreSQL processes serving
    `database`, and the whole machine."""
    before = _snapshot(server_pid, database)
    started = time.perf_counter()
    yield
    elapsed = time.perf_counter() - started
    after = _snapshot(server_pid, database)
    cores = os.cpu_count() or 1
    machine_busy = after["machine_busy"] - before["machine_busy"]
    machine_total = after["machine_total"] - before["machine_total"]
    out.update(
        {
            "elapsed_s": round(elapsed, 3),
            "server_cores": round(_grown(before["server"], after["server"]) / elapsed, 2),
            # Each server process (the uvicorn supervisor and its workers), busiest first: shows an uneven spread.
            "server_cores_by_process": sorted(
                (
                    round((cpu - before["server"].get(pid, 0.0)) / elapsed, 2)
                    for pid, cpu in after["server"].items()
                ),
                reverse=True,
            ),
            "client_cores": round((after["loadgen"] - before["loadgen"]) / elapsed, 2),
            # Processes alive at the end of the block; see `add_backends` for backends that ended inside it.
            "postgres_cores": round(_grown(before["database"], after["database"]) / elapsed, 2),
            "machine_busy_cores": round(cores * machine_busy / max(machine_total, 1e-9), 2),
            "machine_cores": cores,
        }
    )


def add_backends(cpu: dict[str, Any], backend_cores: float | None) -> None:
    """Add the CPU of PostgreSQL backends that ended inside the block (the raw inserter's), as it measured them."""
    if backend_cores is not None:
        cpu["postgres_cores"] = round(cpu["postgres_cores"] + backend_cores, 2)


def wait_until_quiet(
    max_wait: float, threshold_cores: float = 0.2, say: Callable[[str], None] = print
) -> float:
    """Wait (up to `max_wait` seconds) until the machine's busy CPU over 3 s is under `threshold_cores`, so that
    other work does not take the cores from the benchmark. Returns the busy cores last seen."""
    cores = os.cpu_count() or 1
    deadline = time.monotonic() + max_wait
    while True:
        busy0, total0 = _machine_busy()
        time.sleep(3)
        busy1, total1 = _machine_busy()
        busy = cores * (busy1 - busy0) / max(total1 - total0, 1e-9)
        if busy < threshold_cores or time.monotonic() >= deadline:
            return round(busy, 2)
        say(f"waiting for a quiet machine: {busy:.2f} cores busy")


# ---------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _health(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/api/v1/health", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@contextmanager
def server(url: str, workers: int, log_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """uvicorn with `workers` processes on a free loopback port; yields (base URL, process)."""
    port = free_port()
    env = dict(os.environ)
    env.update(
        {
            "CHENGZHI_DATABASE_URL": url,
            "CHENGZHI_SCHEDULER_ENABLED": "false",
            "CHENGZHI_ENVIRONMENT": "development",
            "CHENGZHI_MEDIA_DIR": str(WORK / "media"),
            "CHENGZHI_MODEL_DIR": str(WORK / "models"),
        }
    )
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "chengzhi.app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    base_url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while not _health(base_url):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not start; see {log_path}")
                time.sleep(0.2)
            # Every worker answers before measuring: a few more health checks land on both.
            for _ in range(4 * workers):
                _health(base_url)
            yield base_url, process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def _python_module(module: str, args: list[str]) -> dict[str, Any]:
    out = WORK / f"{module.rsplit('.', 1)[-1]}-result.json"
    out.unlink(missing_ok=True)
    completed = subprocess.run(
        [sys.executable, "-m", module, *args, "--out", str(out)], cwd=ROOT, capture_output=True, text=True
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{module} failed ({completed.returncode}):\n{completed.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


EMERGENCY_TEXT = "3栋楼道里煤气味很重，有人头晕，请马上派人处理（探测 {n}）"


class EmergencyProbe:
    """During the submit phase, once a second: an emergency submitted as a resident would phone it in, then its
    request polled every 20 ms until the dispatchers see the emergency priority. Reports the seconds from the 201
    to that moment (issue 19: within 1 s, whatever the backlog)."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.seconds: list[float] = []
        self.missed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, headers=self.headers, method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer

    def _run(self) -> None:
        n = 0
        while not self._stop.wait(1.0):
            n += 1
            body = {"text": EMERGENCY_TEXT.format(n=n), "channel": "phone", "lat": 0.5, "lon": 0.5}
            try:
                number = self._call("POST", "/api/v1/requests", body)["request"]["tracking_number"]
            except Exception:  # the submit phase's errors are counted by the load generator
                continue
            acknowledged = time.monotonic()
            while time.monotonic() - acknowledged < 30:
                try:
                    shown = self._call("GET", f"/api/v1/requests/{number}")
                except Exception:
                    shown = {}
                if shown.get("priority") == "emergency":
                    self.seconds.append(time.monotonic() - acknowledged)
                    break
                time.sleep(0.02)
            else:
                self.missed += 1

    def __enter__(self) -> EmergencyProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=40)

    def figures(self) -> dict[str, Any]:
        values = sorted(self.seconds)
        return {
            "probes": len(values) + self.missed,
            "missed_30s": self.missed,
            "p50_s": _percentile(values, 0.5),
            "p95_s": _percentile(values, 0.95),
            "max_s": round(values[-1], 3) if values else None,
        }


def triage_figures(url: str, timeout: float) -> dict[str, Any]:
    """After a submit phase: seconds until the intake outbox is empty (the worker caught up), then the triage lag
    of every request (triaged_at - received_at) and the worker's rate while it had a backlog."""
    engine = create_engine(url)
    started = time.monotonic()
    depth_at_end = None
    caught_up = None
    with engine.connect() as conn:
        while time.monotonic() - started < timeout:
            depth = conn.execute(text("SELECT count(*) FROM triage_queue")).scalar_one()
            conn.commit()
            if depth_at_end is None:
                depth_at_end = depth
            if depth == 0:
                caught_up = round(time.monotonic() - started, 2)
                break
            time.sleep(0.25)
        rows = conn.execute(
            text("SELECT received_at, triaged_at FROM requests WHERE triaged_at IS NOT NULL")
        ).all()
    engine.dispose()

    def _when(value: Any) -> float:
        if isinstance(value, str):  # SQLite
            from datetime import datetime

            value = datetime.fromisoformat(value)
        return float(value.timestamp())

    pairs = [(_when(r[0]), _when(r[1])) for r in rows]
    lags = [max(0.0, done - received) for received, done in pairs]
    finished = sorted(done for _, done in pairs)
    span = (finished[-1] - finished[0]) if len(finished) > 1 else 0.0
    return {
        "outbox_depth_after_submit": depth_at_end,
        "catch_up_s": caught_up,
        "triaged": len(pairs),
        "lag_s": {
            "p50": _percentile(lags, 0.5),
            "p95": _percentile(lags, 0.95),
            "max": _percentile(lags, 1.0),
        },
        "triaged_per_s_overall": round(len(finished) / span, 1) if span else None,
    }


# ---------------------------------------------------------------- one database


def measure(name: str, url: str, options: Options, say: Callable[[str], None] = print) -> dict[str, Any]:
    """The three phases on one database, recreated first. Returns figures and settings as plain data."""
    from chengzhi.migrate import upgrade

    WORK.mkdir(parents=True, exist_ok=True)
    backend = make_url(url).get_backend_name()
    database = make_url(url).database if backend == "postgresql" else None
    say(f"[{name}] recreating the database and migrating")
    if backend == "sqlite":
        recreate_sqlite(url)
    else:
        recreate_postgres(url)
    upgrade(url)
    tokens = build_city(url)
    result_model = activate_model(url) if options.with_model else None
    tracking_file = WORK / f"tracking-{name}.txt"
    result: dict[str, Any] = {"database": name, "url": make_url(url).render_as_string(hide_password=True)}
    if result_model is not None:
        result["model"] = result_model
    common = ["--concurrency", str(options.concurrency)]
    ramp = ["--ramp", str(options.ramp)]

    with server(url, options.workers, WORK / f"server-{name}.log") as (base_url, process):
        say(
            f"[{name}] uvicorn ({options.workers} workers) at {base_url}; submitting for {options.duration:g} s"
        )
        cpu: dict[str, Any] = {"busy_before": wait_until_quiet(options.quiet_wait, say=say)}
        with cpu_meter(process.pid, cpu, database), EmergencyProbe(base_url, tokens["operator"]) as probe:
            submit = _python_module(
                "benchmarks.loadgen",
                [
                    "--base-url",
                    base_url,
                    "--mode",
                    "submit",
                    "--token",
                    tokens["operator"],
                    "--channel",
                    "phone",
                    "--warmup",
                    str(options.warmup),
                    "--duration",
                    str(options.duration),
                    "--tracking-file",
                    str(tracking_file),
                    "--rate",
                    str(options.rate),
                    *common,
                    *ramp,
                ],
            )
        result["submit"] = submit | {"cpu": cpu}
        result["emergency_probe"] = probe.figures()
        say(f"[{name}] submit: {_line(submit)}")
        say(f"[{name}] emergencies seen by dispatchers after: {result['emergency_probe']}")
        say(f"[{name}] waiting for the triage worker to empty the intake outbox")
        result["triage"] = triage_figures(url, options.catch_up_timeout)
        say(f"[{name}] triage: {result['triage']}")
        say(f"[{name}] reading for {options.read_duration:g} s")
        cpu = {"busy_before": wait_until_quiet(options.quiet_wait, say=say)}
        with cpu_meter(process.pid, cpu, database):
            read = _python_module(
                "benchmarks.loadgen",
                [
                    "--base-url",
                    base_url,
                    "--mode",
                    "read",
                    "--token",
                    tokens["operator"],
                    "--warmup",
                    str(min(options.warmup, 3.0)),
                    "--duration",
                    str(options.read_duration),
                    "--tracking-file",
                    str(tracking_file),
                    *common,
                    *ramp,
                ],
            )
        result["read"] = read | {"cpu": cpu}
        say(f"[{name}] read: {_line(read)}")

    committed = count_requests(url)
    result["requests_committed"] = committed
    if options.with_model:
        result["model"]["dispatched_at_intake"] = count_dispatched(url)
    result["requests_acknowledged_min"] = submit["ok"]
    if committed < submit["ok"]:
        raise RuntimeError(f"{submit['ok']} submissions got 201 but only {committed} rows are in the table")

    say(
        f"[{name}] raw inserts, {options.concurrency} connections, {options.raw_duration:g} s (server stopped)"
    )
    cpu = {"busy_before": wait_until_quiet(options.quiet_wait, say=say)}
    with cpu_meter(None, cpu, database):
        raw = _python_module(
            "benchmarks.rawinsert",
            ["--url", url, "--duration", str(options.raw_duration), "--prefix", "R", *common],
        )
    add_backends(cpu, raw.get("backend_cores"))
    result["raw"] = raw | {"cpu": cpu}
    say(f"[{name}] raw: {raw['inserts_per_s']}/s, p99 {raw['latency_ms'].get('p99')} ms")
    if options.raw_single_duration > 0:
        single = _python_module(
            "benchmarks.rawinsert",
            [
                "--url",
                url,
                "--duration",
                str(options.raw_single_duration),
                "--prefix",
                "S",
                "--concurrency",
                "1",
            ],
        )
        result["raw_single_connection"] = single
        say(f"[{name}] raw, 1 connection: {single['inserts_per_s']}/s")
    result["ratio_platform_to_raw"] = (
        round(submit["throughput_per_s"] / raw["inserts_per_s"], 3) if raw["inserts_per_s"] else None
    )
    return result


def _line(figures: dict[str, Any]) -> str:
    latency = figures.get("latency_ms", {})
    return (
        f"{figures['throughput_per_s']}/s ok={figures['ok']} errors={figures['errors']} "
        f"p50={latency.get('p50')} p90={latency.get('p90')} p99={latency.get('p99')} max={latency.get('max')} ms"
    )
