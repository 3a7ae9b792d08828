"""Live hot issues (both databases): the worker places each new request into an issue or opens a candidate; the
recomputation regroups and keeps the staff's rename, merge and split; the API answers within the viewer's scope."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.db import get_sessionmaker, utcnow
from chengzhi.jobs.service import run_job
from chengzhi.requests import service as svc
from chengzhi.requests.models import Request
from chengzhi.warning import live, service
from chengzhi.warning.models import HotIssueMember

from .conftest import auth
from .factories import City
from .steps import POINTS, actor, dispatch
from .test_pages_staff import sign_in

NOISE = [
    ("青松花园小区楼下烧烤店噪音扰民", "每天晚上青松花园小区楼下的烧烤店营业到凌晨，噪音很大，无法入睡。"),
    ("投诉青松花园小区烧烤店深夜噪音", "青松花园小区临街烧烤店深夜吵闹，噪音扰民，请城管处理。"),
    ("青松花园烧烤摊噪音太大", "青松花园小区门口的烧烤摊每晚喧哗，噪音影响休息。"),
]
LIGHTS = [
    ("幸福路路灯不亮", "幸福路从东头到西头的路灯已经坏了两个星期，晚上一片漆黑。"),
    ("幸福路晚上路灯全黑", "幸福路的路灯晚上不亮，行人走路很危险，请修复路灯。"),
]


def submit(
    session: Session, settings: Settings, title: str, text: str, phone: str, where: str = "D1S1C1"
) -> Request:
    lon, lat = POINTS[where]
    data = svc.Submission(
        text=text, title=title, category_code="litter", lat=lat, lon=lon, contact_phone=phone
    )
    return svc.submit_request(session, actor(session, "operator"), data, settings, utcnow())


def _submit_all(session: Session, settings: Settings, where: str = "D1S1C1") -> tuple[list[int], list[int]]:
    noise = [submit(session, settings, t, d, f"1391234{i:04d}", where) for i, (t, d) in enumerate(NOISE)]
    lights = [submit(session, settings, t, d, f"1381234{i:04d}", where) for i, (t, d) in enumerate(LIGHTS)]
    session.commit()
    for request in noise + lights:
        dispatch(session, settings, request, where, utcnow())
    session.commit()
    return [r.id for r in noise], [r.id for r in lights]


def issue_of(session: Session) -> dict[int, int]:
    return dict(session.execute(select(HotIssueMember.request_id, HotIssueMember.issue_id)).all())


def test_the_worker_places_new_requests_into_issues(session: Session, settings: Settings, city: City) -> None:
    noise, lights = _submit_all(session, settings)
    placed = issue_of(session)
    assert len({placed[r] for r in noise}) == 1
    assert len({placed[r] for r in lights}) == 1
    assert placed[noise[0]] != placed[lights[0]]
    # Placing again changes nothing (at least once delivery).
    requests = list(session.scalars(select(Request).where(Request.id.in_(noise))))
    live.place_requests(session, settings, requests, utcnow())
    session.commit()
    assert issue_of(session) == placed


def test_a_new_request_follows_a_staff_merge_to_the_issue_that_stays(
    session: Session, settings: Settings, city: City
) -> None:
    noise, lights = _submit_all(session, settings)
    placed = issue_of(session)
    leader = actor(session, "leader")
    unit = service.viewer_unit(session, leader, None)
    service.merge_issues(session, leader, unit, placed[noise[0]], placed[lights[0]])
    session.commit()
    # The open issues' index still holds the merged issue's words (it is rebuilt once a minute): the request finds
    # the merged issue there and joins the one it was merged into.
    later = submit(session, settings, *NOISE[0], "13912349999")
    session.commit()
    assert issue_of(session)[later.id] == placed[lights[0]]
    live.invalidate_index()
    again = submit(session, settings, *NOISE[1], "13912348888")
    session.commit()
    assert issue_of(session)[again.id] != placed[noise[0]]


def test_recomputation_keeps_the_staff_decisions(session: Session, settings: Settings, city: City) -> None:
    noise, lights = _submit_all(session, settings)
    leader = actor(session, "leader")
    unit = service.viewer_unit(session, leader, None)
    result = live.recompute(session, settings, utcnow())
    session.commit()
    assert result["requests"] == 5
    placed = issue_of(session)
    assert len({placed[r] for r in noise}) == 1 and placed[noise[0]] != placed[lights[0]]
    noise_issue, lights_issue = placed[noise[0]], placed[lights[0]]

    service.rename_issue(session, leader, unit, noise_issue, "青松花园烧烤噪音")
    split = service.split_issue(session, leader, unit, noise_issue, [noise[2]])
    merged = service.merge_issues(session, leader, unit, lights_issue, split.id)
    session.commit()
    assert merged.message_count == 3

    live.recompute(session, settings, utcnow() + dt.timedelta(days=1))
    session.commit()
    after = issue_of(session)
    assert after[noise[2]] == split.id
    assert after[lights[0]] == after[lights[1]] == split.id
    assert after[noise[0]] == after[noise[1]] == noise_issue
    views = {v.id: v for v in service.hot_issues(session, settings, unit, utcnow(), limit=10)}
    assert views[noise_issue].name == "青松花园烧烤噪音"
    assert lights_issue not in views  # merged away


def test_the_api_answers_within_the_viewers_scope(
    session: Session, settings: Settings, city: City, client: TestClient
) -> None:
    noise, _lights = _submit_all(session, settings, "D1S1C1")
    leader = auth(client, "leader")
    listed = client.get("/api/v1/warning/hot-issues", headers=leader)
    assert listed.status_code == 200, listed.text
    issues = listed.json()["issues"]
    assert [i["messages"] for i in issues] == [3, 2]
    top = issues[0]
    assert top["heat"] > issues[1]["heat"]
    assert set(top["heat_terms"]) >= {"people", "likes", "intensity"}
    assert abs(sum(top["heat_terms"].values()) - top["heat"]) < 0.1
    detail = client.get(f"/api/v1/warning/hot-issues/{top['id']}", headers=leader).json()
    assert {r["id"] for r in detail["requests"]} == set(noise)

    csv = client.get("/api/v1/warning/hot-issues?format=csv", headers=leader)
    assert csv.status_code == 200 and "term_people" in csv.text and "青松花园" in csv.text

    # A supervisor of the other district sees none of them; a resident may not look.
    other = auth(client, "d2-supervisor")
    assert client.get("/api/v1/warning/hot-issues", headers=other).json()["issues"] == []
    assert client.get(f"/api/v1/warning/hot-issues/{top['id']}", headers=other).status_code == 404
    assert client.get("/api/v1/warning/hot-issues", headers=auth(client, "resident")).status_code == 403
    renamed = client.post(
        f"/api/v1/warning/hot-issues/{top['id']}/rename", json={"name": "烧烤噪音"}, headers=other
    )
    assert renamed.status_code in (403, 404)
    # The district's dispatcher sees them.
    d1 = auth(client, "d1-dispatcher")
    assert len(client.get("/api/v1/warning/hot-issues", headers=d1).json()["issues"]) == 2
    ok = client.post(f"/api/v1/warning/hot-issues/{top['id']}/rename", json={"name": "烧烤噪音"}, headers=d1)
    assert ok.status_code == 200 and ok.json()["name_locked"] is True


def test_the_hot_page_shows_the_issues_in_both_languages(
    session: Session, settings: Settings, city: City, client: TestClient
) -> None:
    _submit_all(session, settings)
    assert (
        client.get("/dashboard/hot", follow_redirects=False).headers["location"]
        == "/login?next=/dashboard/hot"
    )
    sign_in(client, "leader")
    zh = client.get("/dashboard/hot")
    assert zh.status_code == 200 and "热点问题" in zh.text and "青松花园" in zh.text and "<svg" in zh.text
    assert [row["messages"] for row in zh.context["page"].issues] == [3, 2]
    en = client.get("/dashboard/hot?lang=en")
    assert "Hot issues" in en.text and "Heat terms" in en.text
    # The trends as an ECharts line chart and the streets on the city's own map (vendored ECharts, no tiles).
    assert "/static/vendor/echarts-5.6.0/echarts.min.js" in zh.text and 'id="chart-data"' in zh.text
    chart = zh.context["page"].chart
    assert [sum(s["data"]) for s in chart["series"]] == [3, 2] and len(chart["labels"]) == 12
    streets = {f["properties"]["code"]: f["properties"]["count"] for f in zh.context["page"].map["features"]}
    assert streets["D1S1"] == 5 and sum(streets.values()) == 5
    first = zh.context["page"].issues[0]
    drill = client.get(first["url"])
    assert drill.status_code == 200 and "青松花园" in drill.text
    assert len(drill.context["page"].requests) == 3
    one = {f["properties"]["code"]: f["properties"]["count"] for f in drill.context["page"].map["features"]}
    assert one["D1S1"] == 3 and 'id="map-data"' in drill.text
    assert [sum(s["data"]) for s in drill.context["page"].chart["series"]] == [3]


def test_the_nightly_job_recomputes_once_a_day(session: Session, settings: Settings, city: City) -> None:
    noise, lights = _submit_all(session, settings)
    factory = get_sessionmaker(settings.database_url)
    now = utcnow()
    first = run_job(factory, settings, "hot_recompute", now)
    assert first is not None and first["requests"] == 5
    assert run_job(factory, settings, "hot_recompute", now + dt.timedelta(hours=1)) == {
        "skipped": True,
        "at": now.isoformat(),
    }
    session.expire_all()
    placed = issue_of(session)
    assert len({placed[r] for r in noise}) == 1 and placed[noise[0]] != placed[lights[0]]


def test_repeats_from_one_place_and_one_person(
    session: Session, settings: Settings, city: City, client: TestClient
) -> None:
    noise, _lights = _submit_all(session, settings)
    # The same person writes about the noise twice more.
    again = [submit(session, settings, t, d, "13912340000") for t, d in NOISE[:2]]
    session.commit()
    placed = issue_of(session)
    assert {placed[r.id] for r in again} == {placed[noise[0]]}
    leader = auth(client, "leader")
    found = client.get("/api/v1/warning/repeats", headers=leader).json()["repeats"]
    by = {(r["by"], r["issue_id"]): r for r in found}
    assert by[("place", placed[noise[0]])]["count"] == 5  # all from one community
    assert (
        by[("person", placed[noise[0]])]["count"] == 3 and by[("person", placed[noise[0]])]["unit_id"] is None
    )
    assert ("place", placed[_lights[0]]) not in by  # two requests are not a repeat
    other = auth(client, "d2-supervisor")
    assert client.get("/api/v1/warning/repeats", headers=other).json()["repeats"] == []
