"""The platform's own data (docs/opendata.md): the periodic job publishes the anonymised requests and the three
rates per unit and month; the rates recomputed from the published rows equal the published rates; no text or
contact data is published; a second run adds nothing until a new day has passed."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from fastapi.testclient import TestClient

from chengzhi.config import Settings
from chengzhi.db import get_sessionmaker
from chengzhi.jobs.service import run_job

from .factories import City
from .steps import dispatch, handle, submit

DAY = dt.datetime(2026, 11, 3, 2, 0, tzinfo=dt.UTC)


def test_the_job_publishes_requests_and_rates_that_recompute(
    settings: Settings, city: City, client: TestClient
) -> None:
    with get_sessionmaker(settings.database_url)() as session, session.begin():
        for i in range(6):
            request = submit(
                session, settings, DAY + dt.timedelta(hours=i), where="D1S1C1" if i % 2 else "D2S1C1"
            )
            if i < 4:
                lead = "D1S1C1" if i % 2 else "D2S1C1"
                dispatch(session, settings, request, lead, DAY + dt.timedelta(hours=i, minutes=5))
                if lead == "D1S1C1":
                    handle(
                        session, settings, request, "d1s1c1-handler", DAY + dt.timedelta(hours=i, minutes=10)
                    )
    now = DAY + dt.timedelta(days=2)
    factory = get_sessionmaker(settings.database_url)
    result = run_job(factory, settings, "opendata_platform", now)
    assert result is not None and result["requests_added"] == 6, result
    again = run_job(factory, settings, "opendata_platform", now)
    assert again is not None and again["requests_added"] == 0
    search = client.get("/api/3/action/package_search", params={"fq": "organization:city"}).json()["result"]
    assert {p["name"] for p in search["results"]} == {"city-requests", "city-three-rates"}
    shown = {p["name"]: p for p in search["results"]}
    requests_id = shown["city-requests"]["resources"][0]["id"]
    rates_id = shown["city-three-rates"]["resources"][0]["id"]
    rows = client.get(
        "/api/3/action/datastore_search", params={"resource_id": requests_id, "limit": 100}
    ).json()
    records = rows["result"]["records"]
    assert len(records) == 6
    assert set(records[0]) == {
        "_id",
        "received_day",
        "received_hour",
        "channel",
        "category",
        "district",
        "street",
        "unit_code",
        "status",
        "in_response",
        "responded_on_time",
        "ever_overdue",
        "in_follow_up",
        "resolved",
        "satisfied",
    }
    dump = client.get(f"/dataset/city-requests/resource/{requests_id}/download/r.csv").text
    assert "张三" not in dump and "13912345678" not in dump and "zhang@example.org" not in dump
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0, 0])
    for r in records:
        c = counts[r["unit_code"] or ""]
        c[0] += 1
        c[1] += r["in_response"] and r["responded_on_time"]
        c[2] += r["in_response"]
        c[3] += r["in_follow_up"] and r["resolved"]
        c[4] += r["in_follow_up"]
        c[5] += r["in_follow_up"] and r["satisfied"]
    rates = client.get(
        "/api/3/action/datastore_search", params={"resource_id": rates_id, "limit": 100}
    ).json()
    published = {r["unit_code"]: r for r in rates["result"]["records"]}
    assert set(published) == set(counts)
    for code, r in published.items():
        mine = counts[code]
        assert [
            r["received"],
            r["response_numerator"],
            r["response_denominator"],
            r["resolution_numerator"],
            r["follow_up_denominator"],
            r["satisfaction_numerator"],
        ] == mine, code
        assert r["month"] == "2026-11-01"
    assert sum(c[2] for c in counts.values()) > 0
