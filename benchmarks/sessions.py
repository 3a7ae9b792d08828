"""What a server-side session costs per request: `GET /api/v1/me` signed in with the session cookie (one indexed
look-up of the session and its user, a last-seen write at most once a minute) against the same call with a bearer
token, in process, on SQLite and (when reachable) PostgreSQL. Loopback only; small and quick.

    .venv/bin/python -m benchmarks.sessions [--calls 400]
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from tests.factories import PASSWORD, build_city

from chengzhi.app import create_app
from chengzhi.config import Settings
from chengzhi.db import get_engine, get_sessionmaker
from chengzhi.migrate import upgrade

POSTGRES = os.environ.get(
    "CHENGZHI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
RESULTS = Path(__file__).parent / "results"


def _timed(client: TestClient, calls: int, headers: dict[str, str] | None = None) -> list[float]:
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        response = client.get("/api/v1/me", headers=headers)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.text
    return times


def run(url: str, calls: int) -> dict[str, float]:
    upgrade(url)
    with get_sessionmaker(url)() as session, session.begin():
        build_city(session)
    settings = Settings(
        _env_file=None,
        database_url=url,
        environment="test",
        scheduler_enabled=False,
        triage_worker_in_app=False,
        login_rate="1000/minute",
    )
    app = create_app(settings)
    # Two clients of the same kind (no lifespan portal: each call runs in the calling thread), one per way in.
    client, cookieless = TestClient(app), TestClient(app)
    token = client.post("/api/v1/auth/token", json={"username": "operator", "password": PASSWORD})
    bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
    signed_in = client.post("/api/v1/auth/session", json={"username": "operator", "password": PASSWORD})
    assert signed_in.status_code == 200
    _timed(client, 50)
    cookie = _timed(client, calls)
    _timed(cookieless, 50, bearer)
    tokens = _timed(cookieless, calls, bearer)
    return {
        "cookie_median": statistics.median(cookie),
        "cookie_p95": statistics.quantiles(cookie, n=20)[18],
        "token_median": statistics.median(tokens),
        "token_p95": statistics.quantiles(tokens, n=20)[18],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=400)
    args = parser.parse_args()
    before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        rows.append(("SQLite", run(f"sqlite:///{folder}/bench.db", args.calls)))
    name = f"chengzhi_bench_sessions_{secrets.token_hex(3)}"
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = POSTGRES.rsplit("/", 1)[0] + f"/{name}"
        rows.append(("PostgreSQL", run(url, args.calls)))
        get_engine(url).dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    after = os.getloadavg()
    lines = [
        "# Server-side sessions: cost per request (session of 2026-12-06; run 2026-12-07 01:10 UTC)",
        "",
        f"- Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()};"
        " shared with other engineers' test runs (the figures are inflated, the comparison is what counts)",
        f"- Load average (1, 5, 15 min) before: {' '.join(f'{x:.2f}' for x in before)};"
        f" after: {' '.join(f'{x:.2f}' for x in after)}",
        f"- {args.calls} calls of `GET /api/v1/me` in process (TestClient) after 50 warm-up calls, one client",
        "",
        "| database | cookie session median ms | p95 ms | bearer token median ms | p95 ms |",
        "|---|---|---|---|---|",
    ]
    for db, r in rows:
        lines.append(
            f"| {db} | {r['cookie_median']:.2f} | {r['cookie_p95']:.2f} | {r['token_median']:.2f} | {r['token_p95']:.2f} |"
        )
    text_out = "\n".join(lines) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sessions-2026-12-06.md").write_text(text_out, encoding="utf-8")
    print(text_out)


if __name__ == "__main__":
    main()
