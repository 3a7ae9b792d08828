"""未诉先办: hand-made monthly histories whose answer is obvious (recurring, seasonal, one-off), the backtest's
precision and recall, focus candidates; and the API on the live tables (both databases)."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.db import utcnow
from chengzhi.requests.models import Request
from chengzhi.warning import proactive
from chengzhi.warning.models import HotIssueMember

from .conftest import auth
from .factories import City
from .test_pages_staff import sign_in
from .test_warning_live import submit


def m(year: int, month: int) -> dt.date:
    return dt.date(year, month, 1)


HISTORY = {
    # Every month until September.
    "market-noise": {m(2026, 6): 3, m(2026, 7): 2, m(2026, 8): 4, m(2026, 9): 3},
    # Heating: November and December last year only: seasonal.
    "heating": {m(2025, 11): 6, m(2025, 12): 5},
    # Once, in August: nothing expected.
    "tree": {m(2026, 8): 1},
    # Two of the last three months: recurs.
    "parking": {m(2026, 8): 1, m(2026, 10): 2},
}


def test_recurring_and_seasonal_problems_are_expected_one_offs_are_not() -> None:
    found = proactive.expected_in(HISTORY, m(2026, 11))
    by_key = {e.key: e for e in found}
    # Market noise in August and September (2 of the 3 months before), parking in August and October, heating last
    # November; the tree once.
    assert set(by_key) == {"heating", "market-noise", "parking"}
    assert by_key["heating"].reasons == ["seasonal"] and by_key["heating"].last_year == 6
    assert by_key["parking"].reasons == ["recurring"] and by_key["parking"].recent_months == 2
    assert [e.key for e in found] == ["heating", "market-noise", "parking"]  # 6, then 7/3, then 3/3 a month
    october = {e.key for e in proactive.expected_in(HISTORY, m(2026, 10))}
    assert october == {"market-noise"}


def test_the_backtest_counts_hits_against_what_came() -> None:
    result = proactive.backtest(HISTORY, [m(2026, 9), m(2026, 10)])
    # September: market noise expected (Jun-Aug) and came (3). October: market noise expected, did not come;
    # parking came (2) but was not expected (one month of the three before it).
    assert (result.predicted, result.happened, result.hits) == (2, 2, 1)
    assert result.precision == 0.5 and result.recall == 0.5


def test_focus_candidates_are_the_months_most_frequent() -> None:
    counts = {"a": {m(2026, 8): 4}, "b": {m(2026, 8): 9}, "c": {m(2026, 7): 20}}
    assert proactive.focus_candidates(counts, m(2026, 8)) == [("b", 9), ("a", 4)]
    assert proactive.add_months(m(2026, 11), 2) == m(2027, 1) and proactive.add_months(m(2026, 1), -1) == m(
        2025, 12
    )


def test_the_api_lists_a_streets_recurring_problem(
    session: Session, settings: Settings, city: City, client: TestClient
) -> None:
    now = utcnow()
    # The same problem in D1S1C1 in each of the last three months (and this month): expected next month.
    for months_back in (0, 1, 2, 3):
        request = submit(
            session, settings, "幸福路路灯不亮", "幸福路路灯晚上不亮。", f"1390000{months_back:04d}"
        )
        request.received_at = now - dt.timedelta(days=31 * months_back)
    session.commit()
    for member in session.scalars(select(HotIssueMember)):
        row = session.get(Request, member.request_id)
        assert row is not None
        member.received_at = row.received_at
    session.commit()
    leader = auth(client, "leader")
    found = client.get("/api/v1/warning/proactive", headers=leader)
    assert found.status_code == 200, found.text
    body = found.json()
    street = city.units["D1S1"]
    assert [(e["street_id"], e["category_id"], e["reasons"]) for e in body["expected"]] == [
        (street.id, city.categories["litter"].id, ["recurring"])
    ]
    assert body["expected"][0]["street"] == street.name_zh
    assert body["focus_candidates"] == [
        {
            "category_id": city.categories["litter"].id,
            "category": city.categories["litter"].name_zh,
            "requests": 1,
        }
    ]
    sign_in(client, "leader")
    page = client.get("/dashboard/hot/proactive")
    assert page.status_code == 200 and "未诉先办" in page.text and street.name_zh in page.text
    assert "近期反复出现" in page.text and "每月一题候选" in page.text
    english = client.get("/dashboard/hot/proactive", headers={"Accept-Language": "en"})
    assert (
        "Fix before asked" in english.text and street.name_en in english.text and "recurring" in english.text
    )
    other = auth(client, "d2-supervisor")
    assert client.get("/api/v1/warning/proactive", headers=other).json()["expected"] == []
    assert client.get("/api/v1/warning/proactive", headers=auth(client, "resident")).status_code == 403
