"""Beyond one machine: a 10,000,000-request PostgreSQL database, plain and partitioned by month (docs/scaling.md).

`python -m benchmarks.scaling build --requests 10000000` creates two databases on the local server,
`bench_scaling_plain` (the schema exactly as the migrations make it) and `bench_scaling_parted` (the same, then
`requests`, `request_events` and `request_facts` turned into tables partitioned by month of `received_at`, `at`
and `received_day`), and fills both server-side with `generate_series`: the same deterministic rows in both (every
value is a hash of the row's number), 24 months of requests, 177 territorial units and 20 departments, 60
categories with a skewed distribution, statuses by age, 1-4 events per request, a hub row and a lead row in
`request_units`, one `request_facts` row per request.

`python -m benchmarks.scaling measure --out benchmarks/results/scaling-DATE` then measures both databases in
alternation (plain, parted, parted, plain, ...): intake's real insert statement (`requests/intake_sql.py`) from
concurrent clients, the staff inbox (`requests.lists.list_requests`), the dashboards' table
(`metrics.rates.table` over `request_facts`, 30 and 365 days), a tracking-number lookup, a request's timeline,
ANALYZE, and the tables' sizes; the load average is recorded with every figure. `drop` drops both databases.

Not in the default test run; `tests/test_scaling_ddl.py` checks only that the partitioned DDL builds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import random
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session
from sqlalchemy.schema import CreateIndex

from chengzhi.metrics import rates, rollup
from chengzhi.metrics.scope import Scope
from chengzhi.migrate import upgrade
from chengzhi.models import Base
from chengzhi.org.models import Role, Unit
from chengzhi.org.service import Actor, RoleGrant
from chengzhi.requests import intake_sql
from chengzhi.requests.lists import RequestFilters, list_requests
from chengzhi.requests.models import Request, RequestEvent

SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
# A suffix (CHENGZHI_SCALING_SUFFIX=_small) keeps a small trial pair beside the big one.
SUFFIX = os.environ.get("CHENGZHI_SCALING_SUFFIX", "")
NAMES = {"plain": f"bench_scaling_plain{SUFFIX}", "parted": f"bench_scaling_parted{SUFFIX}"}
# The data's "now": 24 months of requests end here.
NOW = dt.datetime(2026, 12, 7, tzinfo=dt.UTC)
START = NOW - dt.timedelta(days=730)
# Partitioned tables: the column each is partitioned by (month ranges), and what it means for keys.
PARTITIONED = {"requests": "received_at", "request_events": "at", "request_facts": "received_day"}
FILLED = ("requests", "request_units", "request_events", "request_facts")


def url(db: str) -> str:
    return f"{SERVER}/{db}"


def load() -> float:
    return round(os.getloadavg()[0], 1)


def log(message: str) -> None:
    print(f"{dt.datetime.now(dt.UTC):%H:%M:%S} load {load():5.1f}  {message}", flush=True)


# --- Building ---------------------------------------------------------------------------------------------


def months(first: dt.date, last: dt.date) -> list[tuple[dt.date, dt.date]]:
    out = []
    day = first.replace(day=1)
    while day <= last:
        following = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        out.append((day, following))
        day = following
    return out


def _key_with(definition: str, column: str) -> str:
    """`PRIMARY KEY (id)` -> `PRIMARY KEY (id, received_at)`: a partitioned table's unique keys must hold the
    partition key."""
    head, _, cols = definition.partition("(")
    names = [c.strip() for c in cols.rstrip(")").split(",")]
    if column not in names:
        names.append(column)
    return f"{head}({', '.join(names)})"


def partition_table(conn: Connection, table: str, column: str, first: dt.date, last: dt.date) -> list[str]:
    """Replaces an empty table by one partitioned by month of `column`, with the same columns, defaults,
    indexes and outgoing foreign keys; primary and unique keys gain the partition column. Foreign keys that
    referenced the table are dropped (PostgreSQL needs the referenced key to hold the partition column): their
    names are returned."""
    constraints = conn.execute(
        text(
            "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = CAST(:t AS regclass) AND contype IN ('p', 'u', 'f') ORDER BY contype DESC"
        ),
        {"t": table},
    ).all()
    indexes = conn.scalars(
        text(
            "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = CAST(:t AS regclass) "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
        ),
        {"t": table},
    ).all()
    incoming = conn.execute(
        text(
            "SELECT conrelid::regclass::text, conname FROM pg_constraint "
            "WHERE confrelid = CAST(:t AS regclass) AND contype = 'f' AND conrelid <> confrelid"
        ),
        {"t": table},
    ).all()
    sequence = conn.scalar(
        text(
            "SELECT pg_get_serial_sequence(:t, 'id') FROM information_schema.columns "
            "WHERE table_name = :t AND column_name = 'id'"
        ),
        {"t": table},
    )
    if sequence:
        conn.execute(text(f"ALTER SEQUENCE {sequence} OWNED BY NONE"))
    conn.execute(text(f"ALTER TABLE {table} RENAME TO {table}_unparted"))
    conn.execute(
        text(
            f"CREATE TABLE {table} (LIKE {table}_unparted INCLUDING DEFAULTS INCLUDING STORAGE) "
            f"PARTITION BY RANGE ({column})"
        )
    )
    conn.execute(text(f"DROP TABLE {table}_unparted CASCADE"))
    for name, kind, definition in constraints:
        if kind in ("p", "u"):
            definition = _key_with(definition, column)
        conn.execute(text(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}"))
    for definition in indexes:
        conn.execute(text(definition.replace(" ON ONLY ", " ON ")))
    if sequence:
        conn.execute(text(f"ALTER SEQUENCE {sequence} OWNED BY {table}.id"))
    for lo, hi in months(first, last):
        conn.execute(
            text(
                f"CREATE TABLE {table}_{lo:%Y%m} PARTITION OF {table} "
                f"FOR VALUES FROM ('{lo.isoformat()}') TO ('{hi.isoformat()}')"
            )
        )
    conn.execute(text(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT"))
    return [f"{referrer}.{name}" for referrer, name in incoming]


SEED = """
INSERT INTO units (id, code, name_zh, name_en, kind, parent_id, path, active, created_at)
SELECT 1, 'city', '市', 'City', 'city', NULL, '/1/', true, now()
UNION ALL SELECT d, 'd' || d, '区' || d, 'District ' || d, 'district', 1, '/1/' || d || '/', true, now()
  FROM generate_series(2, 17) d
UNION ALL SELECT s, 's' || s, '街道' || s, 'Street ' || s, 'street', 2 + (s - 18) / 10,
  '/1/' || (2 + (s - 18) / 10) || '/' || s || '/', true, now() FROM generate_series(18, 177) s
UNION ALL SELECT p, 'p' || p, '部门' || p, 'Department ' || p, 'department', 1, '/1/' || p || '/', true, now()
  FROM generate_series(178, 197) p;
SELECT setval(pg_get_serial_sequence('units', 'id'), 197);
INSERT INTO categories (id, code, name_zh, name_en, group_zh, group_en, description, keywords, handler_kind,
  default_priority, time_limits, attributes, service_type, active, created_at)
SELECT c, 'c' || c, '类别' || c, 'Category ' || c, '', '', '', '', 'street', 'normal', '{}', '[]', 'realtime',
  true, now() FROM generate_series(1, 60) c;
SELECT setval(pg_get_serial_sequence('categories', 'id'), 60);
CREATE FUNCTION bench_u(i bigint, k int) RETURNS float8 IMMUTABLE LANGUAGE sql
  AS $$ SELECT (hashint8(i * 64 + k) & 2147483647)::float8 / 2147483648.0 $$;
"""

# One chunk of requests [lo, hi]: every value a function of i (the same rows in both databases).
REQUESTS = """
WITH s AS (
  SELECT i, CAST(:start AS timestamptz) + (i - 0.5) / :n * interval '730 days' AS rt,
         bench_u(i, 1) u1, bench_u(i, 2) u2, bench_u(i, 3) u3, bench_u(i, 4) u4, bench_u(i, 5) u5,
         bench_u(i, 6) u6, bench_u(i, 7) u7, bench_u(i, 8) u8, bench_u(i, 9) u9
  FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) i
), t AS (
  SELECT *, CASE WHEN rt < CAST(:now AS timestamptz) - interval '30 days' THEN
              CASE WHEN u3 < 0.93 THEN 'closed' WHEN u3 < 0.96 THEN 'reviewed' WHEN u3 < 0.98 THEN 'replied'
                   ELSE 'signed' END
            ELSE CASE WHEN u3 < 0.10 THEN 'received' WHEN u3 < 0.30 THEN 'dispatched' WHEN u3 < 0.45 THEN 'signed'
                   WHEN u3 < 0.55 THEN 'contacted' WHEN u3 < 0.75 THEN 'replied' WHEN u3 < 0.85 THEN 'reviewed'
                   ELSE 'closed' END END AS st,
         '13' || lpad(((i * 104729) % 1000000000)::text, 9, '0') AS phone
  FROM s
), v AS (
  SELECT *, CASE WHEN st = 'received' THEN NULL WHEN u6 < 0.8 THEN 18 + floor(u7 * 160)::int
                 ELSE 178 + floor(u7 * 20)::int END AS lead,
         CASE WHEN st = 'received' THEN NULL ELSE rt + interval '1 minute' * (5 + u9 * 60) END AS disp,
         CASE WHEN st IN ('replied', 'reviewed', 'closed') THEN rt + interval '1 hour' * (4 + u9 * 200) END AS repl,
         (ARRAY['小区门口垃圾堆放多日无人清理', '夜间施工噪音扰民影响休息', '路灯不亮存在安全隐患',
                '道路破损积水影响通行', '楼道堆物占用消防通道', '供暖温度不达标屋里很冷',
                '共享单车乱停放堵塞人行道', '饭店油烟直排扰民'])[1 + floor(u8 * 8)::int]
           || '，请有关部门尽快处理。市民来电第' || i || '号' AS body
  FROM t
)
INSERT INTO requests (id, tracking_number, title, text, channel, language, category_id, priority, lat, lon,
  address, contact_name, contact_phone, contact_email, phone_last4, submitter_id, receiving_unit_id, attributes,
  source, external_id, received_at, status, lead_unit_id, co_unit_ids, extension_pending, extension_days,
  issue_id, due_at, deadlines, overdue_stage, ever_overdue, answered_at_intake, reopen_count, return_count,
  resolved, satisfaction, reply_text, dispatched_at, replied_at, closed_at, updated_at, event_count,
  support_count, triage_pending, triaged_at, anonymised_at)
SELECT i, to_char(rt AT TIME ZONE 'Asia/Shanghai', 'YYMMDD') || lpad(((i * 7919) % 100000000)::text, 8, '0'),
  left(body, 30), body,
  CASE WHEN u2 < 0.7 THEN 'phone' WHEN u2 < 0.85 THEN 'web' WHEN u2 < 0.95 THEN 'app' ELSE 'wechat' END,
  'zh', 1 + floor(60 * u1 * u1)::int, CASE WHEN u4 < 0.01 THEN 'emergency' WHEN u4 < 0.05 THEN 'high'
  ELSE 'normal' END, 39.7 + u4 * 0.4, 116.2 + u5 * 0.5, NULL, '张先生', phone, NULL, right(phone, 4), NULL, 1,
  '{}', 'chengzhi', NULL, rt, st, lead, '[]', false, 0, NULL,
  CASE WHEN lead IS NOT NULL THEN rt + interval '15 days' END, '{}',
  CASE WHEN st IN ('dispatched', 'signed', 'contacted') AND rt + interval '15 days' < CAST(:now AS timestamptz)
       THEN 'reply' END,
  u9 < 0.05, false, 0, 0, CASE WHEN st = 'closed' THEN u5 < 0.85 END,
  CASE WHEN st = 'closed' THEN 1 + floor(u6 * 5)::int END, CASE WHEN repl IS NOT NULL THEN '已处理，感谢来电。' END,
  disp, repl, CASE WHEN st = 'closed' THEN repl + interval '2 days' END,
  COALESCE(CASE WHEN st = 'closed' THEN repl + interval '2 days' END, repl, disp, rt),
  CASE WHEN st = 'received' THEN 1 WHEN st = 'closed' THEN 4 WHEN repl IS NOT NULL THEN 3 ELSE 2 END,
  0, false, rt + interval '3 seconds', NULL
FROM v
"""

UNITS = """
INSERT INTO request_units (request_id, unit_id, unit_path, role)
SELECT id, 1, '/1/', 'hub' FROM requests WHERE id BETWEEN :lo AND :hi
UNION ALL
SELECT r.id, r.lead_unit_id, u.path, 'lead' FROM requests r JOIN units u ON u.id = r.lead_unit_id
WHERE r.id BETWEEN :lo AND :hi
"""

EVENTS = """
INSERT INTO request_events (request_id, seq, action, at, actor_id, actor_unit_id, note, payload)
SELECT r.id, e.seq, (ARRAY['receive', 'dispatch', 'reply', 'close'])[e.seq],
  CASE e.seq WHEN 1 THEN r.received_at WHEN 2 THEN r.dispatched_at WHEN 3 THEN r.replied_at ELSE r.closed_at END,
  NULL, CASE WHEN e.seq = 1 THEN 1 ELSE r.lead_unit_id END, NULL, '{}'
FROM requests r CROSS JOIN LATERAL generate_series(1, r.event_count) e(seq)
WHERE r.id BETWEEN :lo AND :hi AND (e.seq < 3 OR r.replied_at IS NOT NULL)
"""

FACTS = """
INSERT INTO request_facts (request_id, received_at, received_day, received_week, received_month, channel,
  category_id, status, lead_unit_id, lead_l1, lead_l2, lead_l3, lead_l4, area_district_id, area_street_id,
  area_community_id, dispatched, response_due, responded_on_time, reviewed, resolved, satisfied, excluded,
  returns, reopenings, co_handled, extended, merged, overdue_stage, ever_overdue, wait_s, sign_s, contact_s,
  reply_s, review_s, lat, lon, event_count, refreshed_at)
SELECT r.id, r.received_at, d.day, date_trunc('week', d.day)::date, date_trunc('month', d.day)::date,
  r.channel, r.category_id, r.status, r.lead_unit_id, CASE WHEN r.lead_unit_id IS NOT NULL THEN 1 END,
  CASE WHEN u.kind = 'street' THEN u.parent_id WHEN u.kind = 'department' THEN u.id END,
  CASE WHEN u.kind = 'street' THEN u.id END, NULL, 2 + (r.id % 16), NULL, NULL,
  r.dispatched_at IS NOT NULL, r.dispatched_at IS NOT NULL, r.dispatched_at IS NOT NULL AND r.id % 10 <> 0,
  r.status IN ('reviewed', 'closed'), COALESCE(r.resolved, false), COALESCE(r.satisfaction >= 4, false), NULL,
  0, 0, false, false, false, r.overdue_stage, r.ever_overdue,
  extract(epoch FROM r.dispatched_at - r.received_at), NULL, NULL,
  extract(epoch FROM r.replied_at - r.received_at), NULL, r.lat, r.lon, r.event_count, r.updated_at
FROM requests r LEFT JOIN units u ON u.id = r.lead_unit_id
CROSS JOIN LATERAL (SELECT (r.received_at AT TIME ZONE 'Asia/Shanghai')::date AS day) d
WHERE r.id BETWEEN :lo AND :hi
"""


def secondary_indexes(conn: Connection, table: str) -> list[tuple[str, str]]:
    """Indexes that back no constraint: dropped before the fill, built again after it."""
    return [
        (name, definition)
        for name, definition in conn.execute(
            text(
                "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
                "JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = CAST(:t AS regclass) "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)"
            ),
            {"t": table},
        ).all()
    ]


def build(kind: str, n: int, chunk: int) -> dict[str, Any]:
    """Creates and fills one database; returns the phases' times (seconds) with the load at each."""
    name = NAMES[kind]
    timings: dict[str, Any] = {"database": name, "requests": n, "phases": []}

    def phase(label: str, started: float) -> None:
        timings["phases"].append({"phase": label, "s": round(time.monotonic() - started, 1), "load": load()})
        log(f"{name}: {label} {time.monotonic() - started:.1f} s")

    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.execute(f"CREATE DATABASE {name}")
    started = time.monotonic()
    upgrade(url(name))
    phase("migrations", started)
    engine = create_engine(url(name))
    with engine.begin() as conn:
        for statement in SEED.split(";\n"):
            if statement.strip():
                conn.exec_driver_sql(statement)
        if kind == "parted":
            first, last = START.date(), (NOW + dt.timedelta(days=62)).date()
            dropped = []
            for table, column in PARTITIONED.items():
                dropped += partition_table(conn, table, column, first, last)
            timings["foreign_keys_dropped"] = sorted(dropped)
        saved = {t: secondary_indexes(conn, t) for t in FILLED}
        for indexes in saved.values():
            for index, _ in indexes:
                conn.execute(text(f"DROP INDEX {index}"))
    for label, statement in (("requests", REQUESTS), ("request_units", UNITS)):
        started = time.monotonic()
        fill(engine, statement, n, chunk)
        phase(f"fill {label}", started)
    # Events and facts read the requests back by id: build the requests' indexes first.
    started = time.monotonic()
    with engine.begin() as conn:
        conn.exec_driver_sql("SET maintenance_work_mem = '512MB'")
        for _, definition in saved.pop("requests"):
            conn.exec_driver_sql(definition.replace(" ON ONLY ", " ON "))
    phase("indexes requests", started)
    for label, statement in (("request_events", EVENTS), ("request_facts", FACTS)):
        started = time.monotonic()
        fill(engine, statement, n, chunk)
        phase(f"fill {label}", started)
    for table, indexes in saved.items():
        started = time.monotonic()
        with engine.begin() as conn:
            conn.exec_driver_sql("SET maintenance_work_mem = '512MB'")
            for _, definition in indexes:
                conn.exec_driver_sql(definition.replace(" ON ONLY ", " ON "))
        phase(f"indexes {table}", started)
    with engine.begin() as conn:
        for table in ("requests", "request_events", "request_units"):
            conn.execute(
                text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}")
            )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in FILLED:
            started = time.monotonic()
            conn.exec_driver_sql(f"VACUUM (ANALYZE) {table}")
            phase(f"vacuum analyze {table}", started)
    engine.dispose()
    return timings


def fill(engine: Engine, statement: str, n: int, chunk: int, first: int = 1) -> None:
    params = {"n": n, "start": START, "now": NOW}
    for lo in range(first, n + 1, chunk):
        with engine.begin() as conn:
            conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")  # no FK checks in the fill
            conn.execute(text(statement), {**params, "lo": lo, "hi": min(lo + chunk - 1, n)})


def model_indexes(engine: Engine, table: str) -> None:
    """The table's indexes as the models declare them (the migrations' names), where missing."""
    with engine.begin() as conn:
        conn.exec_driver_sql("SET maintenance_work_mem = '512MB'")
        for index in Base.metadata.tables[table].indexes:
            ddl = str(CreateIndex(index).compile(dialect=conn.dialect))
            conn.exec_driver_sql(ddl.replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS", 1))


def finish(kind: str, n: int, chunk: int, recent_days: int, facts_days: int) -> dict[str, Any]:
    """Completes a database whose build was stopped during the requests' fill (the machine was too busy for the
    whole build in the time there was): the rest of the requests from the last committed row, their indexes,
    then `request_units` and `request_events` for the requests of the last `recent_days` only, `request_facts`
    for the last `facts_days`, their indexes, VACUUM ANALYZE."""
    name = NAMES[kind]
    timings: dict[str, Any] = {"database": name, "requests": n, "recent_days": recent_days, "phases": []}

    def phase(label: str, started: float) -> None:
        timings["phases"].append({"phase": label, "s": round(time.monotonic() - started, 1), "load": load()})
        log(f"{name}: {label} {time.monotonic() - started:.1f} s")

    engine = create_engine(url(name))
    with engine.begin() as conn:
        done = int(conn.scalar(text("SELECT coalesce(max(id), 0) FROM requests")) or 0)
        conn.exec_driver_sql("TRUNCATE request_units, request_events, request_facts CASCADE")
    timings["requests_filled_by_build"] = done
    started = time.monotonic()
    fill(engine, REQUESTS, n, chunk, done + 1)
    phase(f"fill requests {done + 1}-{n}", started)
    started = time.monotonic()
    model_indexes(engine, "requests")
    phase("indexes requests", started)
    recent = max(1, int(n * (1 - recent_days / 730)))
    for label, statement, first in (
        ("request_units", UNITS, recent),
        ("request_events", EVENTS, recent),
        ("request_facts", FACTS, max(1, int(n * (1 - facts_days / 730)))),
    ):
        started = time.monotonic()
        fill(engine, statement, n, chunk, first)
        phase(f"fill {label} from id {first}", started)
    for table in ("request_units", "request_events", "request_facts"):
        started = time.monotonic()
        model_indexes(engine, table)
        phase(f"indexes {table}", started)
    with engine.begin() as conn:
        for table in ("requests", "request_events", "request_units"):
            conn.execute(
                text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}")
            )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in FILLED:
            started = time.monotonic()
            conn.exec_driver_sql(f"VACUUM (ANALYZE) {table}")
            phase(f"vacuum analyze {table}", started)
    engine.dispose()
    return timings


# --- Measuring --------------------------------------------------------------------------------------------


def timed(fn: Callable[[], Any], repeat: int, budget: float = 8.0) -> dict[str, Any]:
    """Median and max of up to `repeat` warm runs (after one run that warms the caches), in milliseconds; at least
    three runs, no more once `budget` seconds are spent (a slow query on a busy machine)."""
    fn()
    times: list[float] = []
    spent = time.monotonic() + budget
    while len(times) < repeat and (len(times) < 3 or time.monotonic() < spent):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return {
        "median_ms": round(statistics.median(times), 2),
        "max_ms": round(max(times), 2),
        "runs": len(times),
        "load": load(),
    }


def intake(engine: Engine, clients: int, seconds: float) -> dict[str, Any]:
    """The intake's own statement (request, hub, receive event, outbox row in one CTE), one commit per request,
    from `clients` threads for `seconds`."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(seed: int) -> None:
        rng = random.Random(seed)
        mine: list[float] = []
        with engine.connect() as conn:
            while time.monotonic() < stop:
                now = dt.datetime.now(dt.UTC)
                phone = f"13{rng.randrange(10**9):09d}"
                body = f"规模基准 {seed}：路口垃圾堆放多日无人清理，请尽快处理（{rng.randrange(10**6)}）"
                request = intake_sql.row(
                    intake_sql.REQUESTS,
                    {
                        "tracking_number": now.strftime("%y%m%d") + f"{rng.randrange(10**8):08d}",
                        "title": body[:30],
                        "text": body,
                        "channel": "bench",
                        "category_id": rng.randint(1, 60),
                        "lat": 39.9,
                        "lon": 116.4,
                        "contact_phone": phone,
                        "phone_last4": phone[-4:],
                        "receiving_unit_id": 1,
                        "received_at": now,
                        "updated_at": now,
                        "triage_pending": True,
                        "event_count": 1,
                    },
                )
                hub = intake_sql.row(intake_sql.UNITS, {"unit_id": 1, "unit_path": "/1/", "role": "hub"})
                event = intake_sql.row(
                    intake_sql.EVENTS, {"seq": 1, "action": "receive", "at": now, "actor_unit_id": 1}
                )
                outbox = intake_sql.row(intake_sql.QUEUE, {"kind": "intake", "enqueued_at": now})
                outbox["available_at"] = now
                started = time.perf_counter()
                try:
                    intake_sql.insert_new(conn, request, hub, event, outbox)
                    conn.commit()
                except Exception as exc:  # counted and reported, the run goes on
                    conn.rollback()
                    with lock:
                        errors.append(type(exc).__name__)
                    continue
                mine.append((time.perf_counter() - started) * 1000)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    begun = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - begun
    latencies.sort()
    return {
        "per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(latencies[len(latencies) // 2], 1) if latencies else None,
        "p99_ms": round(latencies[int(len(latencies) * 0.99)], 1) if latencies else None,
        "errors": len(errors),
        "clients": clients,
        "load": load(),
    }


def sizes(conn: Connection) -> dict[str, dict[str, int]]:
    """Heap and index sizes in MB (a partitioned table's partitions summed)."""
    out = {}
    for table in FILLED:
        heap, index = conn.execute(
            text(
                "SELECT sum(pg_table_size(relid)), sum(pg_indexes_size(relid)) "
                "FROM (SELECT relid FROM pg_partition_tree(CAST(:t AS regclass)) "
                "UNION SELECT CAST(:t AS regclass)) tree"
            ),
            {"t": table},
        ).one()
        out[table] = {"table_mb": round(int(heap) / 2**20), "indexes_mb": round(int(index) / 2**20)}
    return out


def measure_one(kind: str, repeat: int, clients: int, seconds: float) -> dict[str, Any]:
    engine = create_engine(url(NAMES[kind]), pool_size=clients + 2)
    result: dict[str, Any] = {"database": kind}
    with Session(engine) as session:
        street = session.get(Unit, 57)
        district = session.get(Unit, 5)
        city = session.get(Unit, 1)
        assert street is not None and district is not None and city is not None
        handler = Actor(user_id=1, grants=(RoleGrant(Role.handler, street.id, street.path),))
        district_supervisor = Actor(
            user_id=2, grants=(RoleGrant(Role.supervisor, district.id, district.path),)
        )
        open_ones = RequestFilters(statuses=["dispatched", "signed", "contacted"])
        result["inbox_street_all"] = timed(lambda: list_requests(session, handler, RequestFilters()), repeat)
        result["inbox_street_open"] = timed(lambda: list_requests(session, handler, open_ones), repeat)
        recent_open = RequestFilters(
            statuses=["dispatched", "signed", "contacted"], received_from=NOW - dt.timedelta(days=60)
        )
        result["inbox_street_open_60d"] = timed(lambda: list_requests(session, handler, recent_open), repeat)
        result["inbox_district_open"] = timed(
            lambda: list_requests(session, district_supervisor, open_ones), repeat
        )
        top = int(session.scalar(select(func.max(Request.id))) or 100)  # intake's rows are under 1%
        ids = [1 + (k * 7_777_777) % (top * 99 // 100) for k in range(1, 41)]
        numbers = list(session.scalars(select(Request.tracking_number).where(Request.id.in_(ids))))
        found = session.scalars(
            select(Request.received_at).where(Request.tracking_number == numbers[0])
        ).all()
        assert len(found) == 1, found
        cursor = iter(range(10**9))

        def by_tracking() -> None:
            number = numbers[next(cursor) % len(numbers)]
            session.scalar(select(Request).where(Request.tracking_number == number))

        def by_tracking_with_day() -> None:
            number = numbers[next(cursor) % len(numbers)]
            day = dt.datetime.strptime(number[:6], "%y%m%d").replace(
                tzinfo=dt.timezone(dt.timedelta(hours=8))
            )
            session.scalar(
                select(Request).where(
                    Request.tracking_number == number,
                    Request.received_at >= day,
                    Request.received_at < day + dt.timedelta(days=1),
                )
            )

        recent = [top - 1000 - k * 20011 for k in range(40)]  # events are filled for the last 60 days

        def timeline() -> None:
            request_id = recent[next(cursor) % len(recent)]
            session.scalars(
                select(RequestEvent).where(RequestEvent.request_id == request_id).order_by(RequestEvent.seq)
            ).all()

        result["tracking_lookup"] = timed(by_tracking, repeat)
        result["tracking_lookup_with_day"] = timed(by_tracking_with_day, repeat)
        result["timeline"] = timed(timeline, repeat)
        end = NOW.date()
        for days in (30, 365):
            for label, unit in (("city", city), ("district", district)):
                scope = Scope(unit=unit, start=end - dt.timedelta(days=days - 1), end=end)
                for group in ("none", "category"):
                    result[f"dashboard_{label}_{days}d_{group}"] = timed(
                        functools.partial(rates.table, session, scope, group, source="facts"),
                        max(3, repeat // 4),
                    )
        session.rollback()
    started = time.monotonic()
    with engine.begin() as conn:
        rollup.sum_days(conn, [end - dt.timedelta(days=3)])
    result["rollup_one_day_s"] = {"s": round(time.monotonic() - started, 2), "load": load()}
    result["intake"] = intake(engine, clients, seconds)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("requests", "request_events"):
            started = time.monotonic()
            conn.exec_driver_sql(f"ANALYZE {table}")
            result[f"analyze_{table}_s"] = {"s": round(time.monotonic() - started, 1), "load": load()}
        result["sizes"] = sizes(conn)
    engine.dispose()
    return result


def measure(rounds: int, repeat: int, clients: int, seconds: float, path: Path) -> list[dict[str, Any]]:
    """Both databases in alternation; the figures are written after every run (a run can be stopped)."""
    out = []
    for k in range(rounds):
        order = ("plain", "parted") if k % 2 == 0 else ("parted", "plain")
        for kind in order:
            log(f"round {k + 1}: {kind}")
            figures = measure_one(kind, repeat, clients, seconds)
            figures["round"] = k + 1
            out.append(figures)
            path.write_text(json.dumps(out, indent=2, ensure_ascii=False, default=str) + "\n")
            log(json.dumps({key: figures[key] for key in ("intake", "inbox_street_open")}))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build")
    b.add_argument("--requests", type=int, default=10_000_000)
    b.add_argument("--chunk", type=int, default=500_000)
    b.add_argument("--only", choices=sorted(NAMES))
    b.add_argument("--out", type=Path)
    m = sub.add_parser("measure")
    m.add_argument("--rounds", type=int, default=2)
    m.add_argument("--repeat", type=int, default=20)
    m.add_argument("--clients", type=int, default=8)
    m.add_argument("--seconds", type=float, default=10.0)
    m.add_argument("--out", type=Path, required=True)
    r = sub.add_parser("rollup")
    r.add_argument("--days", type=int, default=30)
    f = sub.add_parser("finish")
    f.add_argument("--only", choices=sorted(NAMES), required=True)
    f.add_argument("--requests", type=int, default=10_000_000)
    f.add_argument("--chunk", type=int, default=500_000)
    f.add_argument("--recent-days", type=int, default=60)
    f.add_argument("--facts-days", type=int, default=366)
    f.add_argument("--out", type=Path, required=True)
    sub.add_parser("drop")
    args = parser.parse_args()
    if args.command == "build":
        kinds = [args.only] if args.only else ["plain", "parted"]
        timings = [build(kind, args.requests, args.chunk) for kind in kinds]
        if args.out:
            args.out.write_text(json.dumps(timings, indent=2, ensure_ascii=False) + "\n")
    elif args.command == "measure":
        measure(args.rounds, args.repeat, args.clients, args.seconds, args.out)
    elif args.command == "finish":
        done = finish(args.only, args.requests, args.chunk, args.recent_days, args.facts_days)
        args.out.write_text(json.dumps(done, indent=2, ensure_ascii=False) + "\n")
    elif args.command == "rollup":
        for kind in NAMES:
            engine = create_engine(url(NAMES[kind]))
            started = time.monotonic()
            with engine.begin() as conn:
                rollup.sum_days(conn, [NOW.date() - dt.timedelta(days=k) for k in range(args.days)])
            log(f"{NAMES[kind]}: roll-ups of {args.days} days {time.monotonic() - started:.1f} s")
            engine.dispose()
    else:
        with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as admin:
            for name in NAMES.values():
                admin.execute(f"DROP DATABASE IF EXISTS {name}")


if __name__ == "__main__":
    main()
