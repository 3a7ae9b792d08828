"""Dashboard pages and exports on both databases: every view in both languages, scope, refusals, drill-down links
that list exactly what the number counts, CSV and XLSX downloads, bad input without a 500, exclusions, freshness."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from urllib.parse import parse_qsl, urlsplit

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.metrics.rollup import bucket_of, bucket_value
from chengzhi.requests import service as svc

from .conftest import Configure, auth
from .factories import City
from .steps import actor, dispatch, handle, submit, unit_id
from .test_metrics import SCENARIOS, SPAN, TODAY, histories
from .test_pages_staff import sign_in

VIEWS = [
    "/dashboard",
    "/dashboard/operations",
    "/dashboard/rankings",
    "/dashboard/categories",
    "/dashboard/map",
]


def test_views_in_both_languages_and_links_that_count(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    histories(session, settings, list(SCENARIOS) * 2, seed=3, today=TODAY)
    sign_in(client, "leader")
    for path in VIEWS:
        for lang, heading in (("zh", "数据看板"), ("en", "Dashboard")):
            response = client.get(path, params={**SPAN, "lang": lang})
            assert response.status_code == 200, (path, response.text[:500])
            assert f"<h1>{heading}" in response.text
            assert "/static/vendor/echarts-5.6.0/echarts.min.js" in response.text
    page = client.get("/dashboard", params={**SPAN, "group_by": "unit"})
    links = re.findall(r'<a href="(/dashboard/requests\?[^"]+)">(\d+)</a>', page.text)
    assert len(links) > 10
    for href, shown in links:
        listed = client.get(href.replace("&amp;", "&"))
        assert listed.status_code == 200
        assert listed.context["page"].count == int(shown), href
    # The API's drill-down list has the same count as the page's number.
    headers = auth(client, "leader")
    href, shown = links[0]
    params = dict(parse_qsl(urlsplit(href.replace("&amp;", "&")).query, keep_blank_values=True))
    body = client.get("/api/v1/metrics/requests", params=params, headers=headers).json()
    assert body["count"] == int(shown)


def test_exports_csv_and_xlsx(client: TestClient, city: City, session: Session, settings: Settings) -> None:
    histories(session, settings, list(SCENARIOS), seed=5, today=TODAY)
    headers = auth(client, "leader")
    for api, extra in (
        ("three-rates", {"group_by": "unit"}),
        ("operations", {"group_by": "category"}),
        ("stages", {}),
        ("rankings", {"kind": "street"}),
        ("categories", {}),
        ("map", {"level": "community"}),
        ("requests", {"measure": "received"}),
    ):
        as_json = client.get(f"/api/v1/metrics/{api}", params={**SPAN, **extra}, headers=headers)
        assert as_json.status_code == 200, (api, as_json.text)
        got = client.get(f"/api/v1/metrics/{api}", params={**SPAN, **extra, "format": "csv"}, headers=headers)
        assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(got.content.decode("utf-8-sig"))))
        xlsx = client.get(
            f"/api/v1/metrics/{api}", params={**SPAN, **extra, "format": "xlsx"}, headers=headers
        )
        assert xlsx.status_code == 200
        sheet = load_workbook(io.BytesIO(xlsx.content), read_only=True).active
        assert sheet is not None
        cells = [[("" if v is None else str(v)) for v in row] for row in sheet.iter_rows(values_only=True)]
        assert len(cells) == len(rows) > 1, api
        assert cells[0] == rows[0]
    received = client.get("/api/v1/metrics/requests", params={**SPAN, "format": "csv"}, headers=headers)
    listed = list(csv.reader(io.StringIO(received.content.decode("utf-8-sig"))))[1:]
    total = client.get("/api/v1/metrics/three-rates", params={**SPAN, "group_by": "none"}, headers=headers)
    assert len(listed) == total.json()["total"]["received"] == len(SCENARIOS) + 1  # a merge adds one request


def test_scope_and_refusals(client: TestClient, city: City, session: Session, settings: Settings) -> None:
    histories(session, settings, ["rated", "returned", "in_progress"], seed=1, today=TODAY)
    assert client.get("/dashboard", follow_redirects=False).headers["location"] == "/login?next=/dashboard"
    sign_in(client, "d1s1c1-handler")
    refused = client.get("/dashboard")
    assert refused.status_code == 403
    assert refused.context["page"].message == "数据看板仅供领导、分析员、督办员和管理员使用。"
    handler = auth(client, "d1s1c1-handler")
    answer = client.get("/api/v1/metrics/three-rates", headers=handler)
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "forbidden_role"
    # A district supervisor reads its district, not the other one, nor the city.
    d2 = auth(client, "d2-supervisor")
    assert client.get("/api/v1/metrics/three-rates", headers=d2).json()["scope"]["unit"]["code"] == "D2"
    for other in ("D1", "city"):
        refused_api = client.get(
            "/api/v1/metrics/three-rates", params={"unit": str(unit_id(session, other))}, headers=d2
        )
        assert refused_api.status_code == 403
    client.cookies.clear()
    assert client.get("/api/v1/metrics/three-rates").status_code == 401


def test_bad_input_is_a_clear_error(client: TestClient, city: City) -> None:
    headers = auth(client, "leader")
    cases = [
        ({"start": "yesterday"}, "validation_failed"),
        ({"start": "2026-02-01", "end": "2026-01-01"}, "validation_failed"),
        ({"start": "0001-01-01"}, "validation_failed"),
        ({"unit": "abc"}, "validation_failed"),
        ({"unit": "999999"}, "unit_not_found"),
        ({"category": "nope"}, "category_not_found"),
        ({"group_by": "planet"}, "validation_failed"),
    ]
    for params, code in cases:
        for lang in ("zh", "en"):
            answer = client.get(
                "/api/v1/metrics/three-rates", params={**params, "lang": lang}, headers=headers
            )
            assert 400 <= answer.status_code < 500, (params, answer.text)
            assert answer.json()["error"]["code"] == code, params
    bad = client.get("/api/v1/metrics/requests", params={"measure": "everything"}, headers=headers)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_failed"
    sign_in(client, "leader")
    page = client.get("/dashboard", params={"start": "nonsense", "lang": "en"})
    assert page.status_code == 200 and "A date YYYY-MM-DD" not in page.text
    assert page.context["page"].error
    assert client.get("/dashboard/requests", params={"measure": "x", "key": "y"}).status_code == 200


def test_a_new_event_is_in_the_figures_at_once(
    client: TestClient, city: City, session: Session, settings: Settings
) -> None:
    """Facts are rewritten in the transaction of each event: no refresh job, no delay."""
    headers = auth(client, "leader")
    now = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)

    def total() -> dict[str, int]:
        answer = client.get("/api/v1/metrics/three-rates", params={"group_by": "none"}, headers=headers)
        total: dict[str, int] = answer.json()["total"]
        return total

    def p90() -> dict[str, float | None]:
        answer = client.get("/api/v1/metrics/stages", headers=headers)
        return {row["stage"]: row["p90_seconds"] for row in answer.json()["rows"]}

    assert total()["received"] == 0
    request = submit(session, settings, now)
    session.commit()
    assert total()["received"] == 1
    assert p90()["wait"] is None
    dispatch(session, settings, request, "D1S1C1", now + dt.timedelta(minutes=1))
    handle(session, settings, request, "d1s1c1-handler", now + dt.timedelta(minutes=2))
    session.commit()
    assert (total()["response_numerator"], total()["response_denominator"]) == (1, 1)
    # The stage-time histograms (the city's p90) are caught up on the same read.
    assert p90()["wait"] == pytest.approx(bucket_value(bucket_of(60.0)))
    svc.review_request(
        session, actor(session, "resident"), request, True, 5, now=now + dt.timedelta(minutes=30)
    )
    session.commit()
    after = total()
    assert (after["follow_up_denominator"], after["satisfaction_numerator"]) == (1, 1)
    # An exclusion through the API takes it out of the follow-up denominators, with its reason.
    supervisor = auth(client, "supervisor")
    made = client.post(
        "/api/v1/metrics/exclusions",
        json={"request": request.tracking_number, "reason": "refused_to_rate", "note": "回访时拒绝评价"},
        headers=supervisor,
    )
    assert made.status_code == 201, made.text
    assert made.json()["excluded"] == "refused_to_rate"
    excluded = total()
    assert (excluded["follow_up_denominator"], excluded["excluded"], excluded["response_denominator"]) == (
        0,
        1,
        1,
    )
    refused = client.post(
        "/api/v1/metrics/exclusions",
        json={"request": request.tracking_number, "reason": "none", "note": "x"},
        headers=auth(client, "leader"),
    )
    assert refused.status_code == 403


def test_cli_rebuilds_facts_and_rollups_after_a_bulk_load(
    client: TestClient, city: City, session: Session, settings: Settings, configure: Configure
) -> None:
    """Events loaded behind the services' back (here: facts and roll-ups wiped) come back with `metrics rebuild`."""
    import json

    from sqlalchemy import delete, func, select
    from typer.testing import CliRunner

    from chengzhi.cli import app as cli_app
    from chengzhi.metrics.models import (
        RequestFact,
        metric_daily,
        metric_daily_cat,
        metric_days,
        metric_stage_hist,
    )

    histories(session, settings, list(SCENARIOS), seed=9, today=TODAY)
    headers = auth(client, "leader")
    params = {**SPAN, "group_by": "unit"}
    before = client.get("/api/v1/metrics/three-rates", params=params, headers=headers).json()
    stages_before = client.get("/api/v1/metrics/stages", params=SPAN, headers=headers).json()
    facts = session.scalar(select(func.count()).select_from(RequestFact))
    for table in (RequestFact, metric_daily, metric_daily_cat, metric_stage_hist, metric_days):
        session.execute(delete(table))
    session.commit()
    emptied = client.get("/api/v1/metrics/three-rates", params=params, headers=headers).json()
    assert emptied["total"]["received"] == 0
    configure()
    result = CliRunner().invoke(cli_app, ["metrics", "rebuild"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["requests"] == facts
    after = client.get("/api/v1/metrics/three-rates", params=params, headers=headers).json()
    assert after == before
    assert client.get("/api/v1/metrics/stages", params=SPAN, headers=headers).json() == stages_before
