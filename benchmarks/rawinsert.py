"""The database's own ceiling: single-row INSERT + COMMIT into the `requests` table, no framework.

`python -m benchmarks.rawinsert --url URL --concurrency 32 --duration 10` opens one connection per thread with
psycopg or sqlite3 directly (the same SQLite pragmas as the platform: WAL, synchronous=NORMAL, busy_timeout) and
inserts rows carrying every column the platform writes on intake, one transaction per row, for a fixed time.
It measures what the platform's intake rate is compared against; it does nothing the platform must also do
(no events, no assignment row, no idempotency record, no reads).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from benchmarks.loadgen import summarise

COLUMNS = [
    "tracking_number",
    "title",
    "text",
    "channel",
    "language",
    "category_id",
    "priority",
    "lat",
    "lon",
    "address",
    "contact_name",
    "contact_phone",
    "contact_email",
    "phone_last4",
    "submitter_id",
    "receiving_unit_id",
    "attributes",
    "source",
    "external_id",
    "received_at",
    "status",
    "lead_unit_id",
    "co_unit_ids",
    "extension_pending",
    "extension_days",
    "issue_id",
    "due_at",
    "deadlines",
    "overdue_stage",
    "ever_overdue",
    "answered_at_intake",
    "reopen_count",
    "return_count",
    "resolved",
    "satisfaction",
    "reply_text",
    "dispatched_at",
    "replied_at",
    "closed_at",
    "updated_at",
    "event_count",
    "support_count",
    "triage_pending",
    "triaged_at",
    "anonymised_at",
]
JSON_COLUMNS = {"attributes", "co_unit_ids", "deadlines"}
TIME_COLUMNS = {
    "received_at",
    "due_at",
    "dispatched_at",
    "replied_at",
    "closed_at",
    "updated_at",
    "triaged_at",
    "anonymised_at",
}


def check_columns() -> list[str]:
    """Columns of the platform's `requests` table this benchmark does not fill (should be none but `id`)."""
    from chengzhi.models import Base

    table = Base.metadata.tables["requests"]
    return sorted({c.name for c in table.columns} - set(COLUMNS) - {"id"})


def row(rng: random.Random, prefix: str, n: int, hub_id: int, category_id: int) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    phone = f"13{rng.randrange(10**9):09d}"
    text = f"原始插入基准 {prefix} {n}：路口垃圾堆放多日无人清理，请尽快处理（{rng.randrange(10**6)}）"
    return {
        "tracking_number": f"{prefix}{n:010d}",
        "title": text[:30],
        "text": text,
        "channel": "phone",
        "language": "zh",
        "category_id": category_id,
        "priority": "normal",
        "lat": rng.uniform(0.01, 0.99),
        "lon": rng.uniform(0.01, 1.99),
        "address": None,
        "contact_name": "张先生",
        "contact_phone": phone,
        "contact_email": None,
        "phone_last4": phone[-4:],
        "submitter_id": None,
        "receiving_unit_id": hub_id,
        "attributes": {},
        "source": "chengzhi",
        "external_id": None,
        "received_at": now,
        "status": "received",
        "lead_unit_id": None,
        "co_unit_ids": [],
        "extension_pending": False,
        "extension_days": 0,
        "issue_id": None,
        "due_at": None,
        "deadlines": {},
        "overdue_stage": None,
        "ever_overdue": False,
        "answered_at_intake": False,
        "reopen_count": 0,
        "return_count": 0,
        "resolved": None,
        "satisfaction": None,
        "reply_text": None,
        "dispatched_at": None,
        "replied_at": None,
        "closed_at": None,
        "updated_at": now,
        "event_count": 0,
        "support_count": 0,
        "triage_pending": True,
        "triaged_at": None,
        "anonymised_at": None,
    }


class Backend:
    def connect(self) -> Any:
        raise NotImplementedError

    def server_cpu_seconds(self, connection: Any) -> float | None:
        """CPU time the database server spent on this connection, where it can be read (local PostgreSQL)."""
        return None

    def insert(self, connection: Any, values: dict[str, Any]) -> None:
        raise NotImplementedError

    def ids(self) -> tuple[int, int]:
        """(id of the city unit, id of a category), so that foreign keys hold."""
        connection = self.connect()
        try:
            cursor = connection.cursor()
            cursor.execute("SELECT id FROM units WHERE kind = 'city' ORDER BY id LIMIT 1")
            hub = cursor.fetchone()[0]
            cursor.execute("SELECT id FROM categories ORDER BY id LIMIT 1")
            category = cursor.fetchone()[0]
            return int(hub), int(category)
        finally:
            connection.close()


class PostgresBackend(Backend):
    SQL = f"INSERT INTO requests ({', '.join(COLUMNS)}) VALUES ({', '.join('%s' for _ in COLUMNS)})"

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self.conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)

    def connect(self) -> Any:
        import psycopg

        return psycopg.connect(self.conninfo)

    def server_cpu_seconds(self, connection: Any) -> float | None:
        try:
            stat = Path(f"/proc/{connection.info.backend_pid}/stat").read_text()
        except OSError:
            return None  # not a local server
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def insert(self, connection: Any, values: dict[str, Any]) -> None:
        from psycopg.types.json import Json

        params = [Json(values[c]) if c in JSON_COLUMNS else values[c] for c in COLUMNS]
        connection.execute(self.SQL, params)
        connection.commit()


class SqliteBackend(Backend):
    SQL = f"INSERT INTO requests ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})"

    def __init__(self, url: str) -> None:
        database = make_url(url).database
        if not database or database == ":memory:":
            raise SystemExit("the raw insert benchmark needs a SQLite file")
        self.path = Path(database)

    def connect(self) -> Any:
        connection = sqlite3.connect(self.path, timeout=10, check_same_thread=False, isolation_level=None)
        for pragma in ("foreign_keys=ON", "journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=10000"):
            connection.execute(f"PRAGMA {pragma}")
        return connection

    def insert(self, connection: Any, values: dict[str, Any]) -> None:
        params = []
        for column in COLUMNS:
            value = values[column]
            if column in JSON_COLUMNS:
                value = json.dumps(value)
            elif column in TIME_COLUMNS and value is not None:
                value = value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
            params.append(value)
        connection.execute("BEGIN")
        try:
            connection.execute(self.SQL, params)
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise


def backend_for(url: str) -> Backend:
    return SqliteBackend(url) if make_url(url).get_backend_name() == "sqlite" else PostgresBackend(url)


def run(url: str, concurrency: int, duration: float, prefix: str) -> dict[str, Any]:
    backend = backend_for(url)
    hub_id, category_id = backend.ids()
    connections = [backend.connect() for _ in range(concurrency)]
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors: Counter[str] = Counter()
    first_error: list[str] = []
    start = threading.Barrier(concurrency + 1)
    deadline = [0.0]
    lock = threading.Lock()

    def worker(index: int) -> None:
        rng = random.Random(index)
        connection = connections[index]
        mine = latencies[index]
        n = 0
        start.wait()
        while time.perf_counter() < deadline[0]:
            values = row(rng, f"{prefix}{index:03d}", n, hub_id, category_id)
            n += 1
            began = time.perf_counter()
            try:
                backend.insert(connection, values)
            except Exception as exc:
                with lock:
                    errors[type(exc).__name__] += 1
                    if not first_error:
                        first_error.append(repr(exc)[:300])
                continue
            mine.append(time.perf_counter() - began)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    deadline[0] = began + duration
    start.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    server_cpu = [backend.server_cpu_seconds(connection) for connection in connections]
    for connection in connections:
        connection.close()
    merged = [value for values in latencies for value in values]
    return {
        "concurrency": concurrency,
        "duration_s": round(elapsed, 3),
        "ok": len(merged),
        "errors": sum(errors.values()),
        "errors_by_kind": dict(errors),
        "first_error": first_error[0] if first_error else None,
        "inserts_per_s": round(len(merged) / elapsed, 1),
        "latency_ms": summarise(merged),
        # CPU of the PostgreSQL backends serving these connections, in cores over the run (None: not readable).
        "backend_cores": None
        if None in server_cpu
        else round(sum(c for c in server_cpu if c is not None) / elapsed, 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.rawinsert", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--url", required=True, help="SQLAlchemy URL of a migrated Chengzhi database")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--prefix", default="R", help="tracking-number prefix of the inserted rows")
    parser.add_argument("--out", help="write the JSON summary here (default: stdout)")
    args = parser.parse_args(argv)
    missing = check_columns()
    if missing:
        raise SystemExit(f"the requests table has columns this benchmark does not fill: {', '.join(missing)}")
    result = run(args.url, args.concurrency, args.duration, args.prefix)
    text = json.dumps(result, ensure_ascii=False, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
