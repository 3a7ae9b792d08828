"""Open data at scale: CKAN `package_search` pages over N datasets (including deep `start` and the harvester's
incremental query) and `datastore_search` with a filter and a sort over an M-row table, through the application
(in-process ASGI client: routing, SQL and JSON, no network), on PostgreSQL; then a full CSV download of the table
streamed while the process's resident memory is sampled.

    python -m benchmarks.opendata --datasets 100000 --rows 1000000 [--repeat 60]

Creates a database of its own on the PostgreSQL server of CHENGZHI_TEST_POSTGRES_URL, migrates it, bulk-inserts
the datasets with plain inserts and loads the table through the datastore's own `create_table`/`append`, measures,
writes benchmarks/results/opendata-<date>.json and drops the database. Each query's row gives this process's
CPU per call and PostgreSQL's (`db_cpu_mean_ms`: its backends for the database, from /proc), steadier than the
wall clock on a shared machine. Issue 15's targets: p99 under 300 ms for
package_search pages with 100,000 datasets; p95 under 300 ms for datastore_search with a filter and a sort on
1,000,000 rows; constant memory for the full download.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import secrets
import statistics
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from chengzhi.app import create_app
from chengzhi.config import Settings
from chengzhi.db import get_engine
from chengzhi.migrate import upgrade
from chengzhi.opendata import datastore, docs
from chengzhi.opendata.models import Dataset, DatasetTag, Resource
from chengzhi.opendata.words import index_text
from chengzhi.org.models import Unit

ADMIN = os.environ.get("CHENGZHI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
RESULTS = Path(__file__).parent / "results"
WORDS = [
    "供水",
    "公交",
    "道路",
    "绿化",
    "养老",
    "教育",
    "医疗",
    "环境",
    "住房",
    "交通",
    "能源",
    "市场",
    "文化",
    "体育",
]
STREETS = [f"街道{i:02d}" for i in range(50)]
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * q), len(ordered) - 1)] * 1000


ONLY: list[str] = []
DATABASE: list[str] = []  # the measured database's name, for the server's CPU (db_cpu)


def db_cpu() -> float:
    """CPU seconds (user + system) used so far by the PostgreSQL backends connected to the measured database, read
    from /proc (the server runs on this machine): PostgreSQL's share of a call, which the load sways less than
    the wall clock. 0 where /proc or the server cannot be read."""
    if not DATABASE:
        return 0.0
    admin = create_engine(ADMIN, poolclass=NullPool)
    with admin.connect() as conn:
        pids = list(
            conn.scalars(text("SELECT pid FROM pg_stat_activity WHERE datname = :d"), {"d": DATABASE[0]})
        )
    admin.dispose()
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
    return total / os.sysconf("SC_CLK_TCK")


def timed(label: str, repeat: int, call: Callable[[int], Any]) -> dict[str, Any]:
    if ONLY and not any(word in label for word in ONLY):
        return {"query": label, "skipped": True}
    # Once apart: a process's first search loads jieba's dictionary, and the count, facets and bookmarks of a
    # state of the catalogue are computed by the first search that needs them (reported as first_ms).
    started = time.perf_counter()
    call(repeat)
    first = time.perf_counter() - started
    times = []
    cpu = []
    server = db_cpu()
    for i in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        call(i)
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    server = db_cpu() - server
    row = {
        "query": label,
        "n": repeat,
        "p50_ms": round(statistics.median(times) * 1000, 1),
        "p95_ms": round(percentile(times, 0.95), 1),
        "p99_ms": round(percentile(times, 0.99), 1),
        "max_ms": round(max(times) * 1000, 1),
        "first_ms": round(first * 1000, 1),
        # This process's CPU (the application and the test client, not PostgreSQL): less swayed by the load.
        "cpu_p50_ms": round(statistics.median(cpu) * 1000, 1),
        # PostgreSQL's CPU for the calls (its backends for this database, from /proc; 10 ms ticks): a mean.
        "db_cpu_mean_ms": round(server / repeat * 1000, 1),
    }
    print(json.dumps(row, ensure_ascii=False), flush=True)
    return row


def load_catalogue(url: str, n: int) -> list[int]:
    engine = create_engine(url)
    rng = random.Random(1)
    with engine.begin() as conn:
        city = conn.execute(
            insert(Unit).returning(Unit.id),
            {"code": "city", "name_zh": "市", "name_en": "City", "kind": "city", "path": "/", "active": True},
        ).scalar_one()
        conn.execute(text("UPDATE units SET path = :p WHERE id = :i"), {"p": f"/{city}/", "i": city})
        units = [city]
        for i in range(60):
            unit = conn.execute(
                insert(Unit).returning(Unit.id),
                {"code": f"dept{i:02d}", "name_zh": f"部门{i}", "name_en": f"Dept {i}", "kind": "department",
                 "parent_id": city, "path": "/", "active": True},
            ).scalar_one()  # fmt: skip
            conn.execute(
                text("UPDATE units SET path = :p WHERE id = :i"), {"p": f"/{city}/{unit}/", "i": unit}
            )
            units.append(unit)
    statuses = ["published"] * 18 + ["withdrawn", "draft"]
    levels = ["unconditional"] * 7 + ["conditional"] * 2 + ["not_open"]
    batch_ds: list[dict[str, Any]] = []
    batch_tags: list[dict[str, Any]] = []
    batch_res: list[dict[str, Any]] = []

    def flush() -> None:
        with engine.begin() as conn:
            conn.execute(insert(Dataset), batch_ds)
            conn.execute(insert(DatasetTag), batch_tags)
            conn.execute(insert(Resource), batch_res)
        batch_ds.clear()
        batch_tags.clear()
        batch_res.clear()

    for i in range(n):
        ds_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        words = rng.sample(WORDS, 3)
        title = f"{words[0]}{words[1]}数据 {i}"
        modified = T0 + dt.timedelta(minutes=rng.randrange(0, 1_000_000))
        batch_ds.append(
            {"id": ds_id, "name": f"dataset-{i:06d}", "title": title, "title_en": f"Dataset {i}",
             "notes": f"关于{words[2]}的数据集。", "unit_id": rng.choice(units), "open_level": rng.choice(levels),
             "status": rng.choice(statuses), "license_id": "cc-by-4.0", "frequency": "monthly",
             "themes": ["regions"], "version": 1,
             "search_title": index_text(f"dataset-{i:06d}", title, f"Dataset {i}", words[0], words[2]),
             "search_text": index_text(f"关于{words[2]}的数据集。"),
             "quality": {}, "downloads": 0, "api_calls": 0, "contact_name": "", "contact_email": "",
             "created_at": modified - dt.timedelta(days=30), "modified_at": modified}
        )  # fmt: skip
        batch_tags += [{"dataset_id": ds_id, "tag": words[0]}, {"dataset_id": ds_id, "tag": words[2]}]
        batch_res.append(
            {"id": str(uuid.uuid4()), "dataset_id": ds_id, "position": 0, "name": "data", "description": "",
             "format": rng.choice(["CSV", "XLSX", "JSON", "PDF"]), "url": "https://example.org/data",
             "datastore_active": False, "fields": [], "row_count": 0, "quality": {},
             "created_at": modified, "modified_at": modified}
        )  # fmt: skip
        if len(batch_ds) >= 5000:
            flush()
    if batch_ds:
        flush()
    engine.dispose()
    # The ready package dicts, as each dataset's versions would have built them (docs.store), a batch at a time.
    with Session(get_engine(url)) as session:
        while True:
            with session.begin():
                if not docs.store_all(session, docs.missing(session, 2000)):
                    break
            session.expunge_all()
    vacuum(url)
    return units


def vacuum(url: str) -> None:
    """What autovacuum does to a loaded table: statistics, and the visibility map index-only scans need."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def load_table(url: str, rows: int) -> str:
    engine = get_engine(url)
    rng = random.Random(2)
    with Session(engine) as session, session.begin():
        ds = session.get(Dataset, session.scalar(text("SELECT id FROM od_datasets WHERE status = 'published' "
                                                       "AND open_level = 'unconditional' LIMIT 1")))  # fmt: skip
        assert ds is not None
        res = Resource(
            id=str(uuid.uuid4()),
            dataset_id=ds.id,
            position=1,
            name="big",
            format="CSV",
            fields=[],
            quality={},
        )
        session.add(res)
        session.flush()
        fields = [{"id": "街道", "type": "text"}, {"id": "日期", "type": "date"}, {"id": "类别", "type": "text"},
                  {"id": "数量", "type": "int"}, {"id": "金额", "type": "numeric"}, {"id": "说明", "type": "text"}]  # fmt: skip
        datastore.create_table(session.connection(), res, fields)
        generated = (
            [rng.choice(STREETS), dt.date(2025, 1, 1) + dt.timedelta(days=rng.randrange(700)), rng.choice(WORDS),
             rng.randrange(1000), round(rng.uniform(0, 10000), 2), f"记录 {i} {rng.choice(WORDS)}"]
            for i in range(rows)
        )  # fmt: skip
        datastore.append(session.connection(), res, generated)
        made: str = res.id
    vacuum(url)
    return made


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024 / 1024


def download(client: TestClient, url: str, resource_id: str) -> dict[str, Any]:
    with Session(get_engine(url)) as session:
        ds_id = session.scalar(text("SELECT dataset_id FROM od_resources WHERE id = :i"), {"i": resource_id})
    started = time.perf_counter()
    samples = [rss_mb()]
    size = 0
    with client.stream("GET", f"/dataset/{ds_id}/resource/{resource_id}/download/big.csv") as response:
        for n, chunk in enumerate(response.iter_bytes()):
            size += len(chunk)
            if n % 200 == 0:
                samples.append(rss_mb())
    samples.append(rss_mb())
    out = {
        "bytes": size,
        "seconds": round(time.perf_counter() - started, 1),
        "rss_mb_start": round(samples[0], 1),
        "rss_mb_max": round(max(samples), 1),
        "rss_mb_end": round(samples[-1], 1),
        "samples": len(samples),
    }
    print(json.dumps(out), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=60)
    parser.add_argument("--stamp", default=dt.date.today().isoformat(), help="the results' file name date")
    parser.add_argument("--database", help="measure a database a --keep run left (no loading)")
    parser.add_argument("--keep", action="store_true", help="keep the database (its name is printed)")
    parser.add_argument("--only", action="append", default=[], help="only the queries whose label has this")
    parser.add_argument("--no-download", action="store_true")
    args = parser.parse_args()
    ONLY.extend(args.only)
    name = args.database or f"bench_opendata_{secrets.token_hex(3)}"
    admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    if not args.database:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    print("database", name, flush=True)
    DATABASE.append(name)
    url = make_url(ADMIN).set(database=name).render_as_string(hide_password=False)
    result: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
        "datasets": args.datasets,
        "rows": args.rows,
        "load_before": os.getloadavg(),
    }
    try:
        upgrade(url)
        if args.database:
            with Session(get_engine(url)) as session, session.begin():
                resource_id = str(session.scalar(text("SELECT id FROM od_resources WHERE name = 'big'")))
                units = list(session.scalars(text("SELECT id FROM units")))
                # What today's code makes at load, for a database loaded by an earlier version.
                big = session.get(Resource, resource_id)
                assert big is not None
                result["indexes_added"] = datastore.index_pairs(session.connection(), big)
            vacuum(url)
        else:
            started = time.perf_counter()
            units = load_catalogue(url, args.datasets)
            result["load_catalogue_s"] = round(time.perf_counter() - started, 1)
            started = time.perf_counter()
            resource_id = load_table(url, args.rows)
            result["load_table_s"] = round(time.perf_counter() - started, 1)
            print(json.dumps(result), flush=True)
        settings = Settings(_env_file=None, database_url=url, environment="test", scheduler_enabled=False,
                            rate_limit_storage="memory://", triage_worker_in_app=False)  # fmt: skip
        rng = random.Random(3)
        search = "/api/3/action/package_search"
        with TestClient(create_app(settings)) as client:

            def get(path: str, params: dict[str, Any]) -> dict[str, Any]:
                response = client.get(path, params=params)
                assert response.status_code == 200, response.text[:300]
                body: dict[str, Any] = response.json()
                return body

            count = get(search, {"rows": 0})["result"]["count"]
            result["visible_datasets"] = count
            since = (T0 + dt.timedelta(minutes=900_000)).strftime("%Y-%m-%dT%H:%M:%SZ")
            changed = get(search, {"fq": f"metadata_modified:[{since} TO *]", "rows": 0})["result"]["count"]
            r = args.repeat
            queries = [
                timed("package_search default (newest first, rows=10)", r, lambda i: get(search, {})),
                timed("package_search sort=id asc rows=100 start random (deep)", r,
                      lambda i: get(search, {"sort": "id asc", "rows": 100, "start": rng.randrange(0, max(count - 100, 1))})),
                timed("package_search rows=1000 start random", r,
                      lambda i: get(search, {"sort": "id asc", "rows": 1000, "start": rng.randrange(0, max(count - 1000, 1))})),
                timed("harvester: fq=metadata_modified:[since TO *] sort=id asc rows=100 start stepping", r,
                      lambda i: get(search, {"fq": f"metadata_modified:[{since} TO *]", "sort": "id asc", "rows": 100,
                                             "start": (i * 100) % max(changed, 1)})),
                timed("package_search q=word (ranked)", r, lambda i: get(search, {"q": rng.choice(WORDS)})),
                timed("package_search q=two words run together (ranked)", r,
                      lambda i: get(search, {"q": "".join(rng.sample(WORDS, 2))})),
                timed("package_search q=dataset number (few results, ranked)", r,
                      lambda i: get(search, {"q": f"dataset {rng.randrange(args.datasets)}"})),
                timed("package_search q=word start random (deep, ranked)", r,
                      lambda i: get(search, {"q": rng.choice(WORDS), "start": rng.randrange(0, 15000)})),
                timed("package_search q=word sort=metadata_modified desc", r,
                      lambda i: get(search, {"q": rng.choice(WORDS), "sort": "metadata_modified desc"})),
                timed("package_search fq=organization:X sort=metadata_modified desc", r,
                      lambda i: get(search, {"fq": f"organization:dept{rng.randrange(60):02d}", "sort": "metadata_modified desc"})),
                timed("package_search with facet.field organization,tags,res_format", r,
                      lambda i: get(search, {"facet.field": '["organization","tags","res_format"]', "rows": 10})),
            ]  # fmt: skip
            ds_search = "/api/3/action/datastore_search"
            queries += [
                timed("datastore_search filter street, sort amount desc, limit 100", r,
                      lambda i: get(ds_search, {"resource_id": resource_id, "filters": json.dumps({"街道": rng.choice(STREETS)}),
                                                "sort": "金额 desc", "limit": 100})),
                timed("datastore_search filter street+category, sort date, offset 1000", r,
                      lambda i: get(ds_search, {"resource_id": resource_id,
                                                "filters": json.dumps({"街道": rng.choice(STREETS), "类别": rng.choice(WORDS)}),
                                                "sort": "日期", "limit": 100, "offset": 100})),
                timed("datastore_search no filter, sort amount, offset random", r,
                      lambda i: get(ds_search, {"resource_id": resource_id, "sort": "金额", "limit": 100,
                                                "offset": rng.randrange(0, args.rows - 100), "include_total": "false"})),
            ]  # fmt: skip
            result["queries"] = [q for q in queries if not q.get("skipped")]
            if not args.no_download:
                result["download"] = download(client, url, resource_id)
        result["units"] = len(units)
    finally:
        result["load_after"] = os.getloadavg()
        get_engine.cache_clear()
        if not args.keep:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    RESULTS.mkdir(exist_ok=True)
    stamp = args.stamp
    (
        RESULTS / f"opendata-{stamp}.json" if not ONLY else RESULTS / f"opendata-{stamp}-partial.json"
    ).write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    print(json.dumps(result, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
