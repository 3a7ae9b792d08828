"""The credit API beyond the registry: lists, measures, objections, repair applications, complaints, plans,
records within scope and the dashboard (both databases)."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from chengzhi.config import Settings
from chengzhi.credit import access, cases, plans, service
from chengzhi.db import get_sessionmaker
from chengzhi.org.models import Role

from .conftest import auth
from .factories import City, make_user
from .steps import submit
from .test_credit_rules import generated_codes
from .test_pages_admin import sign_in

CODES = generated_codes(30, seed=4242)
API = "/api/v1/credit"


def test_cases_lists_and_plans_over_the_api(client: TestClient, settings: Settings, city: City) -> None:
    today = access.today(settings)
    water = city.units["D1-water"].id
    with get_sessionmaker(settings.database_url)() as session, session.begin():
        make_user(session, city, "credit", Role.credit_officer, "city")
        make_user(session, city, "inspector-a", Role.handler, "D1-water")
        for i, code in enumerate(CODES):
            service.save_entity(session, service.EntityData(code, f"企业{i}", industry="food"), today)
        request_id = submit(session, settings, dt.datetime.now(dt.UTC)).id
    officer, handler = auth(client, "credit"), auth(client, "d1-water-handler")
    inspector = auth(client, "inspector-a")

    body = {"kind": "penalty", "title": "严重违法", "legal_basis": "法", "severity": "serious",
            "decided_on": (today - dt.timedelta(days=400)).isoformat()}  # fmt: skip
    record = client.post(f"{API}/entities/{CODES[0]}/records", json=body, headers=handler).json()["record"]
    black = client.get(f"{API}/lists/black", params={"lang": "en"}).json()
    assert isinstance(black, list), black
    assert [(e["uscc"], e["rule"]) for e in black] == [(CODES[0], "serious_penalty")]
    assert "serious" in black[0]["why"] and client.get(f"{API}/lists/red").json() == []
    assert any(m["situation"] == "black:serious_penalty" for m in client.get(f"{API}/measures").json())
    lookup = client.get(f"{API}/lookup/{CODES[0]}", params={"purpose": "procurement"}, headers=handler).json()
    assert {(m["department"], m["measure"]) for m in lookup["measures"]} >= {("procurement", "refuse")}

    # Objection: filed by staff, decided by an officer; a second one is refused while the first is open.
    filed = client.post(f"{API}/records/{record['id']}/objections", json={"filed_by": "甲", "reason": "错误"},
                        headers=handler)  # fmt: skip
    assert filed.status_code == 201 and filed.json()["due_on"] == (today + dt.timedelta(days=15)).isoformat()
    again = client.post(f"{API}/records/{record['id']}/objections", json={"filed_by": "甲", "reason": "x"},
                        headers=handler)  # fmt: skip
    assert again.status_code == 409
    assert client.get(f"{API}/objections", headers=handler).status_code == 403
    assert [o["id"] for o in client.get(f"{API}/objections", headers=officer).json()] == [filed.json()["id"]]
    rejected = client.post(f"{API}/objections/{filed.json()['id']}/decision",
                           json={"accept": False, "decision": "事实清楚"}, headers=officer)  # fmt: skip
    assert rejected.json()["status"] == "rejected"

    # Repair application: proof and commitment, granted by an officer: the black list entry ends.
    applied = client.post(
        f"{API}/records/{record['id']}/repair-applications",
        json={"applicant": "甲", "proof": "整改报告", "commitment": "信用承诺"},
        headers=handler,
    )
    assert applied.status_code == 201, applied.text
    assert [a["id"] for a in client.get(f"{API}/repair-applications", headers=officer).json()] == [
        applied.json()["id"]
    ]
    granted = client.post(f"{API}/repair-applications/{applied.json()['id']}/decision",
                          json={"accept": True, "decision": "同意"}, headers=officer)  # fmt: skip
    assert granted.json()["status"] == "granted"
    assert client.get(f"{API}/lists/black").json() == []

    # A request linked to the entity counts once substantiated.
    link = client.post(
        f"{API}/entities/{CODES[1]}/complaints", json={"request_id": request_id}, headers=handler
    )
    assert link.status_code == 201 and link.json()["record_id"] is None
    decided = client.post(f"{API}/complaints/{link.json()['id']}/decision",
                          json={"substantiated": True}, headers=officer)  # fmt: skip
    assert decided.json()["record_id"] is not None
    missing = client.post(
        f"{API}/entities/{CODES[1]}/complaints", json={"request_id": 10**9}, headers=handler
    )
    assert missing.status_code == 404

    # Plans: roster, a plan drawn with a published seed, results by the drawn inspector.
    for name, username in (("执法员甲", "inspector-a"), ("执法员乙", None), ("执法员丙", None)):
        added = client.post(f"{API}/inspectors", json={"name": name, "username": username}, headers=handler)
        assert added.status_code == 201 and added.json()["unit_id"] == water
    plan = client.post(f"{API}/plans", json={"title": "食品抽查", "year": 2026, "seed": 7, "industry": "food",
                                              "ratios": {"B": 0.2}}, headers=handler)  # fmt: skip
    assert plan.status_code == 201, plan.text
    notice = client.get(f"{API}/plans/{plan.json()['id']}").json()
    assert notice["seed"] == 7 and notice["ratios"]["B"] == 0.2 and notice["pool_size"] == 30
    assert len(notice["tasks"]) == 6 and notice["tasks"][0]["inspectors"] == 2  # 28 B x 0.2 + 2 D x 0.7 (1)
    pool = client.get(f"{API}/plans/{plan.json()['id']}/pool").json()
    assert len(pool) == 30
    tasks = plan.json()["tasks"]
    mine = next(t for t in tasks if "执法员甲" in t["inspectors"])
    other = next((t for t in tasks if "执法员甲" not in t["inspectors"]), None)
    if other is not None:
        refused = client.post(f"{API}/tasks/{other['id']}/result", json={"passed": True, "findings": "合格"},
                              headers=inspector)  # fmt: skip
        assert refused.status_code == 403
    entered = client.post(f"{API}/tasks/{mine['id']}/result", json={"passed": False, "findings": "无证"},
                          headers=inspector)  # fmt: skip
    assert entered.status_code == 200 and entered.json()["record_id"]
    bad_ratio = client.post(f"{API}/plans", json={"title": "x", "year": 2026, "seed": 1, "ratios": {"A": 0.5}},
                            headers=handler, params={"lang": "en"})  # fmt: skip
    assert bad_ratio.status_code == 422 and "outside" in bad_ratio.json()["error"]["message"]

    scoped = client.get(f"{API}/records", headers=handler).json()
    assert {r["source_unit_id"] for r in scoped} == {water}
    board = client.get(f"{API}/dashboard", headers=handler).json()
    food = next(g for g in board["grades"] if g["key"] == "food")
    assert food["total"] == 30
    (row,) = [i for i in board["inspections"] if i["key"] == "food"]
    assert (row["drawn"], row["inspected"], row["failed"]) == (6, 1, 1)
    assert client.get(f"{API}/dashboard", params={"by": "area"}, headers=handler).status_code == 200
    assert client.get(f"{API}/dashboard").status_code == 401


def test_staff_and_public_pages(client: TestClient, settings: Settings, city: City) -> None:
    today = access.today(settings)
    with get_sessionmaker(settings.database_url)() as session, session.begin():
        make_user(session, city, "credit", Role.credit_officer, "city")
        entity = service.save_entity(session, service.EntityData(CODES[0], "甲公司", industry="food"), today)
        decided = today - dt.timedelta(days=200)
        data = service.RecordData("penalty", "严重违法", "法", decided, severity="serious", source_unit_id=city.units["D1-water"].id)  # fmt: skip
        record = service.add_record(session, entity, data, today)
        cases.file_objection(session, record.id, "甲公司", "处罚对象错误", today, 15)
        unit = city.units["D1-water"].id
        plans.add_inspector(session, unit, "执法员甲")
        plans.add_inspector(session, unit, "执法员乙")
        plan = plans.create_plan(session, unit, "食品抽查", 2026, 3, "credit", today, ratios={"D": 1.0})
        plan_id = plan.id
    assert client.get("/credit/staff", follow_redirects=False).status_code == 303
    sign_in(client, "d1-water-handler")
    page = client.get("/credit/staff")
    assert page.status_code == 200 and "严重违法" in page.text and "食品抽查" in page.text
    assert "处罚对象错误" not in page.text  # objections are for officers
    english = client.get("/credit/staff", params={"lang": "en", "by": "area"})
    assert "Random inspections" in english.text and "Grades" in english.text
    sign_in(client, "credit")
    page = client.get("/credit/staff", params={"lang": "zh"})
    assert "处罚对象错误" in page.text and "异议" in page.text
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    objection_id = page.text.split('name="what" value="objection"><input type="hidden" name="id" value="')[
        1
    ].split('"')[0]
    decided_page = client.post("/credit/staff/decide", data={"csrf_token": token, "what": "objection",
                               "id": objection_id, "accept": "yes", "decision": "撤销"}, follow_redirects=False)  # fmt: skip
    assert decided_page.status_code == 303
    assert client.get(f"{API}/lists/black").json() == []
    black = client.get("/credit/lists/black")
    assert black.status_code == 200 and "甲公司" not in black.text
    notice = client.get(f"/credit/plans/{plan_id}")
    assert notice.status_code == 200 and "甲公司" in notice.text and "3" in notice.text
    assert client.get("/credit/plans/x").status_code == 404
    assert client.get("/credit/lists/grey").status_code == 404
