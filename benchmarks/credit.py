"""Credit supervision at scale: regrade every entity (set-based), an entity's public view and the lookup (p95),
drawing and storing an inspection plan over 100,000 entities.

`python -m benchmarks.credit --entities 1000000 --records 10 [--sample 200]`

Creates a database of its own on the PostgreSQL server of CHENGZHI_TEST_POSTGRES_URL, migrates it and fills it
server-side (`generate_series`): entities with synthetic 18-character codes (unique, not check-digit valid: the
regrade and the reads never validate stored codes), the first `--draw-pool` in the industry drawn (`food`), records
of nine kinds spread over four years with the publication windows of their rule sets. Then measures:

1. the first regrade (every entity graded for the first time: a history row with its explanation each);
2. the nightly regrade a day later (decay moves most scores; history rows only where a grade changed), run
   through `cases.run_nightly` (list entries expired, regrade, list entries of regraded entities, lapses); then,
   each rolled back, a regrade by the general model alone against the regrade by each entity's model (the
   `food` entities have their own: the cost of industry models);
3. p95 of `service.public_view` and `service.lookup` over a random sample, each in its own transaction;
4. `plans.create_plan` over the `food` industry, 60 inspectors (pool query, recusals, the draw, the tasks
   stored).

Prints one JSON line; benchmarks/results/credit-*.md keeps the figures with the machine and the load.
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

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from chengzhi.credit import cases, inspections, plans, regrade, service
from chengzhi.migrate import upgrade

ADMIN = os.environ.get("CHENGZHI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")

ENTITIES = """
INSERT INTO credit_entities (uscc, name, kind, status, industry, created_at)
SELECT '91' || lpad(g::text, 16, '0'), '企业' || g, 'enterprise', 'active',
       CASE WHEN g <= :pool THEN 'food' ELSE 'ind' || (g % 10) END, now()
FROM generate_series(1, :n) AS g
"""
UNIT = "INSERT INTO units (code, name_zh, name_en, kind, parent_id, path, active, created_at) VALUES ('bench', '市场监管局', 'Market regulation', 'department', NULL, '/bench/', true, now()) RETURNING id"
# Nine kinds as in the mix; decided over four years before :on; publication windows by the rule sets
# of credit/repair.py (every general penalty 12 months, minor 12 before 2023-05-01, 3 from 2026-04-01, never
# published between; serious 36 throughout).
RECORDS = """
INSERT INTO credit_records (entity_id, kind, severity, outcome, title, legal_basis, decided_on, rule_set,
                            publish_until, created_at)
SELECT e, k.kind, k.severity, k.outcome, 't', 'b', d,
       CASE WHEN k.kind <> 'penalty' THEN NULL WHEN d >= DATE '2026-04-01' THEN '2026'
            WHEN d >= DATE '2023-05-01' THEN '2023' ELSE '2019' END,
       CASE WHEN k.kind <> 'penalty' THEN NULL
            WHEN k.severity = 'serious' THEN (d + interval '36 months')::date
            WHEN k.severity = 'general' THEN (d + interval '12 months')::date
            WHEN d >= DATE '2026-04-01' THEN (d + interval '3 months')::date
            WHEN d < DATE '2023-05-01' THEN (d + interval '12 months')::date
            ELSE d END,
       now()
FROM (
  SELECT ((g - 1) / :per) + :first AS e, (hashtext(g::text) & 2147483647) AS h
  FROM generate_series(1, :total) AS g
) s
CROSS JOIN LATERAL (SELECT (CAST(:on AS date) - 1 - (s.h % 1460)) AS d) dd
JOIN (VALUES (0, 'licence', NULL, NULL), (1, 'inspection', NULL, true), (2, 'inspection', NULL, false),
             (3, 'honour', NULL, NULL), (4, 'penalty', 'minor', NULL), (5, 'penalty', 'general', NULL),
             (6, 'penalty', 'serious', NULL), (7, 'commitment', NULL, true), (8, 'complaint', NULL, true))
     AS k(n, kind, severity, outcome) ON k.n = (s.h / 1460) % 9
"""


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] * 1000


def timed(label: str, results: dict[str, object], started: float) -> float:
    now = time.perf_counter()
    results[label] = round(now - started, 1)
    print(f"{label}: {results[label]} s", flush=True)
    return now


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--records", type=int, default=10, help="records per entity")
    parser.add_argument("--sample", type=int, default=200)
    parser.add_argument("--draw-pool", type=int, default=100_000, help="entities of the drawn industry")
    parser.add_argument("--keep", action="store_true", help="keep the database (prints its URL)")
    args = parser.parse_args()
    name = f"chengzhi_bench_credit_{secrets.token_hex(3)}"
    admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(ADMIN).set(database=name).render_as_string(hide_password=False)
    on = dt.date(2026, 12, 1)
    results: dict[str, object] = {"entities": args.entities, "records": args.entities * args.records}
    try:
        upgrade(url)
        engine = create_engine(url)
        started = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(text(ENTITIES), {"n": args.entities, "pool": args.draw_pool})
            first = conn.execute(text("SELECT min(id) FROM credit_entities")).scalar_one()
            unit = conn.execute(text(UNIT)).scalar_one()
        started = timed("load_entities_s", results, started)
        step = 1_000_000  # records in statements of a million rows
        total = args.entities * args.records
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE credit_records SET (autovacuum_enabled = false)"))
        for offset in range(0, total, step):
            rows = min(step, total - offset)
            with engine.begin() as conn:
                conn.execute(
                    text(RECORDS.replace("generate_series(1, :total)", "generate_series(:lo, :hi)")),
                    {"per": args.records, "first": first, "lo": offset + 1, "hi": offset + rows, "on": on},
                )
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE credit_records"))
            conn.execute(text("VACUUM ANALYZE credit_entities"))
        started = timed("load_records_s", results, started)

        with Session(engine) as session:
            result = service.regrade_all(session, on)
            session.commit()
        started = timed("regrade_first_s", results, started)
        results["first_grades_written"] = result["grades_changed"]
        with Session(engine) as session:
            nightly = cases.run_nightly(session, on + dt.timedelta(days=1))
            session.commit()
        started = timed("regrade_nightly_s", results, started)
        results["nightly"] = nightly
        # The cost of industry models, at the same load: a regrade a day later by the general model alone (one
        # pass) against the regrade by each entity's model (one pass per model), each rolled back.
        for key, regrade_all in (
            ("regrade_one_model_s", lambda s, d: regrade.regrade_all(s, d, model=service.MODEL)),
            ("regrade_per_model_s", service.regrade_all),
        ):
            with Session(engine) as session:
                t = time.perf_counter()
                regrade_all(session, on + dt.timedelta(days=2))
                results[key] = round(time.perf_counter() - t, 1)
                session.rollback()
        started = time.perf_counter()

        rng = random.Random(1)
        ids = [first + rng.randrange(args.entities) for _ in range(args.sample)]
        views, lookups = [], []
        with engine.connect() as conn:
            codes = [conn.execute(text("SELECT uscc FROM credit_entities WHERE id = :i"), {"i": i}).scalar_one()
                     for i in ids]  # fmt: skip
        for code in codes:
            with Session(engine) as session:
                t = time.perf_counter()
                service.public_view(session, service.get_entity(session, code), on)
                views.append(time.perf_counter() - t)
            with Session(engine) as session:
                t = time.perf_counter()
                service.lookup(session, code, "licence", on)
                lookups.append(time.perf_counter() - t)
        results["public_view_p95_ms"] = round(p95(views), 1)
        results["lookup_p95_ms"] = round(p95(lookups), 1)
        started = time.perf_counter()

        with Session(engine) as session:
            for i in range(60):
                plans.add_inspector(session, unit, f"inspector{i:02d}")
            session.commit()
            started = time.perf_counter()
            plan = plans.create_plan(
                session, unit, "bench", 2026, 2026, "bench", on, ratios={}, industry="food"
            )
            session.commit()
            started = timed("draw_and_store_s", results, started)
            results["draw_pool"] = plan.pool_size
            results["draw_tasks"] = session.scalar(
                text("SELECT count(*) FROM credit_tasks WHERE plan_id = :p"), {"p": plan.id}
            )
            pure = time.perf_counter()
            inspections.draw(plan.pool, plan.seed, plan.roster, ratios=plan.ratios)
            results["draw_pure_s"] = round(time.perf_counter() - pure, 2)
        print(json.dumps(results, ensure_ascii=False))
        engine.dispose()
    finally:
        if args.keep:
            print(url)
        else:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
