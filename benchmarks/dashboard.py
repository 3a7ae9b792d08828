"""Dashboard benchmark: every dashboard view and metrics call on a year of requests (1,000,000 on PostgreSQL,
100,000 on SQLite by default), each timed in-process through the real app (TestClient, signed in as a leader).

The data set goes into a dedicated database (`chengzhi_bench_dashboard`, `var/bench/dashboard.db`):
a city of 8 districts × 8 streets × 5 communities with departments, 20 categories, and requests with event
histories that follow the workflow (dispatch, sign, contact, reply, review, close; late signs and contacts marked
overdue, returns, reopenings, extensions, co-units, consultations, unrated ones; histories cut at "now" stay open).
Each history is checked by `workflow.apply` while its facts are derived with `metrics.facts.derive` (the code the
platform runs after each event), then requests, events and facts are bulk-loaded (COPY on PostgreSQL).
A sample of facts is then recomputed from the stored log by `metrics.facts.refresh` and must match.

Freshness: a request submitted through the service afterwards must show in the figures of the next call.

    .venv/bin/python -m benchmarks.dashboard [--postgres N] [--sqlite N] [--runs 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from benchmarks.intake import recreate_postgres, recreate_sqlite
from benchmarks.run_all import machine_info, postgres_info

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
PG_URL = os.environ.get(
    "CHENGZHI_BENCH_DASHBOARD_POSTGRES_URL",
    "postgresql+psycopg://postgres@127.0.0.1:5432/chengzhi_bench_dashboard",
)
SQLITE_URL = f"sqlite:///{ROOT / 'var' / 'bench' / 'dashboard.db'}"
PASSWORD = "bench-password-1"
TZ = ZoneInfo("Asia/Shanghai")

DISTRICTS, STREETS, COMMUNITIES = 8, 8, 5
FUNCTIONS = ("water", "transport", "housing")
CATEGORIES = 20
# scenario -> weight
SCENARIOS = {
    "rated": 45,
    "late_sign": 8,
    "late_contact": 7,
    "returned": 8,
    "reopened": 6,
    "extended": 6,
    "co_handled": 4,
    "unrated": 6,
    "consultation": 5,
    "supervised": 5,
}
CHANNELS = (("phone", 60), ("web", 20), ("app", 15), ("email", 5))


# ---------------------------------------------------------------- the city


def build_org(engine: Engine) -> dict[str, Any]:
    """Units with rectangle areas (lon 0..8, lat 0..8), categories, a city leader and a district leader."""
    from chengzhi.categories.models import HandlerKind
    from chengzhi.categories.service import create_category
    from chengzhi.org.models import Role, UnitKind
    from chengzhi.org.service import create_unit, create_user

    def rect(x: float, y: float, w: float, h: float) -> dict[str, Any]:
        ring = [[x, y], [x + w, y], [x + w, y + h], [x, y + h], [x, y]]
        return {"type": "Polygon", "coordinates": [ring]}

    org: dict[str, Any] = {"communities": [], "streets": {}, "departments": {}, "categories": []}
    with Session(engine) as session, session.begin():
        city = create_unit(
            session,
            code="city",
            name_zh="基准市",
            name_en="Bench City",
            kind=UnitKind.city,
            parent=None,
            area=rect(0, 0, 8, 8),
        )
        for f in FUNCTIONS:
            create_unit(
                session,
                code=f"city-{f}",
                name_zh=f"市{f}局",
                name_en=f"City {f}",
                kind=UnitKind.department,
                parent=city,
                function=f,
            )
        for d in range(DISTRICTS):
            district = create_unit(
                session,
                code=f"D{d}",
                name_zh=f"第{d}区",
                name_en=f"District {d}",
                kind=UnitKind.district,
                parent=city,
                area=rect(d, 0, 1, 8),
            )
            for f in FUNCTIONS:
                dept = create_unit(
                    session,
                    code=f"D{d}-{f}",
                    name_zh=f"第{d}区{f}局",
                    name_en=f"D{d} {f}",
                    kind=UnitKind.department,
                    parent=district,
                    function=f,
                )
                org["departments"][(d, f)] = dept.id
            for s in range(STREETS):
                street = create_unit(
                    session,
                    code=f"D{d}S{s}",
                    name_zh=f"第{d}区{s}街道",
                    name_en=f"D{d} street {s}",
                    kind=UnitKind.street,
                    parent=district,
                    area=rect(d, s, 1, 1),
                )
                org["streets"][(d, s)] = street.id
                for c in range(COMMUNITIES):
                    community = create_unit(
                        session,
                        code=f"D{d}S{s}C{c}",
                        name_zh=f"第{d}区{s}街{c}社区",
                        name_en=f"D{d}S{s} community {c}",
                        kind=UnitKind.community,
                        parent=street,
                        area=rect(d + c / COMMUNITIES, s, 1 / COMMUNITIES, 1),
                    )
                    org["communities"].append((d, s, c, community.id))
            if d == 0:
                org["district0"] = district.id
        for i in range(CATEGORIES):
            kind = (HandlerKind.community, HandlerKind.street, HandlerKind.department)[i % 3]
            category = create_category(
                session,
                code=f"cat{i:02d}",
                name_zh=f"类别{i:02d}",
                name_en=f"Category {i:02d}",
                handler_kind=kind,
                handler_function=FUNCTIONS[i % len(FUNCTIONS)] if kind == HandlerKind.department else None,
                time_limits={"sign": "2h", "contact": "1d", "reply": "7d", "review": "1d"},
            )
            org["categories"].append((category.id, category.code, kind.value))
        from chengzhi.org.service import hash_password

        hashed = hash_password(PASSWORD)
        create_user(
            session,
            username="leader",
            display_name="leader",
            password=None,
            password_hash=hashed,
            roles=[(Role.leader, city)],
        )
        create_user(
            session,
            username="operator",
            display_name="operator",
            password=None,
            password_hash=hashed,
            roles=[(Role.operator, city)],
        )
        district0 = session.get(type(city), org["district0"])
        create_user(
            session,
            username="d0-leader",
            display_name="d0-leader",
            password=None,
            password_hash=hashed,
            roles=[(Role.leader, district0)],
        )
        org["city"] = city.id
    return org


# ---------------------------------------------------------------- histories


def _iso(at: dt.datetime) -> str:
    return at.isoformat()


class Generator:
    def __init__(self, org: dict[str, Any], n: int, now: dt.datetime, seed: int = 12345) -> None:
        self.org, self.n, self.now = org, n, now
        self.rng = random.Random(seed)
        self.scenarios = list(SCENARIOS)
        self.weights = list(SCENARIOS.values())
        self.category_weights = [1 / (i + 1) for i in range(CATEGORIES)]
        self.community_weights = [self.rng.uniform(0.2, 3.0) for _ in org["communities"]]

    def histories(
        self,
    ) -> Iterator[
        tuple[int, dict[str, Any], list[tuple[str, dt.datetime, dict[str, Any]]], tuple[int, int, int]]
    ]:
        rng = self.rng
        start = self.now - dt.timedelta(days=365)
        span = 365 * 86400
        communities = rng.choices(self.org["communities"], self.community_weights, k=self.n)
        categories = rng.choices(self.org["categories"], self.category_weights, k=self.n)
        scenarios = rng.choices(self.scenarios, self.weights, k=self.n)
        channels = rng.choices([c for c, _ in CHANNELS], [w for _, w in CHANNELS], k=self.n)
        offsets = sorted(rng.random() * span for _ in range(self.n))
        for i in range(self.n):
            rid = i + 1
            d, s, c, community_id = communities[i]
            category_id, code, kind = categories[i]
            lead = {"community": community_id, "street": self.org["streets"][(d, s)]}.get(kind)
            if lead is None:
                lead = self.org["departments"][(d, FUNCTIONS[int(code[3:]) % len(FUNCTIONS)])]
            received = start + dt.timedelta(seconds=offsets[i])
            lat = s + rng.random()
            lon = d + (c + rng.random()) / COMMUNITIES
            events = self.events(scenarios[i], received, lead, code, (d, s))
            cut = [e for e in events if e[1] <= self.now]
            request = {
                "id": rid,
                "received_at": received,
                "channel": channels[i],
                "category_id": category_id,
                "lat": lat,
                "lon": lon,
            }
            yield rid, request, cut, (self.org["district_of"][d], self.org["streets"][(d, s)], community_id)

    def events(
        self, scenario: str, t: dt.datetime, lead: int, code: str, place: tuple[int, int]
    ) -> list[tuple[str, dt.datetime, dict[str, Any]]]:
        rng = self.rng
        m = dt.timedelta(minutes=1)
        out: list[tuple[str, dt.datetime, dict[str, Any]]] = [("receive", t, {})]
        if scenario == "consultation":
            t += rng.uniform(2, 30) * m
            out.append(("answer", t, {"text": "已答复", "deadlines": {"review": _iso(t + 1440 * m)}}))
            t += rng.uniform(60, 2000) * m
            out.append(
                (
                    "review",
                    t,
                    {
                        "resolved": rng.random() < 0.8,
                        "satisfaction": rng.choice((3, 4, 5, 5)),
                        "by": "resident",
                    },
                )
            )
            out.append(("close", t + rng.uniform(10, 300) * m, {}))
            return out

        def dispatch(at: dt.datetime, unit: int, co: list[int] | None = None) -> None:
            deadlines = {
                "sign": _iso(at + 120 * m),
                "contact": _iso(at + 1440 * m),
                "reply": _iso(at + 7 * 1440 * m),
                "return": _iso(at + 2 * 1440 * m),
            }
            out.append(
                (
                    "dispatch",
                    at,
                    {"lead_unit_id": unit, "co_unit_ids": co or [], "category": code, "deadlines": deadlines},
                )
            )

        t += rng.uniform(5, 180) * m
        dispatch(
            t,
            lead,
            [self.org["streets"][place]]
            if scenario == "co_handled" and lead != self.org["streets"][place]
            else None,
        )
        dispatched = t
        if scenario == "returned":
            t += rng.uniform(20, 600) * m
            out.append(("return", t, {"reason": "不属于本单位"}))
            t += rng.uniform(10, 240) * m
            other = (
                self.org["streets"][place]
                if lead != self.org["streets"][place]
                else self.org["departments"][(place[0], "housing")]
            )
            dispatch(t, other)
            dispatched = t
        if scenario == "late_sign":
            out.append(
                (
                    "mark_overdue",
                    dispatched + 121 * m,
                    {"stage": "sign", "due_at": _iso(dispatched + 120 * m)},
                )
            )
            t = dispatched + rng.uniform(122, 900) * m
        else:
            t = dispatched + rng.uniform(3, 110) * m
        out.append(("sign", t, {}))
        if scenario == "co_handled":
            t += rng.uniform(5, 60) * m
            out.append(("co_handle", t, {"co_unit_ids": [self.org["departments"][(place[0], "water")]]}))
        if scenario == "extended":
            t += rng.uniform(5, 60) * m
            out.append(("request_extension", t, {"days": 3}))
            t += rng.uniform(30, 300) * m
            out.append(
                (
                    "approve_extension",
                    t,
                    {"days": 3, "deadlines": {"reply": _iso(dispatched + 10 * 1440 * m)}},
                )
            )
        if scenario == "supervised":
            t += rng.uniform(5, 60) * m
            out.append(("supervise", t, {}))
        if scenario == "late_contact":
            out.append(
                (
                    "mark_overdue",
                    dispatched + 1441 * m,
                    {"stage": "contact", "due_at": _iso(dispatched + 1440 * m)},
                )
            )
            t = dispatched + rng.uniform(1442, 4000) * m
        else:
            t = max(t, dispatched) + rng.uniform(10, 1200) * m
            t = min(t, dispatched + 1439 * m) if rng.random() < 0.93 else t + 1440 * m
        out.append(("contact", t, {}))
        t += rng.uniform(60, 6 * 1440) * m
        out.append(("reply", t, {"text": "已处理", "deadlines": {"review": _iso(t + 1440 * m)}}))
        t += rng.uniform(60, 1500) * m
        if scenario == "unrated":
            out.append(("close", t, {}))
            return out
        out.append(
            (
                "review",
                t,
                {
                    "resolved": rng.random() < 0.8,
                    "satisfaction": rng.choice((1, 2, 3, 4, 4, 5, 5, 5)),
                    "by": "resident",
                },
            )
        )
        if scenario == "reopened":
            t += rng.uniform(60, 600) * m
            out.append(("reopen", t, {"reason": "未解决"}))
            t += rng.uniform(10, 300) * m
            dispatch(t, lead)
            t += rng.uniform(3, 100) * m
            out.append(("sign", t, {}))
            t += rng.uniform(10, 600) * m
            out.append(("contact", t, {}))
            t += rng.uniform(60, 3 * 1440) * m
            out.append(("reply", t, {"text": "再次处理", "deadlines": {"review": _iso(t + 1440 * m)}}))
            t += rng.uniform(60, 1400) * m
            out.append(
                (
                    "review",
                    t,
                    {
                        "resolved": rng.random() < 0.7,
                        "satisfaction": rng.choice((2, 3, 4, 5)),
                        "by": "resident",
                    },
                )
            )
        out.append(("close", t + rng.uniform(10, 600) * m, {}))
        return out


# ---------------------------------------------------------------- loading


REQUEST_COLUMNS = [
    "id",
    "tracking_number",
    "title",
    "text",
    "channel",
    "language",
    "category_id",
    "priority",
    "lat",
    "lon",
    "receiving_unit_id",
    "attributes",
    "source",
    "received_at",
    "status",
    "lead_unit_id",
    "co_unit_ids",
    "extension_pending",
    "extension_days",
    "deadlines",
    "ever_overdue",
    "answered_at_intake",
    "reopen_count",
    "return_count",
    "updated_at",
    "event_count",
    "overdue_stage",
]
EVENT_COLUMNS = ["id", "request_id", "seq", "action", "at", "actor_id", "actor_unit_id", "note", "payload"]


def generate(
    engine: Engine, org: dict[str, Any], n: int, now: dt.datetime, say: Callable[[str], None]
) -> dict[str, Any]:
    from chengzhi.metrics.facts import Context, Event, calendar_keys, derive
    from chengzhi.metrics.models import RequestFact
    from chengzhi.models import Base

    fact_columns = [c.name for c in RequestFact.__table__.columns]
    request_table = Base.metadata.tables["requests"]
    # Columns other engineers added to `requests`: their scalar defaults.
    extra = {
        c.name: c.default.arg
        for c in request_table.columns
        if c.name not in REQUEST_COLUMNS and c.default is not None and not callable(c.default.arg)
    }
    request_columns = REQUEST_COLUMNS + list(extra)
    with engine.connect() as conn:
        ctx = Context(conn)
        paths = {uid: path for uid, path in conn.execute(text("SELECT id, path FROM units"))}
    org["district_of"] = {
        d: int(paths[org["streets"][(d, 0)]].strip("/").split("/")[1]) for d in range(DISTRICTS)
    }
    gen = Generator(org, n, now)
    counts = {"requests": 0, "events": 0}
    started = time.perf_counter()
    event_id = 0
    postgres = engine.dialect.name == "postgresql"

    def batches(
        size: int = 20000,
    ) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
        nonlocal event_id
        reqs: list[tuple[Any, ...]] = []
        evs: list[tuple[Any, ...]] = []
        facts: list[tuple[Any, ...]] = []
        for rid, req, events, area in gen.histories():
            derived = derive([Event(a, at, p) for a, at, p in events])
            received = req["received_at"]
            day, week, month = calendar_keys(received, ctx.zone)
            path = paths.get(derived["lead_unit_id"]) if derived["lead_unit_id"] else None
            levels = ([int(x) for x in path.strip("/").split("/")] if path else []) + [None] * 4
            last = events[-1][1]
            reqs.append(
                (
                    rid,
                    f"B{rid:011d}",
                    f"诉求{rid}",
                    "基准测试诉求",
                    req["channel"],
                    "zh",
                    req["category_id"],
                    "normal",
                    req["lat"],
                    req["lon"],
                    org["city"],
                    json.dumps({}),
                    "bench",
                    received,
                    derived["status"],
                    derived["lead_unit_id"],
                    json.dumps([]),
                    False,
                    0,
                    json.dumps({}),
                    derived["ever_overdue"],
                    False,
                    derived["reopenings"],
                    derived["returns"],
                    last,
                    len(events),
                    derived["overdue_stage"],
                    *extra.values(),
                )
            )
            for seq, (action, at, payload) in enumerate(events, 1):
                event_id += 1
                evs.append(
                    (
                        event_id,
                        rid,
                        seq,
                        action,
                        at,
                        None,
                        None,
                        None,
                        json.dumps(payload, ensure_ascii=False),
                    )
                )
            fact = {
                **derived,
                "request_id": rid,
                "received_at": received,
                "received_day": day,
                "received_week": week,
                "received_month": month,
                "channel": req["channel"],
                "category_id": req["category_id"],
                "lead_l1": levels[0],
                "lead_l2": levels[1],
                "lead_l3": levels[2],
                "lead_l4": levels[3],
                "area_district_id": area[0],
                "area_street_id": area[1],
                "area_community_id": area[2],
                "lat": req["lat"],
                "lon": req["lon"],
                "refreshed_at": now,
            }
            facts.append(tuple(fact[c] for c in fact_columns))
            if len(reqs) >= size:
                yield reqs, evs, facts
                reqs, evs, facts = [], [], []
        if reqs:
            yield reqs, evs, facts

    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for reqs, evs, facts in batches():
            if postgres:
                for table, columns, rows in (
                    ("requests", request_columns, reqs),
                    ("request_events", EVENT_COLUMNS, evs),
                    ("request_facts", fact_columns, facts),
                ):
                    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
            else:
                cursor.execute("BEGIN")  # the driver autocommits otherwise: one transaction per row
                for table, columns, rows in (
                    ("requests", request_columns, reqs),
                    ("request_events", EVENT_COLUMNS, evs),
                    ("request_facts", fact_columns, facts),
                ):
                    marks = ", ".join("?" for _ in columns)
                    cursor.executemany(
                        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                        [tuple(_sqlite(v) for v in row) for row in rows],
                    )
            raw.commit()
            counts["requests"] += len(reqs)
            counts["events"] += len(evs)
            if counts["requests"] % 100000 == 0:
                say(
                    f"  {counts['requests']:,} requests, {counts['events']:,} events, {time.perf_counter() - started:.0f} s"
                )
        if postgres:
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence('requests', 'id'), (SELECT max(id) FROM requests))"
            )
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence('request_events', 'id'), (SELECT max(id) FROM request_events))"
            )
            raw.commit()
            cursor.execute("ANALYZE")
            raw.commit()
        else:
            cursor.execute("ANALYZE")
            raw.commit()
    finally:
        raw.close()
    counts["seconds"] = round(time.perf_counter() - started, 1)
    return counts


def _sqlite(value: Any) -> Any:
    """What SQLAlchemy's UTCDateTime and Date write on SQLite."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def verify_sample(engine: Engine, k: int = 300) -> dict[str, Any]:
    """Recompute the facts of k random requests from the stored log with the platform's own refresh; compare."""
    from chengzhi.metrics.facts import refresh
    from chengzhi.metrics.models import RequestFact

    columns = [c for c in RequestFact.__table__.columns if c.name not in ("refreshed_at",)]
    with engine.connect() as conn:
        top = conn.execute(select(func.max(RequestFact.request_id))).scalar() or 0
    ids = sorted(random.Random(7).sample(range(1, top + 1), min(k, top)))
    with engine.begin() as conn:
        before = {
            r[0]: tuple(r) for r in conn.execute(select(*columns).where(RequestFact.request_id.in_(ids)))
        }
        refresh(conn, ids)
        after = {
            r[0]: tuple(r) for r in conn.execute(select(*columns).where(RequestFact.request_id.in_(ids)))
        }
    different = [i for i in ids if _norm(before.get(i)) != _norm(after.get(i))]
    return {"checked": len(ids), "different": len(different), "examples": different[:5]}


def _norm(row: tuple[Any, ...] | None) -> tuple[Any, ...] | None:
    if row is None:
        return None
    return tuple(round(v, 3) if isinstance(v, float) else v for v in row)


# ---------------------------------------------------------------- timing


def timed(call: Callable[[], Any], runs: int) -> dict[str, Any]:
    call()  # warm-up: caches, first plan
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        response = call()
        seconds.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"{response.status_code}: {response.text[:300]}")
    return {"median_ms": round(statistics.median(seconds) * 1000, 1), "max_ms": round(max(seconds) * 1000, 1)}


def measure(url: str, runs: int, now: dt.datetime, say: Callable[[str], None]) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from chengzhi.app import create_app
    from chengzhi.config import Settings

    settings = Settings(
        database_url=url, environment="test", scheduler_enabled=False, rate_limit_storage="memory://"
    )
    today = now.astimezone(TZ).date()
    spans = {
        "30 days": {"start": (today - dt.timedelta(days=29)).isoformat(), "end": today.isoformat()},
        "365 days": {"start": (today - dt.timedelta(days=364)).isoformat(), "end": today.isoformat()},
    }
    results: list[dict[str, Any]] = []
    with TestClient(create_app(settings)) as client:
        token = client.post("/api/v1/auth/token", json={"username": "leader", "password": PASSWORD}).json()[
            "access_token"
        ]
        district_token = client.post(
            "/api/v1/auth/token", json={"username": "d0-leader", "password": PASSWORD}
        ).json()["access_token"]
        page = client.get("/login")
        csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        signed = client.post(
            "/login",
            data={"csrf_token": csrf, "username": "leader", "password": PASSWORD},
            follow_redirects=False,
        )
        assert signed.status_code == 303, signed.text[:200]
        calls: list[tuple[str, str, dict[str, str], str | None]] = []
        for span_name, span in spans.items():
            for view in (
                "/dashboard",
                "/dashboard/operations",
                "/dashboard/rankings",
                "/dashboard/categories",
                "/dashboard/map",
            ):
                calls.append((f"page {view}", view, dict(span), None))
            calls.append(
                ("page /dashboard?group_by=month", "/dashboard", {**span, "group_by": "month"}, None)
            )
            calls.append(
                (
                    "page /dashboard/requests (drill-down)",
                    "/dashboard/requests",
                    {**span, "measure": "overdue"},
                    None,
                )
            )
            for group in ("unit", "category", "channel", "month"):
                calls.append(
                    (
                        f"api three-rates group_by={group}",
                        "/api/v1/metrics/three-rates",
                        {**span, "group_by": group},
                        token,
                    )
                )
            calls.append(
                (
                    "api three-rates (district leader)",
                    "/api/v1/metrics/three-rates",
                    {**span, "group_by": "unit"},
                    district_token,
                )
            )
            calls.append(("api operations", "/api/v1/metrics/operations", dict(span), token))
            calls.append(("api stages", "/api/v1/metrics/stages", dict(span), token))
            calls.append(
                ("api stages (district leader)", "/api/v1/metrics/stages", dict(span), district_token)
            )
            calls.append(
                ("api stages channel=phone", "/api/v1/metrics/stages", {**span, "channel": "phone"}, token)
            )
            calls.append(
                ("api rankings street", "/api/v1/metrics/rankings", {**span, "kind": "street"}, token)
            )
            calls.append(
                ("api rankings department", "/api/v1/metrics/rankings", {**span, "kind": "department"}, token)
            )
            calls.append(("api categories", "/api/v1/metrics/categories", dict(span), token))
            calls.append(("api map (street)", "/api/v1/metrics/map", {**span, "level": "street"}, token))
            calls.append(("api points", "/api/v1/metrics/points", dict(span), token))
            calls.append(
                (
                    "api requests (drill-down)",
                    "/api/v1/metrics/requests",
                    {**span, "measure": "response_numerator"},
                    token,
                )
            )
            calls.append(
                (
                    "api three-rates csv",
                    "/api/v1/metrics/three-rates",
                    {**span, "group_by": "unit", "format": "csv"},
                    token,
                )
            )
            for label, path, params, bearer in [c for c in calls if c[2].get("start") == span["start"]]:
                headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
                figures = timed(lambda p=path, q=params, h=headers: client.get(p, params=q, headers=h), runs)
                results.append({"span": span_name, "call": label, **figures})
                say(
                    f"  {span_name:>8}  {label:<45} median {figures['median_ms']:>7.1f} ms  max {figures['max_ms']:>7.1f} ms"
                )
        fresh = freshness(client, url, token, spans["30 days"])
    return {"calls": results, "freshness": fresh}


def freshness(client: Any, url: str, token: str, span: dict[str, str]) -> dict[str, Any]:
    """Submit a request through the service, commit, let the triage worker take it (its facts are written in the
    worker's batch since issue 19: `drain` runs the worker's own code here, as a running worker would within
    seconds), and time until the next call's figures include it."""
    from chengzhi.config import Settings
    from chengzhi.db import get_sessionmaker
    from chengzhi.org.models import User
    from chengzhi.org.service import actor_for
    from chengzhi.requests import service as svc
    from chengzhi.worker import intake as triage_intake
    from chengzhi.worker.runner import drain

    headers = {"Authorization": f"Bearer {token}"}
    params = {**span, "group_by": "none"}
    before = client.get("/api/v1/metrics/three-rates", params=params, headers=headers).json()["total"][
        "received"
    ]
    settings = Settings(database_url=url, environment="test", scheduler_enabled=False)
    with get_sessionmaker(url)() as session:
        user = session.scalar(select(User).where(User.username == "operator"))
        assert user is not None
        svc.submit_request(
            session,
            actor_for(user),
            svc.Submission(
                text="基准测试：新诉求", category_code="cat00", lat=0.5, lon=0.1, contact_phone="13900000000"
            ),
            settings,
        )
        session.commit()
    committed = time.perf_counter()
    triaged = drain(get_sessionmaker(url), settings, triage_intake.process)
    after = client.get("/api/v1/metrics/three-rates", params=params, headers=headers).json()["total"][
        "received"
    ]
    return {
        "before": before,
        "after": after,
        "visible_after_seconds": round(time.perf_counter() - committed, 3),
        "triaged_by_the_worker": triaged,
    }


# ---------------------------------------------------------------- main


def _previous_load(name: str, report: Path | None = None) -> dict[str, Any] | None:
    """The load figures of this database's last run today (for --reuse), or of the given report."""
    earlier = report or RESULTS / f"dashboard-{dt.date.today().isoformat()}.json"
    if not earlier.exists():
        return None
    for db in json.loads(earlier.read_text(encoding="utf-8"))["databases"]:
        if db["database"] == name:
            return dict(db["load"], reused=True)
    return None


def run(
    name: str,
    url: str,
    n: int,
    runs: int,
    say: Callable[[str], None],
    reuse: bool = False,
    load_report: Path | None = None,
) -> dict[str, Any]:
    from chengzhi.db import make_engine
    from chengzhi.migrate import upgrade

    previous = _previous_load(name, load_report) if reuse else None
    if previous is not None:
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                have = conn.execute(text("SELECT count(*) FROM requests")).scalar() or 0
        finally:
            engine.dispose()
        if have < n:
            previous = None
    if previous is not None:
        return timing_only(name, url, runs, say, previous)
    say(f"{name}: recreating {make_url(url).render_as_string()}")
    (recreate_postgres if name == "postgresql" else recreate_sqlite)(url)
    upgrade(url)
    engine = make_engine(url)
    try:
        org = build_org(engine)
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        say(f"{name}: generating {n:,} requests")
        loaded = generate(engine, org, n, now, say)
        say(f"{name}: loaded {loaded}")
        from chengzhi.metrics.rollup import rebuild

        rolling = time.perf_counter()
        loaded["rollup_days"] = rebuild(engine)
        loaded["rollup_seconds"] = round(time.perf_counter() - rolling, 1)
        if name == "postgresql":
            with engine.connect() as conn:
                for table in ("metric_daily", "metric_daily_cat", "metric_stage_hist"):
                    conn.execute(text(f"ANALYZE {table}"))
                conn.commit()
        sample = verify_sample(engine)
        say(f"{name}: facts recomputed from the log for a sample: {sample}")
        with engine.connect() as conn:
            sizes = {
                t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar()
                for t in ("requests", "request_events", "request_facts")
            }
    finally:
        engine.dispose()
    return timed_report(name, url, runs, say, loaded, sample, sizes, now)


def timing_only(
    name: str, url: str, runs: int, say: Callable[[str], None], loaded: dict[str, Any]
) -> dict[str, Any]:
    """Time the calls again on the data set already loaded (after a change to the queries)."""
    from chengzhi.db import make_engine
    from chengzhi.metrics.models import metric_stage_hist
    from chengzhi.migrate import upgrade

    say(f"{name}: reusing the data set in {make_url(url).render_as_string()}")
    upgrade(url)  # a data set loaded before the newest migrations
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            histograms = conn.execute(select(func.count()).select_from(metric_stage_hist)).scalar()
        if not histograms:
            from chengzhi.metrics.rollup import rebuild

            rolling = time.perf_counter()
            loaded = dict(loaded, rollup_days=rebuild(engine))
            loaded["rollup_seconds"] = round(time.perf_counter() - rolling, 1)
            loaded["rollup_rebuilt_on_reuse"] = True
            say(f"{name}: roll-ups (with the new tables) summed again in {loaded['rollup_seconds']} s")
            if name == "postgresql":
                with engine.connect() as conn:
                    for table in ("metric_daily", "metric_daily_cat", "metric_stage_hist"):
                        conn.execute(text(f"ANALYZE {table}"))
                    conn.commit()
        sample = verify_sample(engine)
        with engine.connect() as conn:
            sizes = {
                t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar()
                for t in ("requests", "request_events", "request_facts")
            }
            latest = conn.execute(
                text("SELECT max(received_at) FROM requests WHERE source = 'bench'")
            ).scalar()
    finally:
        engine.dispose()
    if isinstance(latest, str):
        latest = dt.datetime.fromisoformat(latest)
    now = (
        (latest or dt.datetime.now(dt.UTC)).replace(tzinfo=dt.UTC)
        if latest and latest.tzinfo is None
        else latest
    )
    return timed_report(name, url, runs, say, loaded, sample, sizes, now or dt.datetime.now(dt.UTC))


def timed_report(
    name: str,
    url: str,
    runs: int,
    say: Callable[[str], None],
    loaded: dict[str, Any],
    sample: dict[str, Any],
    sizes: dict[str, Any],
    now: dt.datetime,
) -> dict[str, Any]:
    load = Path("/proc/loadavg").read_text().split()[:3]
    timing = measure(url, runs, now, say)
    out: dict[str, Any] = {
        "database": name,
        "rows": sizes,
        "load": loaded,
        "sample_check": sample,
        "load_average_before_timing": load,
        "load_average_after_timing": Path("/proc/loadavg").read_text().split()[:3],
        **timing,
    }
    if name == "postgresql":
        out["postgresql"] = postgres_info(url)
    slowest = max(timing["calls"], key=lambda c: c["median_ms"])
    out["slowest"] = slowest
    out["all_under_1s_median"] = all(c["median_ms"] < 1000 for c in timing["calls"])
    out["all_under_1s_max"] = all(c["max_ms"] < 1000 for c in timing["calls"])
    return out


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        f"# Dashboard benchmark, {report['date']}",
        "",
        f"- CPU: {m['cpu_model']}, {m['cpu_count']} cores; Python {m['python']}, SQLite {m['sqlite']}"
        + "".join(
            f", PostgreSQL {d['postgresql']['server_version']}"
            for d in report["databases"]
            if d.get("postgresql")
        ),
        f"- Load average at start: {' '.join(m['load_average_at_start'])} (other engineers share the machine)",
        f"- Timings: in-process (FastAPI TestClient), signed in as the city leader (API: bearer token); one warm-up call, then the median and max of {report['runs']} calls.",
        "",
    ]
    for db in report["databases"]:
        lines += [
            f"## {db['database']}: {db['rows']['requests']:,} requests, {db['rows']['request_events']:,} events",
            "",
            (
                "- Data set loaded by an earlier run today, queries timed again on it"
                + (
                    " (roll-ups, with the stage-time histograms, summed again after the migration). "
                    if db["load"].get("rollup_rebuilt_on_reuse")
                    else ". "
                )
                if db["load"].get("reused")
                else "- "
            )
            + (
                f"Generated and loaded in {db['load']['seconds']} s; daily roll-up of {db['load']['rollup_days']} days summed in {db['load']['rollup_seconds']} s"
                if not db["load"].get("reused") or db["load"].get("rollup_rebuilt_on_reuse")
                else f"Generated and loaded in {db['load']['seconds']} s by that run; its roll-ups were current (not summed again)"
            )
            + f"; facts of {db['sample_check']['checked']} random requests recomputed from the stored log: {db['sample_check']['different']} differ.",
            f"- Load average before / after timing: {' '.join(db['load_average_before_timing'])} / {' '.join(db['load_average_after_timing'])}",
            f"- Freshness: received {db['freshness']['before']} → {db['freshness']['after']} on the first call after the commit and the worker's batch ({db['freshness']['visible_after_seconds']} s).",
            f"- Every call under 1 s (median): {'yes' if db['all_under_1s_median'] else 'no'}; (max): {'yes' if db['all_under_1s_max'] else 'no'}. Slowest: {db['slowest']['call']} over {db['slowest']['span']}, median {db['slowest']['median_ms']} ms.",
            "",
            "| span | call | median ms | max ms |",
            "|---|---|---:|---:|",
        ]
        lines += [f"| {c['span']} | {c['call']} | {c['median_ms']} | {c['max_ms']} |" for c in db["calls"]]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", type=int, default=1_000_000, help="requests on PostgreSQL (0: skip)")
    parser.add_argument("--sqlite", type=int, default=100_000, help="requests on SQLite (0: skip)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--reuse", action="store_true", help="time again on today's data sets if they are there"
    )
    parser.add_argument(
        "--load-report",
        type=Path,
        help="with --reuse: the report (.json) of the run that loaded the data sets",
    )
    parser.add_argument(
        "--suffix", help="write dashboard-<date>-<suffix>.md/.json (a run kept beside the day's)"
    )
    args = parser.parse_args(argv)

    def say(line: str) -> None:
        print(line, flush=True)

    os.environ.setdefault("CHENGZHI_TIMEZONE", "Asia/Shanghai")
    report: dict[str, Any] = {
        "date": dt.date.today().isoformat(),
        "machine": machine_info(),
        "runs": args.runs,
        "databases": [],
    }
    if args.sqlite:
        report["databases"].append(
            run("sqlite", SQLITE_URL, args.sqlite, args.runs, say, args.reuse, args.load_report)
        )
    if args.postgres:
        report["databases"].append(
            run("postgresql", PG_URL, args.postgres, args.runs, say, args.reuse, args.load_report)
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / (f"dashboard-{report['date']}" + (f"-{args.suffix}" if args.suffix else ""))
    earlier = stem.with_suffix(".json")
    if earlier.exists():
        # A run of one database keeps the other database's figures of the same day (each keeps its own load).
        ran = {db["database"] for db in report["databases"]}
        kept = [
            db
            for db in json.loads(earlier.read_text(encoding="utf-8"))["databases"]
            if db["database"] not in ran
        ]
        report["databases"] = kept + report["databases"]
    stem.with_suffix(".json").write_text(
        json.dumps(report, indent=2, default=str, ensure_ascii=False), encoding="utf-8"
    )
    stem.with_suffix(".md").write_text(markdown(report), encoding="utf-8")
    say(f"results: {stem}.json, {stem}.md")


if __name__ == "__main__":
    sys.exit(main())
