"""What the contact-view audit costs a list page: `GET /api/v1/requests?limit=50` as a community handler, who sees
the 50 residents' contacts unmasked (50 audit rows per page), against the same page as a leader, who sees them
masked (no rows): the time the audit's write takes per page (`contact_views.save`, timed) and the SQL statements
that write the rows; then the write of 50 rows alone, the old way (ORM objects), a VALUES list and the new (one INSERT executed for all rows) in turn
under the same load; in process, on SQLite and (when reachable) PostgreSQL. Loopback only; small and quick.

    .venv/bin/python -m benchmarks.contact_views [--calls 60] [--tag after]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, event, func, insert, select, text
from tests import steps
from tests.factories import build_city

from benchmarks.run_all import machine_info
from chengzhi.app import create_app
from chengzhi.config import Settings
from chengzhi.db import get_engine, get_sessionmaker
from chengzhi.migrate import upgrade
from chengzhi.org.service import issue_token
from chengzhi.requests import contact_views
from chengzhi.requests.models import ContactView, Request

POSTGRES = os.environ.get(
    "CHENGZHI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
DATABASE = "bench_security_contact_views"
RESULTS = Path(__file__).parent / "results"
PAGE = 50


def run(url: str, calls: int) -> dict[str, Any]:
    upgrade(url)
    settings = Settings(
        _env_file=None,
        database_url=url,
        environment="test",
        scheduler_enabled=False,
        triage_worker_in_app=False,
    )
    with get_sessionmaker(url)() as session, session.begin():
        city = build_city(session)
        now = dt.datetime.now(dt.UTC)
        for _ in range(PAGE):
            request = steps.submit(session, settings, now)
            steps.dispatch(session, settings, request, "D1S1C1", now)
        ids = [r.id for r in session.scalars(select(Request).order_by(Request.id).limit(PAGE))]
        viewer = city.users["d1s1c1-handler"].id
        tokens = {
            name: issue_token(session, city.users[name], days=1, name="bench")[0]
            for name in ("d1s1c1-handler", "leader")
        }
    client = TestClient(create_app(settings))
    inserts = [0]

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO CONTACT_VIEWS"):
            inserts[0] += 1

    engine = get_engine(url)
    event.listen(engine, "before_cursor_execute", count)
    saves: list[float] = []
    save = contact_views.save

    def timed_save(session: Any) -> None:  # the audit's write: what the page pays for it
        start = time.perf_counter()
        save(session)
        saves.append((time.perf_counter() - start) * 1000)

    contact_views.save = timed_save  # type: ignore[assignment]
    out: dict[str, Any] = {}
    for who in ("leader", "d1s1c1-handler"):
        headers = {"Authorization": f"Bearer {tokens[who]}"}
        for _ in range(5):  # warm-up
            client.get(f"/api/v1/requests?limit={PAGE}", headers=headers)
        inserts[0] = 0
        saves.clear()
        times = []
        for _ in range(calls):
            start = time.perf_counter()
            response = client.get(f"/api/v1/requests?limit={PAGE}", headers=headers)
            times.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200 and len(response.json()["items"]) == PAGE, response.text
        times.sort()
        out[who] = {
            "median_ms": round(statistics.median(times), 2),
            "p90_ms": round(times[int(0.9 * len(times))], 2),
            "insert_statements_per_page": round(inserts[0] / calls, 2),
            "audit_write_median_ms": round(statistics.median(saves), 2),
            "audit_write_p90_ms": round(sorted(saves)[int(0.9 * len(saves))], 2),
        }
    event.remove(engine, "before_cursor_execute", count)
    contact_views.save = save  # type: ignore[assignment]
    out["write_50_rows_ms"] = write_ab(url, ids, viewer, calls)
    with get_sessionmaker(url)() as session:
        out["audit_rows"] = session.scalar(select(func.count()).select_from(ContactView))
    return out


def write_ab(url: str, ids: list[int], viewer: int, calls: int) -> dict[str, float]:
    """The write alone, three ways in turn under the same load, each with its commit: 50 ORM objects
    (`session.add_all`, how views were written before), one INSERT with a 50-row VALUES list, and
    `contact_views.add_pending` (one INSERT executed for the 50 rows)."""
    factory = get_sessionmaker(url)
    times: dict[str, list[float]] = {"orm_objects": [], "values_list": [], "add_pending": []}
    for _ in range(calls):
        for way in times:
            with factory() as session:
                now = dt.datetime.now(dt.UTC)
                start = time.perf_counter()
                if way == "orm_objects":
                    session.add_all(
                        ContactView(viewer_id=viewer, request_id=i, reason="handler", via="api", at=now)
                        for i in ids
                    )
                elif way == "values_list":
                    session.execute(
                        insert(ContactView).values(
                            [
                                {
                                    "viewer_id": viewer,
                                    "request_id": i,
                                    "reason": "handler",
                                    "via": "api",
                                    "at": now,
                                }
                                for i in ids
                            ]
                        )
                    )
                else:
                    session.info[contact_views.PENDING] = [
                        {"viewer_id": viewer, "request_id": i, "reason": "handler", "via": "api"} for i in ids
                    ]
                    contact_views.add_pending(session, now)
                session.commit()
                times[way].append((time.perf_counter() - start) * 1000)
    return {f"{way}_median": round(statistics.median(values), 2) for way, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=60)
    parser.add_argument("--tag", default="")
    args = parser.parse_args()
    report: dict[str, Any] = {
        "date": dt.date.today().isoformat(),
        "machine": machine_info(),
        "calls": args.calls,
    }
    with tempfile.TemporaryDirectory() as scratch:
        report["sqlite"] = run(f"sqlite:///{scratch}/bench.db", args.calls)
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))
        connection.execute(text(f"CREATE DATABASE {DATABASE}"))
    url = POSTGRES.rsplit("/", 1)[0] + f"/{DATABASE}"
    try:
        report["postgresql"] = run(url, args.calls)
    finally:
        get_engine(url).dispose()
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))
        admin.dispose()
    report["load_average_at_end"] = Path("/proc/loadavg").read_text().split()[:3]
    print(json.dumps(report, indent=1))
    name = f"contact_views-{report['date']}{'-' + args.tag if args.tag else ''}.json"
    (RESULTS / name).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
