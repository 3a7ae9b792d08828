"""Early warning at scale (issue 13): `/dashboard/hot` with 1,000,000 requests on PostgreSQL (target < 1 s) and a
new request placed into a hot issue at that size (target < 50 ms p95).

    python -m benchmarks.warning_hot build [--requests 1000000] [--url URL]
    python -m benchmarks.warning_hot measure [--runs 10] [--cold 3] [--placements 300] [--label NAME]
    python -m benchmarks.warning_hot drop

`build` makes a database of its own (`warning_bench_hot`, ~1.3 GB at 1,000,000 requests) with the demo city's
organisation (districts, streets, communities, categories) and a year of requests generated server-side
(generate_series, INSERT ... SELECT): texts drawn from tc2020-hot, each request in a hot issue as live placement
would have put it (issues of 1 to 1,500 requests, most of them single; a request of an issue comes from the issue's
community or, one in five, from anywhere; its time within weeks of the issue's centre), a sentiment label per
request, outside posts, and the IDF table and signatures the live vectoriser gives tc2020-hot's texts.

`measure` times, in process through the real app (FastAPI TestClient): the city page and a street's page of
`/dashboard/hot` (a city leader, a street leader) and `GET /api/v1/warning/hot-issues` for both, warm (after one
call, `--runs` calls) and cold (a new app, engine and caches for each call, `--cold` times; PostgreSQL's own buffers
stay warm); the ranking statement alone with the previous computation (`reference_hot_issues`, per-issue SQL
terms) and the current one; and the placement of a new request (tc2020-hot texts, each alone, rolled back) with
the current index and the previous inverted index. Results go to benchmarks/results/warning_hot-DATE[-LABEL].json
and .md with the machine and the load.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import importlib
import json
import math
import os
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, case, create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from benchmarks.intake import recreate_postgres
from benchmarks.run_all import machine_info, postgres_info

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DATA = ROOT.parent / "shared" / "data" / "tc2020-hot" / "messages.csv"
URL = os.environ.get(
    "CHENGZHI_BENCH_WARNING_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/warning_bench_hot"
)
PASSWORD = "bench-password-1"
DAYS = 365
# Issue sizes: 1 + floor(U^SKEW × MAX_SIZE): about 95% single requests, mean about 11, a few of up to 1,500.
SKEW, MAX_SIZE = 150, 1500
POSTS = 20_000


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)]


def summary(seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 1),
        "p95_ms": round(percentile(ms, 0.95), 1),
        "max_ms": round(max(ms), 1),
    }


# ---------------------------------------------------------------- build


def _pool(say: Callable[[str], None]) -> list[dict[str, Any]]:
    """tc2020-hot's messages with their live vectors (signature, place keys) under the pool's own IDF."""
    from chengzhi.warning import files, hot, live

    messages = files.read_message_bytes(DATA.read_bytes())
    grouping = hot.GroupingSettings()
    documents = []
    for message in messages:
        clean_title, clean_detail = hot.clean_text(message)
        document, *_rest = hot.document_tokens(clean_title, clean_detail, grouping)
        documents.append(set(document))
    counts = Counter(t for d in documents for t in d)
    n = len(documents)
    idf_values = {t: math.log((1 + n) / (1 + c)) + 1.0 for t, c in counts.items() if c >= 2}
    idf = live._Idf(idf_values, max(idf_values.values()), time.monotonic())
    pool = []
    for message in messages:
        vector, places = live.vectorise(message.title, message.detail, idf, grouping)
        pool.append(
            {
                "title": message.title[:200],
                "detail": message.detail,
                "signature": live._normalised_top(vector),
                "place_keys": places,
            }
        )
    say(f"pool: {len(pool)} texts, {len(idf_values)} terms")
    return [{"idf": idf_values}, *pool]


def _org(engine: Engine) -> dict[str, Any]:
    from chengzhi.demo.city import build_city
    from chengzhi.org.models import Role, UnitKind
    from chengzhi.org.service import create_user

    with Session(engine) as session, session.begin():
        demo = build_city(session, random.Random(13))
        streets = sorted((u for u in demo.units.values() if u.kind == UnitKind.street), key=lambda u: u.path)
        street = streets[0]
        create_user(
            session,
            username="bench-city",
            display_name="City",
            password=PASSWORD,
            roles=[(Role.leader, demo.city)],
        )
        create_user(
            session,
            username="bench-street",
            display_name="Street",
            password=PASSWORD,
            roles=[(Role.leader, street)],
        )
        communities = [
            (c.unit.id, c.unit.path, c.street.id, *demo.grid.centre(*c.cell)) for c in demo.communities
        ]
        categories = list(session.scalars(text("SELECT id FROM categories ORDER BY id")))
        return {
            "city_id": demo.city.id,
            "city_path": demo.city.path,
            "street_id": street.id,
            "street_path": street.path,
            "communities": communities,
            "categories": categories,
        }


SQL_ISSUES = """
CREATE UNLOGGED TABLE bench_issues AS
SELECT i, 1 + floor(power(greatest(random(), 0.9), :skew) * :max_size)::int AS size, random() * :days AS centre,
       floor(random() * :units)::int AS home, floor(random() * :categories)::int AS category
FROM generate_series(1, :issues) AS i
"""

SQL_ROWS = """
CREATE UNLOGGED TABLE bench_rows AS
SELECT n, i, size, home, category, age FROM (
  SELECT row_number() OVER (ORDER BY b.i, j) AS n, b.i, b.size, b.home, b.category,
         least(:days - 0.001, greatest(0.0, b.centre + (random() - 0.5) * least(b.size, 60))) AS age
  FROM bench_issues b, generate_series(1, b.size) AS j
) s WHERE n <= :n
"""

SQL_REQUESTS = """
INSERT INTO requests (id, tracking_number, title, text, channel, language, category_id, priority, lat, lon,
  receiving_unit_id, lead_unit_id, attributes, source, received_at, status, co_unit_ids, extension_pending,
  extension_days, deadlines, ever_overdue, answered_at_intake, reopen_count, return_count, closed_at, updated_at,
  event_count, support_count, submitter_id)
SELECT r.n, 'B' || lpad(r.n::text, 10, '0'), p.title, p.detail, 'phone', 'zh', c.id, 'normal',
  u.lat + (random() - 0.5) * 0.01, u.lon + (random() - 0.5) * 0.01, :city_id, u.unit_id, '{}', 'bench',
  :now - r.age * interval '1 day', CASE WHEN r.age > 20 THEN 'closed' ELSE 'received' END, '[]', false, 0, '{}',
  false, false, 0, 0, CASE WHEN r.age > 20 THEN :now - (r.age - 10) * interval '1 day' END,
  :now - r.age * interval '1 day', 1, floor(power(greatest(random(), 0.01), 8) * 40)::int, NULL
FROM (SELECT n, i, age, category, CASE WHEN random() < 0.8 THEN home ELSE floor(random() * :units)::int END AS unit
      FROM bench_rows) r
JOIN bench_pool p ON p.k = r.i % :pool
JOIN bench_units u ON u.k = r.unit
JOIN bench_categories c ON c.k = r.category
"""

SQL_HOT_ISSUES = """
INSERT INTO hot_issues (id, name, name_locked, place_or_group, top_words, signature, place_keys, message_count,
  first_at, last_at, created_at, updated_at)
SELECT a.i, p.title, false, '', '[]', p.signature, p.place_keys, a.n, a.first_at, a.last_at, :now, :now
FROM (SELECT m.issue_id AS i, count(*) AS n, min(q.received_at) AS first_at, max(q.received_at) AS last_at
      FROM bench_members m JOIN requests q ON q.id = m.request_id GROUP BY m.issue_id) a
JOIN bench_pool p ON p.k = a.i % :pool
"""

SQL_MEMBERS = """
INSERT INTO hot_issue_members (request_id, issue_id, similarity, pinned, received_at, person, supports, unit_path,
  area_unit_id, title, placed_at)
SELECT q.id, m.issue_id, 1.0, false, q.received_at, 'u' || floor(random() * 300000)::int, q.support_count,
  u.path, u.unit_id, q.title, :now
FROM bench_members m JOIN requests q ON q.id = m.request_id JOIN bench_units u ON u.unit_id = q.lead_unit_id
"""

SQL_LABELS = """
INSERT INTO warning_text_labels (request_id, negativity, sentiment, message_type, model_version, labelled_at)
SELECT id, x, CASE WHEN x >= 0.5 THEN 'negative' ELSE 'neutral' END, 'complaint', 'bench', :now
FROM (SELECT id, round(random()::numeric, 4)::float AS x FROM requests) s
"""

SQL_POSTS = """
INSERT INTO warning_posts (source, external_id, digest, title, text, person, likes, dislikes, received_at,
  unit_path, issue_id, similarity, created_at)
SELECT 'bench-board', 'post-' || g, md5('post-' || g), p.title, '', 'o' || floor(random() * 5000)::int,
  floor(power(greatest(random(), 0.01), 6) * 30)::int, floor(power(greatest(random(), 0.01), 8) * 10)::int, h.last_at - random() * interval '3 days',
  :city_path, h.id, 1.0, :now
FROM (SELECT g, 1 + floor(power(random(), 3) * :issues)::int AS target FROM generate_series(1, :posts) AS g) s
JOIN hot_issues h ON h.id = s.target
JOIN bench_pool p ON p.k = h.id % :pool
"""


def build(url: str, n: int, say: Callable[[str], None]) -> dict[str, Any]:
    from chengzhi.db import make_engine
    from chengzhi.migrate import upgrade

    started = time.perf_counter()
    recreate_postgres(url)
    upgrade(url)
    say(f"schema {time.perf_counter() - started:.1f} s")
    engine = make_engine(url)
    org = _org(engine)
    say(f"org: {len(org['communities'])} communities, {len(org['categories'])} categories")
    pool = _pool(say)
    idf = pool.pop(0)["idf"]
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    issues = int(n / (1 + MAX_SIZE / (SKEW + 1)) * 1.1)
    params = {
        "n": n,
        "now": now,
        "days": DAYS,
        "skew": SKEW,
        "max_size": MAX_SIZE,
        "issues": issues,
        "units": len(org["communities"]),
        "categories": len(org["categories"]),
        "pool": len(pool),
        "city_id": org["city_id"],
        "city_path": org["city_path"],
        "posts": POSTS,
    }
    steps = []
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE UNLOGGED TABLE bench_pool (k int PRIMARY KEY, title text, detail text, "
                "signature json, place_keys json)"
            )
        )
        conn.execute(
            text("INSERT INTO bench_pool VALUES (:k, :title, :detail, :signature, :place_keys)"),
            [
                {
                    **p,
                    "k": k,
                    "signature": json.dumps(p["signature"]),
                    "place_keys": json.dumps(p["place_keys"]),
                }
                for k, p in enumerate(pool)
            ],
        )
        conn.execute(
            text(
                "CREATE UNLOGGED TABLE bench_units (k int PRIMARY KEY, unit_id int, path text, "
                "street_id int, lon float, lat float)"
            )
        )
        conn.execute(
            text("INSERT INTO bench_units VALUES (:k, :unit_id, :path, :street_id, :lon, :lat)"),
            [
                {"k": k, "unit_id": u, "path": p, "street_id": s, "lon": lon, "lat": lat}
                for k, (u, p, s, lon, lat) in enumerate(org["communities"])
            ],
        )
        conn.execute(text("CREATE UNLOGGED TABLE bench_categories (k int PRIMARY KEY, id int)"))
        conn.execute(
            text("INSERT INTO bench_categories VALUES (:k, :id)"),
            [{"k": k, "id": c} for k, c in enumerate(org["categories"])],
        )
        conn.execute(
            text("INSERT INTO hot_terms (term, idf) VALUES (:term, :idf)"),
            [{"term": t[:80], "idf": v} for t, v in idf.items()],
        )
    for name, sql in (
        ("issues", SQL_ISSUES),
        ("rows", SQL_ROWS),
        ("requests", SQL_REQUESTS),
        (
            "members",
            "CREATE UNLOGGED TABLE bench_members AS SELECT n AS request_id, i AS issue_id FROM bench_rows",
        ),
        ("hot_issues", SQL_HOT_ISSUES),
        ("hot_issue_members", SQL_MEMBERS),
        ("labels", SQL_LABELS),
        ("posts", SQL_POSTS),
    ):
        step = time.perf_counter()
        with engine.begin() as conn:
            used = {k: v for k, v in params.items() if f":{k}" in sql}
            conn.execute(text(sql), used)
        steps.append((name, round(time.perf_counter() - step, 1)))
        say(f"{name} {steps[-1][1]} s")
    _backfill_negativity(engine)
    with engine.begin() as conn:
        for table in ("bench_issues", "bench_rows", "bench_members"):
            conn.execute(text(f"DROP TABLE {table}"))
        for table in ("requests", "hot_issues", "hot_issue_decisions"):
            conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT coalesce(max(id), 1) FROM {table}))"
                )
            )
    step = time.perf_counter()
    with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text("VACUUM ANALYZE"))
    steps.append(("vacuum analyze", round(time.perf_counter() - step, 1)))
    with engine.connect() as conn:
        counts = {
            table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()
            for table in (
                "requests",
                "hot_issues",
                "hot_issue_members",
                "warning_text_labels",
                "warning_posts",
            )
        }
        counts["database_bytes"] = conn.execute(text("SELECT pg_database_size(current_database())")).scalar()
    engine.dispose()
    result = {
        "built_at": now.isoformat(),
        "seconds": round(time.perf_counter() - started, 1),
        "steps": steps,
        "counts": counts,
        "org": {k: v for k, v in org.items() if k not in ("communities", "categories")},
    }
    say(json.dumps(result))
    _build_file(url).write_text(json.dumps(result, indent=1))
    return result


def _build_file(url: str) -> Path:
    """What build wrote about the database (var/bench, not committed)."""
    folder = ROOT / "var" / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"warning_hot-{make_url(url).database}.json"


def _backfill_negativity(engine: Engine) -> None:
    """When the schema has the memberships' negativity (migration 0057), the build fills it as live placement and
    labelling do; without it (an older tree, for a before/after comparison) nothing happens."""
    with engine.begin() as conn:
        has = conn.execute(
            text(
                "SELECT 1 FROM information_schema.columns WHERE table_name = 'hot_issue_members' "
                "AND column_name = 'negativity'"
            )
        ).first()
        if has:
            conn.execute(
                text(
                    "UPDATE hot_issue_members m SET negativity = l.negativity FROM warning_text_labels l "
                    "WHERE l.request_id = m.request_id"
                )
            )


def drop(url: str) -> None:
    parsed = make_url(url)
    name = parsed.database
    if not name or not name.replace("_", "").isalnum():
        raise SystemExit(f"refusing to drop the PostgreSQL database {name!r}")
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


# ---------------------------------------------------------------- the previous computation (before/after)


def reference_hot_issues(
    session: Session, settings: Any, unit: Any, now: dt.datetime, *, limit: int = 20
) -> list[tuple[int, float, dict[str, float]]]:
    """(issue id, heat, contributions) of the hottest issues as `warning.service.hot_issues` computed them before
    `warning.ranking`: one SQL statement with a term per aggregate over the contributions (negativity joined from
    the labels), then `hot.raw_terms` and `hot.score` issue by issue. Kept to compare the new ranking with (tests)
    and to time it beside the new one (measure)."""
    from sqlalchemy import Float, Integer, literal, null, union_all

    from chengzhi.warning import hot
    from chengzhi.warning.live import WINDOW_DAYS
    from chengzhi.warning.models import HotIssue, HotIssueMember, OutsidePost, TextLabel
    from chengzhi.warning.service import _in_scope
    from chengzhi.warning.settings import heat_weights

    since = now - dt.timedelta(days=WINDOW_DAYS)
    recent = now - dt.timedelta(days=30)
    M, P = HotIssueMember, OutsidePost
    requests_part = (
        select(
            M.issue_id.label("issue_id"),
            M.person.label("person"),
            M.supports.label("supports"),
            literal(0).label("dislikes"),
            M.received_at.label("received_at"),
            M.area_unit_id.label("area_unit_id"),
            M.unit_path.label("unit_path"),
            TextLabel.negativity.label("negativity"),
        )
        .outerjoin(TextLabel, TextLabel.request_id == M.request_id)
        .where(M.received_at >= since)
    )
    posts_part = select(
        P.issue_id,
        P.person,
        P.likes,
        P.dislikes,
        P.received_at,
        null().cast(Integer),
        P.unit_path,
        null().cast(Float),
    ).where(P.issue_id.is_not(None), P.received_at >= since)
    C = union_all(requests_part, posts_part).subquery("contributions")
    query = (
        select(
            C.c.issue_id,
            func.count(),
            func.count(func.distinct(C.c.person)),
            func.sum(C.c.supports),
            func.min(C.c.received_at),
            func.max(C.c.received_at),
            func.sum(case((C.c.received_at >= recent, 1), else_=0)),
            func.count(func.distinct(C.c.area_unit_id)),
            func.avg(C.c.negativity),
            func.sum(C.c.dislikes),
        )
        .join(HotIssue, HotIssue.id == C.c.issue_id)
        .where(_in_scope(unit, C.c.unit_path), HotIssue.merged_into_id.is_(None))
        .group_by(C.c.issue_id)
        .having(func.count(func.distinct(C.c.person)) >= settings.warning_min_people)
    )
    tallies = {
        issue_id: hot.Tally(
            messages=count,
            people=people,
            likes=int(supports or 0),
            dislikes=int(dislikes or 0),
            first=first,
            last=last,
            recent=int(fresh or 0),
            negativity=float(negativity) if negativity is not None else None,
            areas=areas,
        )
        for issue_id, count, people, supports, first, last, fresh, areas, negativity, dislikes in session.execute(
            query
        )
    }
    ids = list(tallies)
    terms = [hot.raw_terms(tallies[i], now) for i in ids]
    scored = hot.score(terms, heat_weights(settings))
    order = sorted(range(len(ids)), key=lambda k: (-scored[k][2], -tallies[ids[k]].messages, ids[k]))[:limit]
    return [(ids[k], scored[k][2], scored[k][1]) for k in order]


# ---------------------------------------------------------------- measure


def _settings(url: str) -> Any:
    from chengzhi.config import Settings

    return Settings(
        database_url=url, environment="test", scheduler_enabled=False, rate_limit_storage="memory://"
    )


def _signed_in(client: Any, username: str) -> None:
    client.cookies.clear()
    page = client.get("/login")
    csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    signed = client.post(
        "/login",
        data={"csrf_token": csrf, "username": username, "password": PASSWORD},
        follow_redirects=False,
    )
    assert signed.status_code == 303, signed.text[:200]


def _token(client: Any, username: str) -> str:
    answer = client.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
    assert answer.status_code == 200, answer.text[:200]
    return str(answer.json()["access_token"])


def _timed(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    response = call()
    seconds = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"{response.status_code}: {response.text[:300]}")
    return seconds


def _views(url: str, street_id: int, runs: int, cold: int, say: Callable[[str], None]) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from chengzhi.app import create_app

    views: dict[str, tuple[str, str, dict[str, str]]] = {
        "page city": ("bench-city", "/dashboard/hot", {}),
        "page street": ("bench-street", "/dashboard/hot", {}),
        "api city": ("bench-city", "/api/v1/warning/hot-issues", {}),
        "api street": ("bench-street", "/api/v1/warning/hot-issues", {}),
    }
    found: dict[str, Any] = {}
    for name, (user, path, params) in views.items():
        cold_seconds = []
        warm: list[float] = []
        for attempt in range(cold):
            with TestClient(create_app(_settings(url))) as client:
                headers: dict[str, str] = {}
                if path.startswith("/api"):
                    headers = {"Authorization": f"Bearer {_token(client, user)}"}
                else:
                    _signed_in(client, user)
                call = functools.partial(client.get, path, params=params, headers=headers)
                cold_seconds.append(_timed(call))
                if attempt == 0:
                    warm = [_timed(call) for _ in range(runs)]
        found[name] = {"warm": summary(warm), "cold": summary(cold_seconds)}
        say(f"{name}: {found[name]}")
    return found


def _statements(url: str, org: dict[str, Any], runs: int, say: Callable[[str], None]) -> dict[str, Any]:
    from chengzhi.db import make_engine
    from chengzhi.org import queries as org_queries
    from chengzhi.warning import service
    from chengzhi.warning.settings import heat_weights

    # Absent from a tree before it (main, for a before/after comparison): the ranking alone is not timed.
    ranking: Any = None
    with contextlib.suppress(ImportError):
        ranking = importlib.import_module("chengzhi.warning.ranking")

    settings = _settings(url)

    def current_ranking(unit: Any, now: dt.datetime) -> list[int]:
        """The ranking alone, as `reference_hot_issues` times it (no trends, no issue rows)."""
        since = now - dt.timedelta(days=90)
        found = ranking.tallies(
            session, lambda column: service._in_scope(unit, column), since, now, settings.warning_min_people
        )
        scores = ranking.score(ranking.raw_terms(found, now), heat_weights(settings))
        return [int(found.ids[k]) for k in ranking.order(found, scores, 20)]

    engine = make_engine(url)
    found: dict[str, Any] = {}
    try:
        with Session(engine) as session:
            now = dt.datetime.now(dt.UTC)
            for scope in ("city", "street"):
                unit = org_queries.unit_by_id(session, org[f"{scope}_id"])
                assert unit is not None
                calls: list[tuple[str, Callable[[], Any]]] = [
                    ("previous", functools.partial(reference_hot_issues, session, settings, unit, now)),
                    ("current", functools.partial(current_ranking, unit, now)),
                    (
                        "current, with trends and issues",
                        functools.partial(service.hot_issues, session, settings, unit, now),
                    ),
                ]
                for name, call in calls if ranking is not None else [calls[0], calls[2]]:
                    call()
                    seconds = []
                    for _ in range(runs):
                        started = time.perf_counter()
                        call()
                        seconds.append(time.perf_counter() - started)
                    found[f"{scope} {name}"] = summary(seconds)
                    say(f"ranking {scope} {name}: {found[f'{scope} {name}']}")
                previous = reference_hot_issues(session, settings, unit, now)
                current = service.hot_issues(session, settings, unit, now)
                found[f"{scope} same ranks"] = [i for i, _h, _c in previous] == [
                    v.id for v in current
                ] and all(abs(h - v.heat) < 1e-9 for (_i, h, _c), v in zip(previous, current, strict=True))
    finally:
        engine.dispose()
    return found


def _placement(url: str, count: int, say: Callable[[str], None]) -> dict[str, Any]:
    """Each of `count` tc2020-hot texts placed alone as a new request would be, in a transaction rolled back."""
    from chengzhi.db import make_engine
    from chengzhi.warning import files, hot, live
    from chengzhi.warning.models import HotIssue

    settings = _settings(url)
    messages = files.read_message_bytes(DATA.read_bytes())
    sample = random.Random(5).sample(messages, min(count, len(messages)))
    engine = make_engine(url)
    found: dict[str, Any] = {}
    try:
        with Session(engine) as session:
            now = dt.datetime.now(dt.UTC)
            live.invalidate_index()
            live.invalidate_idf()
            started, cpu = time.perf_counter(), time.process_time()
            live._open_issues(session, now)
            live._idf(session)
            found["index_build"] = {
                "wall_s": round(time.perf_counter() - started, 2),
                "cpu_s": round(time.process_time() - cpu, 2),
                "open_issues": session.scalar(
                    select(func.count()).where(
                        HotIssue.merged_into_id.is_(None),
                        HotIssue.last_at >= now - dt.timedelta(days=live.WINDOW_DAYS),
                    )
                ),
            }
            say(f"placement index: {found['index_build']}")
            wall, cpu_times = [], []
            # One placement first: the word segmenter loads its dictionary on first use (about 1 s).
            session.begin_nested()
            live._place_batch(session, settings, [(sample[0].title, sample[0].detail, now)], now)
            session.rollback()
            for message in sample:
                session.begin_nested()
                started, cpu = time.perf_counter(), time.process_time()
                live._place_batch(session, settings, [(message.title, message.detail, now)], now)
                cpu_times.append(time.process_time() - cpu)
                wall.append(time.perf_counter() - started)
                session.rollback()
            found["place_wall"] = summary(wall)
            found["place_cpu"] = summary(cpu_times)
            # The nearest-issue search alone, the previous inverted index beside the current one.
            idf = live._idf(session)
            grouping = hot.GroupingSettings()
            vectors = [live.vectorise(m.title, m.detail, idf, grouping) for m in sample]
            rows = session.execute(
                select(HotIssue.id, HotIssue.signature, HotIssue.place_keys).where(
                    HotIssue.merged_into_id.is_(None),
                    HotIssue.last_at >= now - dt.timedelta(days=live.WINDOW_DAYS),
                )
            ).all()
            previous = live._Open()
            for issue_id, signature, places in rows:
                previous.add(issue_id, signature or {}, list(places or []))
            live.invalidate_index()  # without the issues the rolled-back placements above added to it
            current = live._open_issues(session, now)
            for name, index in (("previous", previous), ("current", current)):
                seconds = []
                for vector, places in vectors:
                    cpu = time.process_time()
                    index.best(vector, places)
                    seconds.append(time.process_time() - cpu)
                found[f"search_cpu {name}"] = summary(seconds)
            found["same_choices"] = sum(
                previous.best(v, p)[0] == current.best(v, p)[0] for v, p in vectors
            ) / len(vectors)
            say(f"placement: {json.dumps({k: v for k, v in found.items() if k != 'index_build'})}")
    finally:
        engine.dispose()
    return found


def measure(url: str, runs: int, cold: int, placements: int, label: str, say: Callable[[str], None]) -> None:
    build_file = _build_file(url)
    built = json.loads(build_file.read_text()) if build_file.exists() else {}
    org = built.get("org") or {}
    if not org:
        raise SystemExit(f"no build record ({build_file}): run build first")
    started = time.perf_counter()
    load_before = os.getloadavg()
    report: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "postgres": postgres_info(url),
        "build": built,
        "load_before": [round(x, 2) for x in load_before],
        "nice": os.nice(0),
    }
    report["views"] = _views(url, org["street_id"], runs, cold, say)
    report["ranking"] = _statements(url, org, runs, say)
    report["placement"] = _placement(url, placements, say)
    report["load_after"] = [round(x, 2) for x in os.getloadavg()]
    report["seconds"] = round(time.perf_counter() - started, 1)
    day = dt.date.today().isoformat()
    stem = f"warning_hot-{day}" + (f"-{label}" if label else "")
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=1, default=str))
    (RESULTS / f"{stem}.md").write_text(markdown(report))
    say(f"wrote {RESULTS / stem}.json and .md")


def markdown(report: dict[str, Any]) -> str:
    counts = report["build"].get("counts", {})
    lines = [
        f"# /dashboard/hot at scale ({report['date']})",
        "",
        f"- Machine: {report['machine']}",
        f"- PostgreSQL: {report['postgres']}",
        f"- Load before/after: {report['load_before']} / {report['load_after']}, nice {report['nice']}",
        f"- Data: {counts.get('requests', 0):,} requests, {counts.get('hot_issues', 0):,} hot issues, "
        f"{counts.get('hot_issue_members', 0):,} memberships, {counts.get('warning_posts', 0):,} outside posts, "
        f"database {counts.get('database_bytes', 0) / 1e9:.2f} GB; built in {report['build'].get('seconds')} s",
        "- Views: in process through the app (TestClient); warm = one call, then the runs; cold = a new app "
        "(engine, caches) per call, PostgreSQL's buffers warm.",
        "",
        "| view | warm p50 ms | warm p95 ms | cold p50 ms | cold p95 ms |",
        "|---|---|---|---|---|",
    ]
    for name, value in report["views"].items():
        warm, cold = value["warm"], value["cold"]
        lines.append(
            f"| {name} | {warm['p50_ms']} | {warm['p95_ms']} | {cold['p50_ms']} | {cold['p95_ms']} |"
        )
    lines += [
        "",
        "Ranking alone (the previous computation, the current one, and `service.hot_issues` with its trends):",
        "",
    ]
    lines += ["| scope and code | p50 ms | p95 ms |", "|---|---|---|"]
    for name, value in report["ranking"].items():
        if isinstance(value, dict):
            lines.append(f"| {name} | {value['p50_ms']} | {value['p95_ms']} |")
        else:
            lines.append(f"| {name} | {value} | |")
    placement = report["placement"]
    lines += [
        "",
        f"Placement of a new request ({placement['place_wall']['n']} tc2020-hot texts, each alone):",
        "",
    ]
    lines.append(f"- index of open issues built in {placement['index_build']}")
    for key in ("place_wall", "place_cpu", "search_cpu previous", "search_cpu current"):
        if key in placement:
            value = placement[key]
            lines.append(
                f"- {key}: p50 {value['p50_ms']} ms, p95 {value['p95_ms']} ms, max {value['max_ms']} ms"
            )
    lines.append(f"- same issue chosen by both indexes: {placement.get('same_choices')}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("action", choices=("build", "measure", "drop"))
    parser.add_argument("--url", default=URL)
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--cold", type=int, default=3)
    parser.add_argument("--placements", type=int, default=300)
    parser.add_argument("--label", default="")
    args = parser.parse_args()

    def say(line: str) -> None:
        print(f"[{dt.datetime.now():%H:%M:%S}] {line}", flush=True)

    if args.action == "build":
        build(args.url, args.requests, say)
    elif args.action == "measure":
        measure(args.url, args.runs, args.cold, args.placements, args.label, say)
    else:
        drop(args.url)
        say(f"dropped {make_url(args.url).database}")


if __name__ == "__main__":
    main()
