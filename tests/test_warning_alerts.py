"""Alerts end to end (both databases): the hot, repeat and burst rules of the periodic job and the sensitive words
checked by the triage worker raise one alert per cause, told to the leaders in-app and by e-mail and to webhook
subscribers; leaders acknowledge them in the API and the page; other units do not see them."""

from __future__ import annotations

import datetime as dt
import re

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.db import utcnow
from chengzhi.notify.models import Notification
from chengzhi.requests.models import Request
from chengzhi.warning import alerts
from chengzhi.warning.models import Alert, HotIssueMember
from chengzhi.webhooks import service as webhooks
from chengzhi.webhooks.models import WebhookDelivery

from .conftest import auth
from .factories import City
from .test_pages_staff import sign_in
from .test_warning_live import _submit_all, submit


def alerts_of(session: Session) -> list[Alert]:
    session.commit()  # a fresh snapshot (SQLite keeps the one a read transaction began with)
    session.expire_all()  # the sessions do not expire on commit
    return list(session.scalars(select(Alert).order_by(Alert.id)))


def test_hot_and_repeat_rules_raise_one_alert_per_cause_and_tell_the_leaders(
    session: Session, settings: Settings, city: City
) -> None:
    settings = settings.model_copy(update={"warning_alert_people": 3})
    city.users["leader"].email = "leader@example.org"
    session.merge(city.users["leader"])
    webhooks.subscribe(session, settings, "ops", "https://hooks.example.org/in", ["alert.raised"], utcnow())
    session.commit()
    noise, lights = _submit_all(session, settings)

    first = alerts.alerts_job(session, settings, utcnow())
    session.commit()
    found = alerts_of(session)
    hot = [a for a in found if a.kind == "hot"]
    # The noise issue (3 people) crosses the threshold; the lights issue (2 people) does not.
    assert len(hot) == 1 and hot[0].detail["people"] == 3 and hot[0].detail["messages"] == 3
    assert hot[0].unit_path == city.units["D1S1C1"].path  # every request lies in that community
    # Three requests about the noise from one community: Xindu's rule (three times from one place).
    repeats = [a for a in found if a.kind == "repeat"]
    assert [(a.detail["by"], a.detail["times"], a.issue_id) for a in repeats] == [
        ("place", 3, hot[0].issue_id)
    ]
    assert first["hot"] == 1 and first["repeat"] == 1

    # Run again: the same causes raise nothing more.
    again = alerts.alerts_job(session, settings, utcnow() + dt.timedelta(minutes=5))
    session.commit()
    assert again["hot"] == again["repeat"] == 0 and len(alerts_of(session)) == len(found)

    told = session.scalars(select(Notification).where(Notification.kind == "alert")).all()
    leader = city.users["leader"].id
    assert {(n.user_id, n.channel) for n in told if n.reference == str(hot[0].id)} == {
        (leader, "in_app"),
        (leader, "email"),
    }
    # Handlers and residents are not told.
    assert {n.user_id for n in told} == {leader}
    deliveries = session.scalars(
        select(WebhookDelivery).where(WebhookDelivery.event_type == "alert.raised")
    ).all()
    assert {d.event_id for d in deliveries} == {f"alert-{a.id}" for a in found}
    assert noise and lights


def test_an_old_history_of_repeats_raises_no_alert_until_a_new_request_repeats_it(
    session: Session, settings: Settings, city: City
) -> None:
    """The demo's year of history once raised 184 repeat alerts at start: repeats and hot issues are told when
    they happen (the threshold crossed in the last week), not for an imported past."""
    settings = settings.model_copy(update={"warning_alert_people": 3})
    noise, lights = _submit_all(session, settings)
    # Everything came three weeks ago: the noise (3 requests, 3 people) crossed both thresholds then.
    weeks_ago = utcnow() - dt.timedelta(weeks=3)
    for member in session.scalars(select(HotIssueMember)):
        member.received_at = weeks_ago
    session.commit()
    quiet = alerts.alerts_job(session, settings, utcnow())
    session.commit()
    assert quiet["hot"] == quiet["repeat"] == 0 and alerts_of(session) == []

    # A third request about the street lights from the same community, today: it crosses both thresholds now.
    submit(
        session,
        settings,
        "幸福路路灯又不亮了",
        "幸福路的路灯晚上还是不亮，行人走路很危险，请修复路灯。",
        "13712340000",
    )
    session.commit()
    told = alerts.alerts_job(session, settings, utcnow())
    session.commit()
    found = alerts_of(session)
    assert told["hot"] == 1 and told["repeat"] == 1
    lights_issue = session.scalars(
        select(HotIssueMember.issue_id).where(HotIssueMember.request_id == lights[0])
    ).one()
    assert {(a.kind, a.issue_id) for a in found} == {("hot", lights_issue), ("repeat", lights_issue)}
    assert noise


def test_a_burst_is_found_against_the_same_weekdays_history(
    session: Session, settings: Settings, city: City
) -> None:
    now = utcnow()
    texts = [
        ("东风路垃圾桶满溢", "东风路垃圾桶满了没人清运，味道很大。"),
        ("南湖公园草坪被践踏", "南湖公园草坪被踩坏了，希望修复。"),
        ("幸福路井盖松动", "幸福路井盖松动，车辆经过咣当响。"),
    ]
    # Eight weeks of the same weekday with two requests each in D1S2's community: today's three are no burst there.
    for week in range(1, 9):
        for k in range(2):
            title, text = texts[(week + k) % 3]
            request = submit(session, settings, title, text, f"1370000{week:02d}{k:02d}", "D1S2C1")
            request.received_at = now - dt.timedelta(weeks=week)
    session.commit()
    for k in range(3):
        submit(session, settings, *texts[k], f"13611110{k:03d}", "D1S2C1")
    # In D1S1's community, no history: five requests today are a burst.
    for k in range(5):
        submit(session, settings, *texts[k % 3], f"13522220{k:03d}", "D1S1C1")
    session.commit()
    # The memberships keep the time of intake: move those of the history back with their requests.
    for member in session.scalars(select(HotIssueMember)):
        received = session.get(Request, member.request_id)
        assert received is not None
        member.received_at = received.received_at
    session.commit()

    alerts.alerts_job(session, settings, now)
    session.commit()
    found = [a for a in alerts_of(session) if a.kind == "burst"]
    assert len(found) == 1
    burst = found[0]
    assert burst.detail["count"] == 5 and burst.detail["expected"] == 0.5
    assert burst.unit_path == city.units["D1S1"].path  # the street
    assert burst.title == city.categories["litter"].name_zh


def test_sensitive_words_raise_an_alert_at_triage(
    session: Session, settings: Settings, city: City, client: TestClient
) -> None:
    admin = auth(client, "admin")
    assert (
        client.post("/api/v1/warning/sensitive-words", json={"word": "集体 上访"}, headers=admin).status_code
        == 201
    )
    duplicate = client.post("/api/v1/warning/sensitive-words", json={"word": "集体上访"}, headers=admin)
    assert duplicate.status_code == 422, duplicate.text
    short = client.post("/api/v1/warning/sensitive-words", json={"word": "访"}, headers=admin)
    assert short.status_code == 422
    leader = auth(client, "leader")
    assert client.get("/api/v1/warning/sensitive-words", headers=leader).status_code == 403
    assert [
        w["word"] for w in client.get("/api/v1/warning/sensitive-words", headers=admin).json()["words"]
    ] == ["集体上访"]

    hit = submit(session, settings, "小区停车收费", "物业乱收停车费，业主们准备集体 上访。", "13912340000")
    miss = submit(session, settings, "小区停车收费", "物业乱收停车费，请核查。", "13912340001")
    session.commit()
    found = [a for a in alerts_of(session) if a.kind == "word"]
    assert [(a.request_id, a.title) for a in found] == [(hit.id, "集体上访")]
    assert found[0].detail["number"] == hit.tracking_number and miss.id != hit.id
    alert_id = found[0].id
    session.commit()  # the test's read ends before the API writes (SQLite)

    # The leader sees it, acknowledges it once; a supervisor of the other district does not see it.
    listed = client.get("/api/v1/warning/alerts?open=true", headers=leader).json()
    assert listed["open"] == 1 and [a["id"] for a in listed["alerts"]] == [alert_id]
    other = auth(client, "d2-supervisor")
    assert client.get("/api/v1/warning/alerts", headers=other).json()["alerts"] == []
    assert client.post(f"/api/v1/warning/alerts/{alert_id}/acknowledge", headers=other).status_code in (
        403,
        404,
    )
    done = client.post(
        f"/api/v1/warning/alerts/{alert_id}/acknowledge", json={"note": "已约谈物业"}, headers=leader
    )
    assert done.status_code == 200 and done.json()["acknowledged_at"]
    assert client.get("/api/v1/warning/alerts?open=true", headers=leader).json()["open"] == 0
    missing = client.post("/api/v1/warning/alerts/999999/acknowledge", headers=leader)
    assert missing.status_code == 404

    word_id = client.get("/api/v1/warning/sensitive-words", headers=admin).json()["words"][0]["id"]
    assert client.delete(f"/api/v1/warning/sensitive-words/{word_id}", headers=admin).status_code == 204
    alerts.reset_cache()
    submit(session, settings, "小区停车收费", "业主们准备集体上访。", "13912340002")
    session.commit()
    assert len([a for a in alerts_of(session) if a.kind == "word"]) == 1


def test_the_alerts_page_lists_and_acknowledges_in_both_languages(
    session: Session, settings: Settings, city: City, client: TestClient
) -> None:
    settings = settings.model_copy(update={"warning_alert_people": 3})
    _submit_all(session, settings)
    alerts.alerts_job(session, settings, utcnow())
    session.commit()
    hot = next(a for a in alerts_of(session) if a.kind == "hot")
    sign_in(client, "leader")
    page = client.get("/dashboard/hot/alerts")
    assert page.status_code == 200
    assert "热点问题" in page.text and "90 天内 3 人、3 件诉求" in page.text
    english = client.get("/dashboard/hot/alerts", headers={"Accept-Language": "en"})
    assert "hot issue" in english.text.lower() and "different people" in english.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', english.text)
    assert token
    done = client.post(
        f"/dashboard/hot/alerts/{hot.id}/acknowledge",
        data={"csrf_token": token.group(1), "note": "已派人核查"},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    acknowledged = next(a for a in alerts_of(session) if a.id == hot.id)
    assert acknowledged.acknowledged_at is not None and acknowledged.note == "已派人核查"
    hot_page = client.get("/dashboard/hot")
    assert "/dashboard/hot/alerts" in hot_page.text
    # The word list is for administrators.
    assert client.get("/dashboard/hot/words").status_code == 403


def test_hot_issues_download_as_xlsx_with_formulas_neutralised(
    session: Session, settings: Settings, city: City, client: TestClient
) -> None:
    import io

    from openpyxl import load_workbook

    noise, _lights = _submit_all(session, settings)
    leader = auth(client, "leader")
    issue = client.get("/api/v1/warning/hot-issues", headers=leader).json()["issues"][0]
    renamed = client.post(
        f"/api/v1/warning/hot-issues/{issue['id']}/rename",
        json={"name": '=HYPERLINK("http://x","烧烤")'},
        headers=leader,
    )
    assert renamed.status_code == 200
    found = client.get("/api/v1/warning/hot-issues?format=xlsx", headers=leader)
    assert found.status_code == 200 and found.headers["content-type"].startswith(
        "application/vnd.openxmlformats"
    )
    sheet = load_workbook(io.BytesIO(found.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:4] == ("rank", "id", "heat", "name") and "term_negativity" in rows[0]
    assert rows[1][3] == "'" + '=HYPERLINK("http://x","烧烤")'
    assert [r[5] for r in rows[1:]] == [3, 2] and noise
    csv_text = client.get("/api/v1/warning/hot-issues?format=csv", headers=leader).text
    assert "'=HYPERLINK" in csv_text
