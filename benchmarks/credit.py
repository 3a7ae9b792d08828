"""Credit supervision at scale (scaled down): regrade every entity, an entity's public view and the lookup (p95),
drawing an inspection plan. `python -m benchmarks.credit --entities 20000 --records 10 [--url URL]`.

Creates a database of its own on the PostgreSQL server of CHENGZHI_TEST_POSTGRES_URL (or uses --url), migrates it,
bulk-inserts entities and records with plain inserts, then measures. Issue 16's targets are at 1,000,000 entities
and 10,000,000 records; the figures here say how far the per-entity implementation is from them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import secrets
import statistics
import time

from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from chengzhi.credit import codes as credit_codes
from chengzhi.credit import inspections, repair, service
from chengzhi.credit.models import CreditEntity, CreditRecord
from chengzhi.migrate import upgrade

ADMIN = os.environ.get("CHENGZHI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
KINDS = [("licence", None, None), ("inspection", None, True), ("inspection", None, False), ("honour", None, None),
         ("penalty", "minor", None), ("penalty", "general", None), ("penalty", "serious", None),
         ("commitment", None, True), ("complaint", None, True)]  # fmt: skip


def generated_codes(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    digits, alphabet = "0123456789", "0123456789ABCDEFGHJKLMNPQRTUWXY"
    made: set[str] = set()
    while len(made) < count:
        prefix = "91" + "".join(rng.choice(digits) for _ in range(6))
        made.add(credit_codes.make_code(prefix, "".join(rng.choice(alphabet) for _ in range(8))))
    return sorted(made)


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entities", type=int, default=20000)
    parser.add_argument("--records", type=int, default=10)
    args = parser.parse_args()
    name = f"chengzhi_bench_credit_{secrets.token_hex(3)}"
    admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(ADMIN).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        engine = create_engine(url)
        rng = random.Random(1)
        codes = generated_codes(args.entities, seed=2)
        on = dt.date(2026, 12, 1)
        started = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(
                insert(CreditEntity),
                [{"uscc": c, "name": f"企业{i}", "kind": "enterprise", "status": "active", "industry": "food"}
                 for i, c in enumerate(codes)],
            )  # fmt: skip
            ids = [row[0] for row in conn.execute(text("SELECT id FROM credit_entities ORDER BY id"))]
            batch = []
            for entity_id in ids:
                for _ in range(args.records):
                    kind, severity, outcome = rng.choice(KINDS)
                    decided = on - dt.timedelta(days=rng.randrange(1, 1500))
                    until = None
                    if severity:
                        until = repair.window(decided, severity).publish_until
                    batch.append({"entity_id": entity_id, "kind": kind, "severity": severity, "outcome": outcome,
                                  "title": "t", "legal_basis": "b", "decided_on": decided, "publish_until": until})  # fmt: skip
                if len(batch) >= 20000:
                    conn.execute(insert(CreditRecord), batch)
                    batch = []
            if batch:
                conn.execute(insert(CreditRecord), batch)
        load = time.perf_counter() - started
        with Session(engine) as session:
            started = time.perf_counter()
            count = service.regrade_all(session, on)
            session.commit()
            regrade = time.perf_counter() - started
            sample = rng.sample(codes, 200)
            views, lookups = [], []
            for code in sample:
                t = time.perf_counter()
                service.public_view(session, service.get_entity(session, code), on)
                views.append(time.perf_counter() - t)
                t = time.perf_counter()
                service.lookup(session, code, "licence", on)
                lookups.append(time.perf_counter() - t)
            t = time.perf_counter()
            pool = service.inspection_pool(session, "food")
            tasks = inspections.draw(pool, 2026, [f"i{i}" for i in range(100)])
            drawing = time.perf_counter() - t
        print(json.dumps({
            "entities": count, "records": args.entities * args.records, "load_s": round(load, 1),
            "regrade_s": round(regrade, 1), "regrade_per_entity_ms": round(regrade / count * 1000, 2),
            "public_view_p95_ms": round(p95(views), 1), "lookup_p95_ms": round(p95(lookups), 1),
            "draw_s": round(drawing, 2), "tasks": len(tasks),
        }))  # fmt: skip
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
