"""Staff pages with 100,000 requests: server time of the inbox and the request page, on PostgreSQL and SQLite.

    python -m benchmarks.pages [--databases sqlite,postgresql] [--requests 100000] [--samples 150]

The database gets the demo city (organisation, categories, users, and 5,000 requests whose histories run through the
real services), then copies of those requests with their events and holders until it holds `--requests` requests
(new ids and tracking numbers, the same histories). A uvicorn process (one worker) serves it; each staff member signs
in through /login like a browser and asks for each page one at a time, so that the time measured on loopback is the
server's time to answer. Target (issue 3): p95 under 200 ms for every page on both databases.

Results: benchmarks/results/pages-YYYY-MM-DD.json and .md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Connection, Engine

from benchmarks.intake import ROOT, WORK, recreate_postgres, recreate_sqlite, server
from benchmarks.run_all import RESULTS, machine_info, postgres_info
from chengzhi import reactions
from chengzhi.config import Settings
from chengzhi.db import get_engine, make_engine
from chengzhi.demo.generate import generate_demo_city
from chengzhi.models import Request, RequestEvent, RequestUnit, Unit

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/chengzhi_bench_pages"
BASE_REQUESTS = 5000
TARGET_P95_MS = 200
# Who looks, from the widest scope to the narrowest (demo city accounts, docs/demo.md).
VIEWERS = (
    ("dispatcher", "city hub dispatcher: every request"),
    ("dispatcher.d1", "district dispatcher"),
    ("handler.d1s1", "street office handler"),
    ("handler.d1s1c1", "community handler"),
)
PASSWORD = "chengzhi-demo"


def say(message: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {message}", flush=True)


# ---------------------------------------------------------------- data set


def replicate(engine: Engine, target: int, batch: int = 5000) -> int:
    """Copy the existing requests (with events and holders) until there are `target`; returns the count."""
    with engine.begin() as conn:
        base = [dict(r) for r in conn.execute(select(Request.__table__).order_by(Request.id)).mappings()]
        events: dict[int, list[dict[str, Any]]] = {}
        for row in conn.execute(select(RequestEvent.__table__).order_by(RequestEvent.id)).mappings():
            events.setdefault(row["request_id"], []).append(dict(row))
        holders: dict[int, list[dict[str, Any]]] = {}
        for row in conn.execute(select(RequestUnit.__table__).order_by(RequestUnit.id)).mappings():
            holders.setdefault(row["request_id"], []).append(dict(row))
        next_id = (conn.execute(select(func.max(Request.id))).scalar() or 0) + 1
        next_event = (conn.execute(select(func.max(RequestEvent.id))).scalar() or 0) + 1
        next_holder = (conn.execute(select(func.max(RequestUnit.id))).scalar() or 0) + 1
        have = len(base)
        copy = 0
        while have < target:
            copy += 1
            rows, event_rows, holder_rows = [], [], []
            for original in base:
                if have >= target:
                    break
                new = dict(original, id=next_id, issue_id=None, external_id=None)
                new["tracking_number"] = f"{original['tracking_number'][:6]}9{next_id:08d}"
                new["support_count"] = 0
                rows.append(new)
                for event in events.get(original["id"], []):
                    event_rows.append(dict(event, id=next_event, request_id=next_id))
                    next_event += 1
                for holder in holders.get(original["id"], []):
                    holder_rows.append(dict(holder, id=next_holder, request_id=next_id))
                    next_holder += 1
                next_id += 1
                have += 1
            _insert(conn, Request.__table__, rows, batch)
            _insert(conn, RequestEvent.__table__, event_rows, batch)
            _insert(conn, RequestUnit.__table__, holder_rows, batch)
            say(f"  copy {copy}: {have} requests")
        if conn.dialect.name == "postgresql":
            for table, last in (
                ("requests", next_id - 1),
                ("request_events", next_event - 1),
                ("request_units", next_holder - 1),
            ):
                conn.execute(
                    text("SELECT setval(pg_get_serial_sequence(:t, 'id'), :last)"), {"t": table, "last": last}
                )
        return have


def _insert(conn: Connection, table: Any, rows: list[dict[str, Any]], batch: int) -> None:
    for start in range(0, len(rows), batch):
        conn.execute(table.insert(), rows[start : start + batch])


def prepare(url: str, requests: int) -> dict[str, Any]:
    started = time.perf_counter()
    if url.startswith("sqlite"):
        recreate_sqlite(url)
    else:
        recreate_postgres(url)
    settings = Settings(database_url=url, environment="development")
    reactions.install()  # as the app and the CLI do
    demo = generate_demo_city(settings, n_requests=min(BASE_REQUESTS, requests))
    say(f"  demo city: {demo['requests']} requests in {demo['seconds']['total']} s")
    engine = make_engine(url)
    try:
        count = replicate(engine, requests)
        # What autovacuum would have done by the time a real city has 100,000 requests: statistics for the planner
        # and, on PostgreSQL, the visibility map that lets counts read indexes only.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE" if conn.dialect.name == "postgresql" else "ANALYZE"))
            events = conn.execute(select(func.count()).select_from(RequestEvent)).scalar()
    finally:
        engine.dispose()
        get_engine.cache_clear()
    return {"requests": count, "events": events, "seconds": round(time.perf_counter() - started, 1)}


# ---------------------------------------------------------------- measuring


def sign_in(client: httpx.Client, username: str) -> None:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, "no CSRF token on /login"
    response = client.post(
        "/login", data={"csrf_token": token.group(1), "username": username, "password": PASSWORD}
    )
    if response.status_code != 303:
        raise RuntimeError(f"{username} could not sign in: {response.status_code}")


def numbers_in_scope(url: str, username: str, limit: int, rng: random.Random) -> list[str]:
    """Tracking numbers the user may open (held by a unit in their subtree), drawn at random."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            code = username.split(".", 1)[1] if "." in username else "city"
            path = conn.execute(select(Unit.path).where(Unit.code == code)).scalar_one()
            query = (
                select(Request.tracking_number)
                .join(RequestUnit, RequestUnit.request_id == Request.id)
                .where(RequestUnit.unit_path.startswith(path))
                .distinct()
            )
            numbers = list(conn.execute(query).scalars())
    finally:
        engine.dispose()
    rng.shuffle(numbers)
    return numbers[:limit]


def timed(client: httpx.Client, path: str) -> float:
    started = time.perf_counter()
    response = client.get(path)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"GET {path}: {response.status_code}")
    return elapsed


def figures(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 1)

    return {
        "n": len(ordered),
        "p50": round(statistics.median(ordered), 1),
        "p95": pct(0.95),
        "p99": pct(0.99),
        "max": round(ordered[-1], 1),
    }


def measure(url: str, samples: int, log: Path) -> dict[str, Any]:
    rng = random.Random(7)
    results: dict[str, Any] = {}
    with server(url, 1, log) as (base_url, _process):
        for username, who in VIEWERS:
            numbers = numbers_in_scope(url, username, samples, rng)
            with httpx.Client(base_url=base_url, timeout=30, follow_redirects=False) as client:
                sign_in(client, username)
                first = client.get("/staff")
                ids = [int(m) for m in re.findall(r"before=(\d+)", first.text)]
                deep = max(1, (ids[0] if ids else 2) // 2)
                pages = {
                    "inbox": "/staff",
                    "inbox, status=dispatched": "/staff?status=dispatched",
                    "inbox, overdue only": "/staff?overdue=yes",
                    "inbox, stage + category": "/staff?stage=handling&category=litter",
                    "inbox, received in one month": "/staff?from=2026-06-01&to=2026-06-30",
                    "inbox, deep page (before=<middle id>)": f"/staff?before={deep}",
                    "overdue board": "/staff/overdue",
                }
                for name, path in pages.items():
                    timed(client, path)  # warm
                    results.setdefault(username, {"who": who, "pages": {}})["pages"][name] = figures(
                        [timed(client, path) for _ in range(samples)]
                    )
                    say(f"  {username:16} {name:40} {results[username]['pages'][name]}")
                if numbers:
                    timed(client, f"/staff/requests/{numbers[0]}")
                    shown = [timed(client, f"/staff/requests/{n}") for n in numbers]
                    results[username]["pages"]["request page (random requests in scope)"] = figures(shown)
                    say(
                        f"  {username:16} request page {results[username]['pages']['request page (random requests in scope)']}"
                    )
    return results


# ---------------------------------------------------------------- report


def render_markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        f"# Staff pages benchmark, {report['date']}",
        "",
        f"Run `{report['command']}` at {report['started_at']} (UTC), commit `{report['commit']}`.",
        "",
        f"- Machine: {m['cpu_model']}, {m['cpu_count']} cores, {m['ram_gib']} GiB, {m['os']}, Python {m['python']}, "
        f"SQLite {m['sqlite']}; load average at start {' '.join(m['load_average_at_start'])}",
        "- One uvicorn worker; one client asking for one page at a time on loopback (the time is the server's).",
        f"- Target: p95 under {TARGET_P95_MS} ms for every page.",
        "",
    ]
    for name, db in report["databases"].items():
        if "skipped" in db:
            lines += [f"## {name}", "", f"Skipped: {db['skipped']}", ""]
            continue
        data = db["data"]
        lines += [
            f"## {name}" + (f" ({db['server']['server_version']})" if db.get("server") else ""),
            "",
            f"{data['requests']:,} requests, {data['events']:,} events (prepared in {data['seconds']} s). "
            f"Worst p95: **{db['worst_p95']} ms** ({'met' if db['worst_p95'] < TARGET_P95_MS else 'NOT met'}). "
            f"Load average (1, 5, 15 min) before measuring {db.get('load_average_before')}, "
            f"after {db.get('load_average_after')} on {m['cpu_count']} cores.",
            "",
            "| viewer | page | n | p50 ms | p95 ms | p99 ms | max ms |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for username, seen in db["viewers"].items():
            for page, f in seen["pages"].items():
                lines.append(
                    f"| `{username}` ({seen['who']}) | {page} | {f['n']} | {f['p50']} | {f['p95']} | {f['p99']} | {f['max']} |"
                )
        lines.append("")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=150)
    parser.add_argument(
        "--postgres-url", default=os.environ.get("CHENGZHI_BENCH_PAGES_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    )
    args = parser.parse_args(argv)
    started = dt.datetime.now(dt.UTC)
    WORK.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "benchmark": "pages",
        "date": started.date().isoformat(),
        "started_at": started.isoformat(timespec="seconds"),
        "command": "python -m benchmarks.pages " + " ".join(argv if argv is not None else sys.argv[1:]),
        "commit": os.popen(f"git -C {ROOT} rev-parse --short HEAD").read().strip(),
        "machine": machine_info(),
        "target_p95_ms": TARGET_P95_MS,
        "databases": {},
    }
    for name in [d.strip() for d in args.databases.split(",") if d.strip()]:
        url = f"sqlite:///{WORK / 'pages.db'}" if name == "sqlite" else args.postgres_url
        say(f"{name}: preparing {args.requests:,} requests")
        entry: dict[str, Any] = {}
        try:
            if name == "postgresql":
                entry["server"] = postgres_info(url)
            entry["data"] = prepare(url, args.requests)
            entry["load_average_before"] = [round(x, 2) for x in os.getloadavg()]
            entry["viewers"] = measure(url, args.samples, WORK / f"pages-{name}.log")
            entry["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
            entry["worst_p95"] = max(f["p95"] for v in entry["viewers"].values() for f in v["pages"].values())
        except Exception as exc:  # a database that does not answer is reported, not fatal
            if name == "postgresql" and "connect" in str(exc).lower():
                entry = {"skipped": f"PostgreSQL not reachable: {exc}"}
            else:
                raise
        report["databases"][name] = entry
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / f"pages-{report['date']}"
    if stem.with_suffix(".json").exists():  # a run of one database keeps the other's figures of the same day
        earlier = json.loads(stem.with_suffix(".json").read_text(encoding="utf-8"))
        for name, entry in earlier.get("databases", {}).items():
            report["databases"].setdefault(name, entry)
    stem.with_suffix(".json").write_text(
        json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    stem.with_suffix(".md").write_text(render_markdown(report), encoding="utf-8")
    say(f"written {stem}.json and .md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
