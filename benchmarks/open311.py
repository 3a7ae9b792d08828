"""Open311 read benchmark: `GET /open311/v2/requests.json` with the default window (the last 90 days, at most
1,000 requests) over 1,000,000 requests on PostgreSQL. Target: p95 < 300 ms.

    .venv/bin/python -m benchmarks.open311 [--rows 1000000] [--calls 200]

The requests are generated set-based (INSERT ... SELECT generate_series) into a dedicated database,
`chengzhi_bench_open311` on the server of CHENGZHI_TEST_POSTGRES_URL, spread evenly over the last 365 days, in
the tests' small city; not through the services (this measures the read, not intake). A uvicorn process serves
them on a loopback port; calls are made one at a time after a warm-up. Results: benchmarks/results/open311-DATE.*
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from benchmarks.intake import WORK, build_city, recreate_postgres, server
from benchmarks.run_all import machine_info, postgres_info

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
ADMIN = os.environ.get("CHENGZHI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
DATABASE = "chengzhi_bench_open311"

FILL = """
INSERT INTO requests (
    tracking_number, title, text, channel, language, category_id, priority, lat, lon, address,
    receiving_unit_id, attributes, source, received_at, status, lead_unit_id, co_unit_ids,
    extension_pending, extension_days, deadlines, ever_overdue, answered_at_intake, reopen_count,
    return_count, updated_at, event_count, support_count
)
SELECT
    '9' || lpad(g::text, 13, '0'),
    '路灯不亮 ' || g,
    '第 ' || g || ' 号诉求：小区门口路灯不亮，晚上出行不便，请尽快修理。',
    (ARRAY['web', 'phone', 'app', 'open311'])[1 + g % 4],
    'zh',
    (SELECT id FROM categories ORDER BY id OFFSET (g % 4) LIMIT 1),
    'normal',
    0.05 + (g % 997) / 1000.0,
    0.05 + (g % 1999) / 1000.0,
    '示范路 ' || (g % 500) || ' 号',
    :hub,
    '{}',
    'bench',
    :now - (g * (365.0 * 86400 / :rows)) * interval '1 second',
    (ARRAY['received', 'dispatched', 'signed', 'contacted', 'replied', 'reviewed', 'closed', 'closed', 'closed',
           'closed'])[1 + g % 10],
    CASE WHEN g % 10 = 0 THEN NULL ELSE :lead END,
    '[]',
    false, 0, '{}', false, false, 0, 0,
    :now - (g * (365.0 * 86400 / :rows)) * interval '1 second' + interval '3 days',
    1 + g % 7,
    0
FROM generate_series(1, :rows) AS g
"""


def fill(url: str, rows: int) -> float:
    engine = create_engine(url)
    started = time.perf_counter()
    try:
        with engine.begin() as connection:
            hub = connection.execute(text("SELECT id FROM units WHERE kind = 'city'")).scalar_one()
            lead = connection.execute(text("SELECT id FROM units WHERE code = 'D1S1'")).scalar_one()
            connection.execute(
                text(FILL), {"hub": hub, "lead": lead, "rows": rows, "now": dt.datetime.now(dt.UTC)}
            )
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE requests"))
    finally:
        engine.dispose()
    return time.perf_counter() - started


def _count(url: str) -> int | None:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM requests")).scalar_one())
    except Exception:  # no such database yet
        return None
    finally:
        engine.dispose()


def explain(url: str) -> list[str]:
    """The plan of the list query as the server runs it (the default window, newest first, 1,000 rows)."""
    from chengzhi.requests.models import Request

    engine = create_engine(url)
    now = dt.datetime.now(dt.UTC)
    query = (
        "EXPLAIN (ANALYZE, BUFFERS) SELECT id, tracking_number, status, text, category_id, lead_unit_id, "
        "receiving_unit_id, received_at, updated_at, due_at, address, lat, lon FROM requests "
        "WHERE received_at >= :start AND received_at <= :end ORDER BY received_at DESC, id DESC LIMIT 1000"
    )
    assert Request.__tablename__ == "requests"
    try:
        with engine.connect() as connection:
            rows = connection.execute(text(query), {"start": now - dt.timedelta(days=90), "end": now})
            return [r[0] for r in rows]
    finally:
        engine.dispose()


def measure(base_url: str, calls: int, params: dict[str, str]) -> dict[str, Any]:
    latencies = []
    sizes = []
    with httpx.Client(timeout=30) as client:
        for _ in range(10):  # warm-up: connections, caches, the first plans
            client.get(f"{base_url}/open311/v2/requests.json", params=params)
        for _ in range(calls):
            started = time.perf_counter()
            response = client.get(f"{base_url}/open311/v2/requests.json", params=params)
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"HTTP {response.status_code}: {response.text[:300]}")
            sizes.append(len(response.json()))
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 1)

    return {
        "params": params,
        "calls": calls,
        "items_per_answer": statistics.median(sizes),
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
        "max_ms": round(ordered[-1], 1),
        "mean_ms": round(statistics.fmean(latencies), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument(
        "--reuse", action="store_true", help="keep the database of an earlier run if it holds --rows requests"
    )
    options = parser.parse_args()
    url = make_url(ADMIN).set(database=DATABASE).render_as_string(hide_password=False)
    machine = machine_info()
    from chengzhi.migrate import upgrade

    fill_seconds = None
    if not (options.reuse and _count(url) == options.rows):
        print(f"recreating {DATABASE}")
        recreate_postgres(url)
        upgrade(url)
        build_city(url)
        print(f"generating {options.rows:,} requests")
        fill_seconds = round(fill(url, options.rows), 1)
        print(f"  {fill_seconds} s")
    else:
        upgrade(url)  # the schema of today's code, should a migration have come since
    plan = explain(url)
    WORK.mkdir(parents=True, exist_ok=True)
    with server(url, 1, WORK / "open311-server.log") as (base_url, _process):
        default = measure(base_url, options.calls, {})
        closed = measure(base_url, options.calls // 2, {"status": "closed", "service_code": "road"})
        extensions = measure(base_url, options.calls // 2, {"extensions": "true", "page_size": "100"})
    today = dt.date.today().isoformat()
    report = {
        "benchmark": "open311",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "load_average_at_end": Path("/proc/loadavg").read_text().split()[:3],
        "postgres": postgres_info(url),
        "rows": options.rows,
        "fill_seconds": fill_seconds,
        "default_window": default,
        "closed_road": closed,
        "extensions_100": extensions,
        "target_p95_ms": 300,
        "target_met": default["p95_ms"] < 300,
        "plan": plan,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"open311-{today}.json").write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    lines = [
        f"# Open311 read benchmark, {today}",
        "",
        f"`GET /open311/v2/requests.json` over {options.rows:,} requests on PostgreSQL "
        f"({report['postgres'].get('server_version', '?')}), one uvicorn worker, calls one at a time.",
        "",
        f"- CPU: {machine['cpu_model']}, {machine['cpu_count']} cores; Python {machine['python']}",
        f"- Load average at start: {' '.join(machine['load_average_at_start'])}; at end: "
        f"{' '.join(report['load_average_at_end'])} (other engineers share the machine)",
        f"- Generated with INSERT ... SELECT generate_series in {report['fill_seconds']} s"
        if fill_seconds is not None
        else "- Database of an earlier run reused (--reuse)",
        "",
        "| query | calls | items | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, figures in (
        ("default window (90 days, 1,000 newest)", default),
        ("status=closed&service_code=road", closed),
        ("extensions=true&page_size=100", extensions),
    ):
        lines.append(
            f"| {name} | {figures['calls']} | {figures['items_per_answer']} | {figures['p50_ms']} | "
            f"{figures['p95_ms']} | {figures['p99_ms']} | {figures['max_ms']} |"
        )
    lines += [
        "",
        f"Target p95 < 300 ms for the default window: **{'met' if report['target_met'] else 'not met'}**.",
        "",
        "Plan of the list query:",
        "",
        "```",
        *plan,
        "```",
        "",
    ]
    (RESULTS / f"open311-{today}.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
