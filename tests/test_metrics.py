"""The dashboards' figures against a second computation: varied histories go through the real services
(reopened, merged, co-handled, extended, returned, unrated, excluded requests), then the three rates are
recounted in one forward pass over the raw event rows, sharing no code with chengzhi.metrics, and compared with
the API's numerators, denominators and drill-down lists, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.metrics.measures import STAGES
from chengzhi.metrics.models import MetricExclusion
from chengzhi.metrics.rankings import ranking
from chengzhi.metrics.rates import table
from chengzhi.metrics.rollup import bucket_of, bucket_value
from chengzhi.metrics.scope import GROUPS, resolve_scope, use_daily, use_daily_cat
from chengzhi.metrics.stages import percentile_90, use_histograms
from chengzhi.org.models import Unit
from chengzhi.org.service import actor_for
from chengzhi.requests import service as svc
from chengzhi.requests.models import Request, RequestEvent

from .conftest import auth
from .factories import City
from .steps import actor, dispatch, handle, submit, unit_id

SCENARIOS = (
    "rated",
    "late_sign",
    "late_contact",
    "returned",
    "reopened",
    "extended",
    "co_handled",
    "merged",
    "unrated",
    "in_progress",
    "consultation",
    "unreasonable",
    "refused_to_rate",
)
# lead unit code -> the handler who works there
LEADS = {
    "D1S1C1": "d1s1c1-handler",
    "D1S1": "d1s1-handler",
    "D1S2": "d1s2-handler",
    "D1-water": "d1-water-handler",
}
WHERE = ("D1S1C1", "D1S1C2", "D1S2C1", "D2S1C1", "D2S2C2")


def play(
    session: Session, settings: Settings, scenario: str, rng: random.Random, base: dt.datetime
) -> Request:
    """One request through `scenario`, starting at `base`; committed."""
    where = rng.choice(WHERE)
    request = submit(session, settings, base, where=where, phone=f"139{rng.randrange(10**8):08d}")
    t = base + dt.timedelta(minutes=rng.randrange(1, 90))
    if scenario == "consultation":
        svc.answer_at_intake(session, actor(session, "operator"), request, "答复", settings, t)
        svc.review_request(
            session,
            actor(session, "supervisor"),
            request,
            rng.random() < 0.7,
            rng.randint(1, 5),
            now=t + dt.timedelta(hours=5),
        )
        session.commit()
        return request
    lead = rng.choice(list(LEADS))
    co = ("D1S2C2",) if scenario == "co_handled" else ()
    dispatch(session, settings, request, lead, t, co=co)
    handler = actor(session, LEADS[lead])
    if scenario == "in_progress":
        if rng.random() < 0.5:
            svc.sign_request(session, handler, request, t + dt.timedelta(minutes=20))
        session.commit()
        return request
    if scenario == "returned":
        svc.return_request(session, handler, request, "不属于本单位", t + dt.timedelta(minutes=30))
        t += dt.timedelta(hours=1)
        lead = "D1S2" if lead != "D1S2" else "D1S1"
        dispatch(session, settings, request, lead, t)
        handler = actor(session, LEADS[lead])
    if scenario == "late_sign":
        svc.mark_overdue(session, request, t + dt.timedelta(days=3))
        t += dt.timedelta(days=3, minutes=5)
    if scenario == "extended":
        svc.sign_request(session, handler, request, t + dt.timedelta(minutes=10))
        svc.request_extension(session, handler, request, 3, "需要协调", t + dt.timedelta(minutes=20))
        svc.decide_extension(
            session, actor(session, "supervisor"), request, True, settings, now=t + dt.timedelta(minutes=40)
        )
        svc.contact_resident(session, handler, request, "电话", t + dt.timedelta(hours=1))
        svc.reply_request(session, handler, request, "已处理", settings, t + dt.timedelta(days=2))
    elif scenario == "late_contact":
        svc.sign_request(session, handler, request, t + dt.timedelta(minutes=10))
        svc.contact_resident(session, handler, request, "电话", t + dt.timedelta(days=rng.choice((3, 5))))
        svc.reply_request(session, handler, request, "已处理", settings, t + dt.timedelta(days=6))
    else:
        handle(session, settings, request, LEADS[lead], t + dt.timedelta(minutes=rng.randrange(5, 60)))
    if scenario == "merged":
        other = submit(session, settings, base, where=where, phone="13900001111")
        dispatch(session, settings, other, "D1S1C1", t)
        svc.merge_request(
            session, actor(session, "dispatcher"), other, request, "重复", t + dt.timedelta(hours=1)
        )
    t_review = t + dt.timedelta(days=1, hours=rng.randrange(1, 20))
    if scenario == "unrated":
        svc.close_request(session, actor(session, "supervisor"), request, now=t_review)
        session.commit()
        return request
    resolved, score = rng.random() < 0.75, rng.randint(1, 5)
    svc.review_request(session, actor(session, "supervisor"), request, resolved, score, now=t_review)
    if scenario == "reopened":
        svc.reopen_request(
            session, actor(session, "supervisor"), request, "未解决", t_review + dt.timedelta(hours=1)
        )
        t2 = t_review + dt.timedelta(hours=2)
        dispatch(session, settings, request, lead, t2)
        handle(session, settings, request, LEADS[lead], t2 + dt.timedelta(minutes=30))
        svc.review_request(
            session,
            actor(session, "supervisor"),
            request,
            rng.random() < 0.5,
            rng.randint(1, 5),
            now=t2 + dt.timedelta(days=1),
        )
    if scenario in ("unreasonable", "refused_to_rate"):
        session.add(MetricExclusion(request_id=request.id, reason=scenario, note="回访记录", at=t_review))
    elif rng.random() < 0.8:
        svc.close_request(
            session, actor(session, "supervisor"), request, now=t_review + dt.timedelta(hours=2)
        )
    session.commit()
    return request


def histories(
    session: Session, settings: Settings, scenarios: list[str], seed: int, today: dt.datetime
) -> None:
    rng = random.Random(seed)
    for scenario in scenarios:
        base = today - dt.timedelta(days=rng.randrange(1, 40), hours=rng.randrange(0, 24))
        play(session, settings, scenario, rng, base)


# ---------------------------------------------------------------- the second way


@dataclass
class Tally:
    received: int = 0
    response_num: int = 0
    response_den: int = 0
    follow_up: int = 0
    resolved: int = 0
    satisfied: int = 0
    excluded: int = 0
    numbers: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def rates(self) -> tuple[float | None, float | None, float | None]:
        def ratio(a: int, b: int) -> float | None:
            return a / b if b else None

        return (
            ratio(self.response_num, self.response_den),
            ratio(self.resolved, self.follow_up),
            ratio(self.satisfied, self.follow_up),
        )


def recount(
    session: Session, unit_code: str, start: dt.date, end: dt.date, zone: str = "Asia/Shanghai"
) -> Tally:
    """The three rates of a unit's subtree from raw rows: events, exclusions, unit paths."""
    tz = ZoneInfo(zone)
    paths = {uid: path for uid, path in session.execute(select(Unit.id, Unit.path))}
    scope_path = paths[unit_id(session, unit_code)]
    is_root = scope_path.count("/") == 2
    excluded: dict[int, str | None] = {}
    for rid, reason in session.execute(
        select(MetricExclusion.request_id, MetricExclusion.reason).order_by(MetricExclusion.id)
    ):
        excluded[rid] = reason
    logs: dict[int, list[RequestEvent]] = defaultdict(list)
    for event in session.scalars(select(RequestEvent).order_by(RequestEvent.request_id, RequestEvent.seq)):
        logs[event.request_id].append(event)
    tally = Tally()
    for request in session.scalars(select(Request)):
        day = request.received_at.astimezone(tz).date()
        if not start <= day <= end:
            continue
        lead = None
        current: dict[str, Any] | None = None
        counted: dict[str, Any] | None = None
        last_review = None
        for e in logs[request.id]:
            if e.action == "dispatch":
                lead = e.payload["lead_unit_id"]
                current = {
                    "deadlines": e.payload.get("deadlines", {}),
                    "sign": None,
                    "contact": None,
                    "late": False,
                }
                if counted is None or counted["contact"] is None:
                    counted = current
            elif e.action == "sign" and current is not None and current["sign"] is None:
                current["sign"] = e.at
            elif (
                e.action == "contact"
                and current is not None
                and counted is current
                and current["contact"] is None
            ):
                current["contact"] = e.at
            elif (
                e.action == "mark_overdue"
                and current is not None
                and e.payload.get("stage") in ("sign", "contact")
            ):
                current["late"] = True
            elif e.action == "review":
                last_review = e.payload
        if lead is None:
            if not is_root:
                continue
        elif not paths[lead].startswith(scope_path):
            continue
        number = request.tracking_number
        tally.received += 1
        tally.numbers["received"].add(number)
        why = excluded.get(request.id)
        if why in ("unreasonable", "refused_to_rate"):
            tally.excluded += 1
        if (
            counted is not None
            and why != "unreasonable"
            and (counted["contact"] is not None or counted["late"])
        ):
            tally.response_den += 1
            tally.numbers["response_denominator"].add(number)
            sign_by = counted["deadlines"].get("sign")
            contact_by = counted["deadlines"].get("contact")
            if (
                counted["sign"] is not None
                and counted["contact"] is not None
                and (sign_by is None or counted["sign"] <= dt.datetime.fromisoformat(sign_by))
                and (contact_by is None or counted["contact"] <= dt.datetime.fromisoformat(contact_by))
            ):
                tally.response_num += 1
                tally.numbers["response_numerator"].add(number)
        if last_review is not None and why not in ("unreasonable", "refused_to_rate"):
            tally.follow_up += 1
            tally.numbers["follow_up_denominator"].add(number)
            if last_review["resolved"]:
                tally.resolved += 1
                tally.numbers["resolution_numerator"].add(number)
            if last_review["satisfaction"] >= 4:
                tally.satisfied += 1
                tally.numbers["satisfaction_numerator"].add(number)
    return tally


# ---------------------------------------------------------------- tests

TODAY = dt.datetime.now(dt.UTC).replace(microsecond=0)
SPAN: dict[str, Any] = {
    "start": (TODAY - dt.timedelta(days=60)).date().isoformat(),
    "end": (TODAY + dt.timedelta(days=1)).date().isoformat(),
}


def span_dates() -> tuple[dt.date, dt.date]:
    return dt.date.fromisoformat(SPAN["start"]), dt.date.fromisoformat(SPAN["end"])


def drilled(client: TestClient, headers: dict[str, str], params: dict[str, str], measure: str) -> set[str]:
    found: set[str] = set()
    before = None
    while True:
        query = {**params, "measure": measure, "limit": "500"}
        if before:
            query["before"] = str(before)
        body = client.get("/api/v1/metrics/requests", params=query, headers=headers).json()
        found |= {item["tracking_number"] for item in body["items"]}
        before = body["next_before"]
        if before is None:
            return found


def compare(client: TestClient, session: Session, headers: dict[str, str], unit_code: str) -> None:
    uid = unit_id(session, unit_code)
    params = {"unit": str(uid), **SPAN}
    body = client.get("/api/v1/metrics/three-rates", params={**params, "group_by": "none"}, headers=headers)
    assert body.status_code == 200, body.text
    total = body.json()["total"]
    expected = recount(session, unit_code, *span_dates())
    session.commit()  # end the read transaction: SQLite's snapshot would refuse the next example's writes
    assert total["received"] == expected.received
    assert total["response_numerator"] == expected.response_num
    assert total["response_denominator"] == expected.response_den
    assert total["follow_up_denominator"] == expected.follow_up
    assert total["resolution_numerator"] == expected.resolved
    assert total["satisfaction_numerator"] == expected.satisfied
    assert total["excluded"] == expected.excluded
    response, resolution, satisfaction = expected.rates()
    assert total["response_rate"] == (None if response is None else pytest.approx(response, abs=1e-6))
    assert total["resolution_rate"] == (None if resolution is None else pytest.approx(resolution, abs=1e-6))
    assert total["satisfaction_rate"] == (
        None if satisfaction is None else pytest.approx(satisfaction, abs=1e-6)
    )
    # Every number's drill-down lists exactly the requests the second way counted.
    for measure in (
        "received",
        "response_numerator",
        "response_denominator",
        "follow_up_denominator",
        "resolution_numerator",
        "satisfaction_numerator",
    ):
        assert drilled(client, headers, params, measure) == expected.numbers[measure], measure


@pytest.mark.slow
def test_every_scenario_against_the_second_count(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    histories(session, settings, list(SCENARIOS) * 3, seed=7, today=TODAY)
    headers = auth(client, "leader")
    for unit_code in ("city", "D1", "D1S1", "D1S1C1", "D1S2", "D1-water", "D2"):
        compare(client, session, headers, unit_code)
    # The edge cases really occurred.
    facts = client.get(
        "/api/v1/metrics/operations", params={**SPAN, "group_by": "none"}, headers=headers
    ).json()
    total = facts["total"]
    for name in ("returned", "reopened", "co_handled", "extended", "merged", "ever_overdue"):
        assert total[name] > 0, name
    assert recount(session, "city", *span_dates()).excluded > 0


@pytest.mark.slow
def test_random_histories_against_the_second_count(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    # One city for all examples, their histories added one after another; the examples are drawn inside the test,
    # so that Hypothesis has no function-scoped fixture to warn about.
    @hypothesis_settings(max_examples=4, deadline=None, derandomize=True)
    @given(picks=st.lists(st.sampled_from(SCENARIOS), min_size=1, max_size=12), seed=st.integers(0, 10_000))
    def add_histories_and_compare(picks: list[str], seed: int) -> None:
        histories(session, settings, picks, seed=seed, today=TODAY)
        headers = auth(client, "leader")
        for unit_code in ("city", "D1", "D1S1"):
            compare(client, session, headers, unit_code)

    add_histories_and_compare()


@pytest.mark.slow
def test_daily_rollups_equal_the_facts(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    """metric_daily and metric_daily_cat (caught up at read time) give the facts' own sums, for every grouping and
    filter they serve and every scope, also after more events arrive."""
    from chengzhi.org.service import actor_for

    leader = actor_for(city.users["leader"])
    served = 0
    for round_ in range(2):
        histories(session, settings, list(SCENARIOS), seed=11 + round_, today=TODAY)
        for code in ("city", "D1", "D1S1", "D1S1C1", "D1-water"):
            filters: list[dict[str, Any]] = [{}, {"category": "litter"}, {"channel": "web"}]
            for filtered in filters:
                scope = resolve_scope(session, leader, unit=str(unit_id(session, code)), **SPAN, **filtered)
                for group_by in GROUPS:
                    facts = table(session, scope, group_by, source="facts")
                    expected = [(r.key, r.counts, r.returns, r.reopenings) for r in facts]
                    for source, serves in (("lead", use_daily), ("cat", use_daily_cat)):
                        if not serves(scope, group_by):
                            continue
                        served += 1
                        daily = table(session, scope, group_by, source=source)
                        got = [(r.key, r.counts, r.returns, r.reopenings) for r in daily]
                        assert got == expected, (code, filtered, group_by, source)
                        for a, b in zip(daily, facts, strict=True):
                            for stage in STAGES:
                                assert a.stage_avg[stage] == pytest.approx(b.stage_avg[stage])
        session.commit()
    assert served > 60


@pytest.mark.slow
def test_stage_times_average_and_p90(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    """Waiting for dispatch recounted from the raw events; every stage's p90 against a nearest-rank in Python."""
    import math

    from chengzhi.metrics.models import RequestFact

    histories(session, settings, list(SCENARIOS) * 3, seed=17, today=TODAY)
    waits = []
    for request in session.scalars(select(Request)):
        events = session.scalars(
            select(RequestEvent).where(RequestEvent.request_id == request.id).order_by(RequestEvent.seq)
        ).all()
        dispatches = [e.at for e in events if e.action == "dispatch"]
        if dispatches:
            waits.append((dispatches[0] - events[0].at).total_seconds())
    session.commit()
    body = client.get("/api/v1/metrics/stages", params=SPAN, headers=auth(client, "leader")).json()
    stages = {row["stage"]: row for row in body["rows"]}
    waits.sort()
    # The city's p90 comes from the histograms: the bucket of the nearest-rank value, reported as its middle.
    assert stages["wait"]["average_seconds"] == pytest.approx(sum(waits) / len(waits))
    exact_wait = waits[math.ceil(0.9 * len(waits)) - 1]
    assert stages["wait"]["p90_seconds"] == pytest.approx(bucket_value(bucket_of(exact_wait)))
    assert stages["wait"]["p90_seconds"] == pytest.approx(exact_wait, rel=0.045) or exact_wait < 60
    leader = actor_for(city.users["leader"])
    scope = resolve_scope(session, leader, **SPAN)
    exact = percentile_90(session, scope, exact=True)
    assert exact["wait"] == pytest.approx(exact_wait)
    for stage in ("sign", "contact", "reply", "review"):
        column = getattr(RequestFact, f"{stage}_s")
        values = sorted(v for v in session.scalars(select(column).where(column.is_not(None))))
        assert len(values) > 10, stage
        nearest = values[math.ceil(0.9 * len(values)) - 1]
        assert exact[stage] == pytest.approx(nearest), stage
        assert stages[stage]["p90_seconds"] == pytest.approx(bucket_value(bucket_of(nearest))), stage
        assert stages[stage]["average_seconds"] == pytest.approx(sum(values) / len(values)), stage
    session.commit()


@pytest.mark.slow
def test_p90_from_histograms_over_any_span(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    """For the city and a district, over spans that start and end anywhere (whole months read from month rows,
    the rest from day rows), the histogram p90 is the middle of the bucket holding the exact nearest-rank value."""
    histories(session, settings, list(SCENARIOS) * 3, seed=29, today=TODAY)
    session.commit()
    leader = actor_for(city.users["leader"])
    rng = random.Random(5)
    first, last = span_dates()
    spans = [(first, last), (first.replace(day=1), last)]
    for _ in range(8):
        a = first + dt.timedelta(days=rng.randrange(0, 50))
        spans.append((a, a + dt.timedelta(days=rng.randrange(0, 40))))
    checked = 0
    for code in ("city", "D1", "D1-water"):
        unit = str(unit_id(session, code))
        filters: list[dict[str, Any]] = [{}, {"channel": "web"}, {"channel": "phone"}, {"category": "litter"}]
        for filtered in filters:
            for start, end in spans:
                scope = resolve_scope(
                    session, leader, unit=unit, start=start.isoformat(), end=end.isoformat(), **filtered
                )
                histograms = code != "D1-water" and "category" not in filtered
                assert use_histograms(scope) == histograms
                exact = percentile_90(session, scope, exact=True)
                shown = percentile_90(session, scope)
                for stage in STAGES:
                    where = (code, filtered, start, end, stage)
                    if exact[stage] is None:
                        assert shown[stage] is None, where
                        continue
                    checked += 1
                    # A department below a district, or a category: exact, from the facts.
                    expected = bucket_value(bucket_of(exact[stage] or 0.0)) if histograms else exact[stage]
                    assert shown[stage] == pytest.approx(expected), where
                session.commit()
    assert checked > 100


@pytest.mark.slow
def test_rankings_from_the_rollup_equal_the_facts(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    from chengzhi.org.models import UnitKind
    from chengzhi.org.service import actor_for

    histories(session, settings, list(SCENARIOS) * 2, seed=23, today=TODAY)
    leader = actor_for(city.users["leader"])
    weights = {"response": 30.0, "resolution": 35.0, "satisfaction": 35.0}
    for code in ("city", "D1"):
        scope = resolve_scope(session, leader, unit=str(unit_id(session, code)), **SPAN)
        for kind in (UnitKind.district, UnitKind.street, UnitKind.community, UnitKind.department):
            session.info.pop("metrics_ranking_sums", None)
            daily = ranking(session, scope, kind, weights, daily=True)
            facts = ranking(session, scope, kind, weights, daily=False)
            assert [(u.code, r.counts) for u, r in daily] == [(u.code, r.counts) for u, r in facts], (
                code,
                kind,
            )
    streets = ranking(session, resolve_scope(session, leader, **SPAN), UnitKind.street, weights)
    assert sum(r.counts["received"] for _u, r in streets) > 0
    session.commit()
