"""What keeping and linking Open311 `account_id`s costs: `POST /open311/v2/requests.json` with an `account_id` from a
client that does not vouch for its users' accounts (nothing kept: the path as before) against one that does (the id
kept, the pair's live link looked up), interleaved call by call; and `/me/export.json` for a resident whose linked
pair posted those requests. In process (TestClient), on SQLite and PostgreSQL. Small and quick.

    .venv/bin/python -m benchmarks.open311_accounts [--calls 200]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import secrets
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text
from tests.factories import PASSWORD, build_city

from chengzhi.app import create_app
from chengzhi.config import Settings
from chengzhi.db import get_engine, get_sessionmaker, utcnow
from chengzhi.migrate import upgrade
from chengzhi.open311 import accounts, keys
from chengzhi.org.models import User

POSTGRES = os.environ.get(
    "CHENGZHI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
RESULTS = Path(__file__).parent / "results"
PHONE = "13912345678"


def _post(client: TestClient, key: str, **fields: str) -> float:
    form = {"api_key": key, "service_code": "litter", "lat": "0.2", "long": "0.2", "description": "路灯不亮"}
    start = time.perf_counter()
    response = client.post("/open311/v2/requests.json", data={**form, **fields})
    elapsed = (time.perf_counter() - start) * 1000
    assert response.status_code == 201, response.text
    return elapsed


def _stats(times: list[float]) -> tuple[float, float]:
    return statistics.median(times), statistics.quantiles(times, n=20)[18]


def run(url: str, calls: int) -> dict[str, tuple[float, float]]:
    upgrade(url)
    with get_sessionmaker(url)() as session, session.begin():
        build_city(session)
        resident = session.scalars(select(User).where(User.username == "resident")).one()
        resident.phone, resident.phone_verified_at = PHONE, utcnow()
        plain = keys.create_key(session, "some-app", "100000/minute").key
        vouching = keys.create_key(session, "city-app", "100000/minute").key
        session.flush()
        accounts.set_vouches(session, "city-app", True, "bench")
    settings = Settings(
        _env_file=None,
        database_url=url,
        environment="test",
        scheduler_enabled=False,
        triage_worker_in_app=False,
        login_rate="1000/minute",
        open311_key_rate="100000/minute",
    )
    client = TestClient(create_app(settings))
    _post(client, vouching, phone=PHONE, account_id="u-1")  # the proof: the pair is linked
    for _ in range(20):
        _post(client, plain, email="a@app.example", account_id="u-1")
        _post(client, vouching, email="a@app.example", account_id="u-1")
    untrusted, trusted = [], []
    for _ in range(calls):
        untrusted.append(_post(client, plain, email="a@app.example", account_id="u-1"))
        trusted.append(_post(client, vouching, email="a@app.example", account_id="u-1"))
    client.post("/api/v1/auth/session", json={"username": "resident", "password": PASSWORD})
    export = []
    for _ in range(20):
        start = time.perf_counter()
        response = client.get("/me/export.json")
        export.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200 and len(response.json()["requests"]) == calls + 21
    return {"untrusted": _stats(untrusted), "trusted": _stats(trusted), "export": _stats(export)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        rows.append(("SQLite", run(f"sqlite:///{folder}/bench.db", args.calls)))
    name = f"chengzhi_bench_o311acc_{secrets.token_hex(3)}"
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
    now = dt.datetime.now(dt.UTC)
    lines = [
        f"# Open311 account ids: cost per submission and of the resident's export ({now:%Y-%m-%d %H:%M} UTC)",
        "",
        f"- Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()};"
        " shared with other helpers' runs and a soak benchmark (the figures are inflated: the comparison counts)",
        f"- Load average (1, 5, 15 min) before: {' '.join(f'{x:.2f}' for x in before)};"
        f" after: {' '.join(f'{x:.2f}' for x in after)}",
        f"- {args.calls} posts from each client, interleaved, after 20 warm-up posts each, in process (TestClient);"
        f" the export lists the {args.calls + 21} requests of the linked pair (20 calls)",
        "",
        "| database | untrusted client median ms | p95 | vouching client (id kept, link looked up) median ms | p95 |"
        " `/me/export.json` median ms | p95 |",
        "|---|---|---|---|---|---|---|",
    ]
    for db, r in rows:
        (um, up), (tm, tp), (em, ep) = r["untrusted"], r["trusted"], r["export"]
        lines.append(f"| {db} | {um:.2f} | {up:.2f} | {tm:.2f} | {tp:.2f} | {em:.1f} | {ep:.1f} |")
    text_out = "\n".join(lines) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"open311-accounts-{now:%Y-%m-%d}.md").write_text(text_out, encoding="utf-8")
    print(text_out)


if __name__ == "__main__":
    main()
