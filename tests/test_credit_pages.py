"""The credit pages added for issue 16's last lines: an entity's full record with its grade history for credit
officers, the inspections on the public entity page, the page of publication rules, in Chinese and English (both
databases)."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from chengzhi.config import Settings
from chengzhi.credit import access, plans, repair, service
from chengzhi.db import get_sessionmaker
from chengzhi.org.models import Role

from .factories import City, make_user
from .test_credit_rules import generated_codes
from .test_pages_admin import sign_in

CODES = generated_codes(3, seed=1616)


def _entity_with_history(settings: Settings, city: City) -> None:
    """A licence a year ago (B), then a serious penalty (D), then a failed inspection (D, a lower score): three rows
    in the grade history."""
    today = access.today(settings)
    with get_sessionmaker(settings.database_url)() as session, session.begin():
        make_user(session, city, "credit", Role.credit_officer, "city")
        data = service.EntityData(CODES[0], "乙餐饮有限公司", legal_rep="王小明", industry="catering")
        entity = service.save_entity(session, data, today - dt.timedelta(days=400))
        unit = city.units["D1-water"].id
        for kind, title, days, severity, outcome in (
            ("licence", "食品经营许可", 380, None, None),
            ("penalty", "销售过期食品", 100, "serious", None),
            ("inspection", "日常监督检查不合格", 20, None, False),
        ):
            record = service.RecordData(kind, title, "《食品安全法》", today - dt.timedelta(days=days),
                                        severity=severity, outcome=outcome, source_unit_id=unit)  # fmt: skip
            service.add_record(session, entity, record, today - dt.timedelta(days=days))
        plans.add_inspector(session, unit, "执法员甲")


def test_an_officer_reads_the_full_record_and_the_grade_history(
    client: TestClient, settings: Settings, city: City
) -> None:
    _entity_with_history(settings, city)
    path = f"/credit/staff/entities/{CODES[0]}"
    assert client.get(path, follow_redirects=False).status_code == 303  # sign in first
    sign_in(client, "d1-water-handler")
    assert client.get(path).status_code == 403  # department staff: the public page only
    sign_in(client, "credit")
    page = client.get(path, params={"lang": "zh"})
    assert page.status_code == 200
    text = page.text
    assert "王小明" in text  # unmasked for the officer
    assert "等级历史" in text and "当前影响分数的记录" in text
    history = text.split("等级历史")[1].split("</table>")[0]
    assert history.count('<span class="badge">') == 3, history  # licence (A), penalty (D), inspection
    assert "销售过期食品" in history and "行政处罚" in history  # each change says which record moved it
    assert text.index("销售过期食品") < text.index("食品经营许可")  # the largest move first
    rules = repair.rule_set_on(access.today(settings) - dt.timedelta(days=100)).code
    assert f'<a href="/credit/rules">{rules}</a>' in text  # the penalty's rule set links to the rules
    english = client.get(path, params={"lang": "en"}).text
    assert "Grade history" in english and "What moves the score today" in english and "Penalties" in english
    assert "in force" in english and "Repair from" in english
    assert (
        client.get(
            "/credit/staff/entities", params={"uscc": CODES[0].lower()}, follow_redirects=False
        ).headers["location"]
        == path
    )
    assert client.get("/credit/staff/entities/91XXXXXXXXXXXXXXXX").status_code == 404


def test_the_public_page_shows_inspections_and_links_the_rules(
    client: TestClient, settings: Settings, city: City
) -> None:
    _entity_with_history(settings, city)
    page = client.get(f"/credit/{CODES[0]}", params={"lang": "zh"}).text
    inspections = page.split("<h2>检查</h2>")[1]
    assert "日常监督检查不合格" in inspections and "不合格" in inspections
    assert "王小明" not in page and "/credit/rules" in page and "完整信用档案" not in page
    english = client.get(f"/credit/{CODES[0]}", params={"lang": "en"}).text
    assert "<h2>Inspections</h2>" in english and "failed" in english
    public = client.get(f"/api/v1/credit/entities/{CODES[0]}").json()
    assert [(i["title"], i["outcome"]) for i in public["inspections"]] == [("日常监督检查不合格", False)]
    sign_in(client, "credit")
    assert f"/credit/staff/entities/{CODES[0]}" in client.get(f"/credit/{CODES[0]}").text


def test_the_rules_page_lists_every_rule_set_with_its_source(client: TestClient) -> None:
    zh = client.get("/credit/rules", params={"lang": "zh"})
    assert zh.status_code == 200
    for text in ("2019-05-01", "2023-05-01", "2026-04-01", "发改办财金〔2019〕527号", "国家发展改革委令第58号",
                 "6 至 36 个月", "3 至 12 个月", "不予公示"):  # fmt: skip
        assert text in zh.text, text
    en = client.get("/credit/rules", params={"lang": "en"}).text
    assert "NDRC Order No. 58" in en and "12 to 36 months" in en and "not published" in en


def test_department_staff_add_a_record_from_the_staff_page(
    client: TestClient, settings: Settings, city: City
) -> None:
    _entity_with_history(settings, city)
    sign_in(client, "d1-water-handler")
    page = client.get("/credit/staff", params={"lang": "zh"})
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    form = {"csrf_token": token, "uscc": CODES[0], "kind": "honour", "severity": "", "outcome": "",
            "title": "守合同重信用企业", "legal_basis": "示范市表彰决定",
            "decided_on": access.today(settings).isoformat()}  # fmt: skip
    wrong = client.post("/credit/staff/records", data={**form, "kind": "penalty"}, params={"lang": "zh"})
    assert (
        wrong.status_code == 400 and "严重程度" in wrong.text
    ) or "minor, general or serious" in wrong.text
    assert 'value="守合同重信用企业"' in wrong.text  # what was typed stays in the form
    bad_date = client.post(
        "/credit/staff/records", data={**form, "decided_on": "2026-13-01"}, params={"lang": "en"}
    )
    assert bad_date.status_code == 400 and "YYYY-MM-DD" in bad_date.text
    unknown = client.post("/credit/staff/records", data={**form, "uscc": CODES[2]}, params={"lang": "en"})
    assert unknown.status_code == 400 and CODES[2] in unknown.text
    added = client.post("/credit/staff/records", data=form, follow_redirects=False)
    assert added.status_code == 303
    with get_sessionmaker(settings.database_url)() as session:
        entity = service.get_entity(session, CODES[0])
        (honour,) = [r for r in service.records_of(session, entity) if r.kind == "honour"]
        assert honour.source_unit_id == city.units["D1-water"].id  # the department's own unit
        assert service.grade_history(session, entity)[-1].explanation[-1]["record_id"] == honour.id
    assert client.post("/credit/staff/records", data={**form, "csrf_token": "x"}).status_code == 403
