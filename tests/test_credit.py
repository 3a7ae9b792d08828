"""Credit domain with a database: imports (all or nothing, bad rows named), grades, name history, the API, the CLI."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from chengzhi.cli import app as cli_app
from chengzhi.config import Settings
from chengzhi.credit import importer, repair, scoring, service
from chengzhi.credit.models import CreditEntity, CreditRecord
from chengzhi.db import get_sessionmaker
from chengzhi.org.models import Role

from .conftest import Configure, auth
from .factories import City, make_user
from .test_credit_rules import generated_codes

ON = dt.date(2026, 6, 1)
CODES = generated_codes(6, seed=21)


def wrong_check(code: str) -> str:
    return code[:-1] + ("0" if code[-1] != "0" else "1")


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def count(session: Session, model: type[CreditEntity] | type[CreditRecord]) -> int:
    return session.query(model).count()


def test_import_entities_with_the_plain_header(session: Session, city: City, tmp_path: Path) -> None:
    path = write(tmp_path, "e.csv", "uscc,name\n" + "".join(f"{c},企业{i}\n" for i, c in enumerate(CODES)))
    assert importer.import_entities(session, path, ON, "zh") == {"rows": 6, "created": 6, "updated": 0}
    session.commit()
    assert count(session, CreditEntity) == 6


@pytest.mark.parametrize(
    ("lang", "words"),
    [("en", ("line 3", "check digit", "line 4", "characters")), ("zh", ("第 3 行", "校验码"))],
)
def test_bad_rows_are_named_and_nothing_is_imported(
    session: Session, city: City, tmp_path: Path, lang: str, words: tuple[str, ...]
) -> None:
    text = f"uscc,name\n{CODES[0]},甲\n{wrong_check(CODES[1])},乙\n{CODES[2][:10]},丙\n{CODES[3]},\n"
    with pytest.raises(importer.ImportFailed) as failed:
        importer.import_entities(session, write(tmp_path, "e.csv", text), ON, "en" if lang == "en" else "zh")
    reasons = [p.reason for p in failed.value.problems]
    assert [p.line for p in failed.value.problems] == [3, 4, 5]
    joined = "\n".join(reasons)
    for word in words:
        assert word in joined, joined
    assert f"should end in {CODES[1][-1]}" in reasons[0] or CODES[1][-1] in reasons[0]
    assert count(session, CreditEntity) == 0


def test_allow_list_admits_a_failing_code_explicitly(session: Session, city: City, tmp_path: Path) -> None:
    bad = wrong_check(CODES[0])
    path = write(tmp_path, "e.csv", f"uscc,name\n{bad},试点企业\n")
    with pytest.raises(importer.ImportFailed):
        importer.import_entities(session, path, ON, "en")
    service.allow_code(session, bad, "试点期赋码，见登记机关函", "credit")
    assert importer.import_entities(session, path, ON, "en")["created"] == 1


def test_unknown_columns_need_a_mapping(session: Session, city: City, tmp_path: Path) -> None:
    path = write(tmp_path, "e.csv", f"统一社会信用代码,名称\n{CODES[0]},甲\n")
    with pytest.raises(importer.ImportFailed) as failed:
        importer.import_entities(session, path, ON, "en")
    assert failed.value.problems[0].line == 0 and "mapping" in failed.value.problems[0].reason
    mapping = write(tmp_path, "m.toml", '[columns]\nuscc = "统一社会信用代码"\nname = "名称"\n')
    assert importer.import_entities(session, path, ON, "en", mapping)["created"] == 1


def test_records_import_grades_and_keeps_history(session: Session, city: City, tmp_path: Path) -> None:
    importer.import_entities(
        session, write(tmp_path, "e.csv", f"uscc,name\n{CODES[0]},甲\n{CODES[1]},乙\n"), ON, "en"
    )
    rows = (
        "uscc,kind,title,legal_basis,decided_on,severity,outcome,source\n"
        f"{CODES[0]},honour,守合同重信用,省级表彰,2026-05-01,,,city\n"
        f"{CODES[0]},inspection,抽查合格,《市场监管抽查办法》,2026-05-02,,合格,D1-water\n"
        f"{CODES[1]},penalty,无证经营,《行政处罚法》,2026-05-03,严重,,city\n"
    )
    report = importer.import_records(session, write(tmp_path, "r.csv", rows), ON, "en")
    assert report == {"rows": 3, "entities": 2}
    good, bad = service.get_entity(session, CODES[0]), service.get_entity(session, CODES[1])
    assert (good.grade, bad.grade) == ("A", "D")
    penalty = service.records_of(session, bad)[0]
    assert (penalty.rule_set, penalty.publish_until) == ("2026", dt.date(2029, 5, 3))
    explanation = service.explanation(session, bad, ON)
    assert explanation[0]["record_id"] == penalty.id and explanation[0]["delta"] < -100
    # A record arriving regrades the entity; the history keeps every change.
    data = service.RecordData("commitment", "承诺", "信用承诺书", ON, outcome=False)
    service.add_record(session, good, data, ON)
    assert [g.grade for g in service.grade_history(session, good)][-1] == good.grade
    assert len(service.grade_history(session, good)) == 2
    # The nightly set-based regrade gives what the per-entity one gives, a year on (decay, ended publications).
    later = ON + dt.timedelta(days=400)
    before = {e.id: e.grade for e in (good, bad)}
    assert service.regrade_all(session, later, batch=1)["entities"] == 2
    for entity in (good, bad):
        expected = scoring.evaluate(
            service.MODEL, [service._fact(r, later) for r in service.records_of(session, entity)], later
        )
        assert (entity.score, entity.grade) == (expected.score, expected.grade)
        moved = before[entity.id] != entity.grade  # the nightly run keeps a history row per grade change
        assert (service.grade_history(session, entity)[-1].computed_on == later) == moved


def test_bad_record_rows_are_named(session: Session, city: City, tmp_path: Path) -> None:
    importer.import_entities(session, write(tmp_path, "e.csv", f"uscc,name\n{CODES[0]},甲\n"), ON, "en")
    rows = (
        "uscc,kind,title,legal_basis,decided_on,severity,outcome,source\n"
        f"{CODES[0]},penalty,罚款,法,2026-05-01,,,\n"
        f"{CODES[1]},honour,表彰,法,2026-05-01,,,\n"
        f"{CODES[0]},gift,?,法,2026-05-01,,,\n"
        f"{CODES[0]},honour,表彰,法,2026-13-01,,,\n"
        f"{CODES[0]},honour,表彰,法,2026-05-01,,,nowhere\n"
        f"{CODES[0]},inspection,抽查,法,2026-05-01,,maybe,\n"
    )
    with pytest.raises(importer.ImportFailed) as failed:
        importer.import_records(session, write(tmp_path, "r.csv", rows), ON, "en")
    assert [p.line for p in failed.value.problems] == [2, 3, 4, 5, 6, 7]
    assert count(session, CreditRecord) == 0


def test_every_imported_record_has_its_source(session: Session, city: City, tmp_path: Path) -> None:
    importer.import_entities(session, write(tmp_path, "e.csv", f"uscc,name\n{CODES[0]},甲\n"), ON, "en")
    rows = write(
        tmp_path, "r.csv", f"uscc,kind,title,legal_basis,decided_on\n{CODES[0]},licence,许可,法,2026-05-01\n"
    )
    with pytest.raises(importer.ImportFailed) as failed:
        importer.import_records(session, rows, ON, "en")
    assert [(p.line, "source is empty" in p.reason) for p in failed.value.problems] == [(2, True)]
    with pytest.raises(importer.ImportFailed) as unknown:
        importer.import_records(session, rows, ON, "zh", source="nowhere")
    assert "nowhere" in unknown.value.problems[0].reason
    assert importer.import_records(session, rows, ON, "en", source="D1-water") == {"rows": 1, "entities": 1}
    (record,) = service.records_of(session, service.get_entity(session, CODES[0]))
    assert record.source_unit_id == city.units["D1-water"].id


def test_xlsx_import(session: Session, city: City, tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["uscc", "name", "kind", "legal_rep"])
    sheet.append([CODES[0], "甲公司", "enterprise", "张三丰"])
    book.save(tmp_path / "e.xlsx")
    assert importer.import_entities(session, tmp_path / "e.xlsx", ON, "en")["created"] == 1


def test_name_history_and_search_by_former_name(session: Session, city: City) -> None:
    service.save_entity(session, service.EntityData(CODES[0], "旧名商店"), dt.date(2020, 1, 1))
    service.save_entity(session, service.EntityData(CODES[0], "新名公司"), dt.date(2025, 1, 1))
    entity = service.get_entity(session, CODES[0])
    names = [(n.name, n.valid_from, n.valid_to) for n in service.name_history(session, entity)]
    assert names == [
        ("旧名商店", dt.date(2020, 1, 1), dt.date(2025, 1, 1)),
        ("新名公司", dt.date(2025, 1, 1), None),
    ]
    assert [e.uscc for e in service.search(session, "旧名")] == [CODES[0]]
    assert [e.uscc for e in service.search(session, CODES[0].lower())] == [CODES[0]]
    assert service.search(session, "100%_") == []


def _setup(settings: Settings) -> None:
    with get_sessionmaker(settings.database_url)() as session, session.begin():
        service.save_entity(session, service.EntityData(CODES[0], "甲公司", legal_rep="张三丰"), ON)
        service.save_entity(session, service.EntityData(CODES[1], "乙公司"), ON)


def test_api(client: TestClient, settings: Settings, city: City) -> None:
    with get_sessionmaker(settings.database_url)() as session, session.begin():
        make_user(session, city, "credit", Role.credit_officer, "city")
    _setup(settings)
    found = client.get("/api/v1/credit/entities", params={"q": "甲"}).json()
    assert [e["uscc"] for e in found] == [CODES[0]]
    public = client.get(f"/api/v1/credit/entities/{CODES[0]}").json()
    assert public["legal_rep"] == "张**" and "explanation" not in public and "score" not in public
    missing = client.get(f"/api/v1/credit/entities/{CODES[2]}", params={"lang": "en"})
    assert missing.status_code == 404 and CODES[2] in missing.json()["error"]["message"]

    officer = auth(client, "credit")
    handler = auth(client, "d1-water-handler")
    water = city.units["D1-water"].id
    decided = dt.date.today() - dt.timedelta(days=30)
    body = {
        "kind": "penalty",
        "title": "超标排放",
        "legal_basis": "《水污染防治法》",
        "decided_on": decided.isoformat(),
    }
    assert (
        client.post(f"/api/v1/credit/entities/{CODES[0]}/records", json=body, headers=handler).status_code
        == 422
    )
    added = client.post(
        f"/api/v1/credit/entities/{CODES[0]}/records", json={**body, "severity": "serious"}, headers=handler
    )
    assert added.status_code == 201, added.text
    assert added.json()["grade"] == "D" and added.json()["record"]["source_unit_id"] == water
    other = city.units["D2"].id
    outside = client.post(
        f"/api/v1/credit/entities/{CODES[1]}/records",
        json={**body, "severity": "minor", "source_unit_id": other},
        headers=handler,
    )
    assert outside.status_code == 403
    assert client.get(f"/api/v1/credit/entities/{CODES[0]}/record", headers=handler).status_code == 403
    by_officer = client.post(f"/api/v1/credit/entities/{CODES[0]}/records", json={**body, "kind": "licence"},
                             headers=officer)  # fmt: skip
    assert by_officer.json()["record"]["source_unit_id"] == city.units["city"].id  # the officer's own unit
    full = client.get(f"/api/v1/credit/entities/{CODES[0]}/record", headers=officer).json()
    assert (
        full["legal_rep"] == "张三丰"
        and -120 < full["explanation"][0]["delta"] < -110
        and full["grade"] == "D"
    )

    lookup = client.get(
        f"/api/v1/credit/lookup/{CODES[0]}", params={"purpose": "subsidy"}, headers=handler
    ).json()
    assert {(m["department"], m["measure"], m["situation"]) for m in lookup["measures"]} == {
        ("finance", "refuse", "black:serious_penalty"),
        ("finance", "refuse", "grade:D"),
    }
    assert [e["rule"] for e in lookup["lists"]] == ["serious_penalty"]
    assert client.get(f"/api/v1/credit/lookup/{CODES[0]}").status_code == 401

    record_id = full["records"][0]["id"]
    early = client.post(
        f"/api/v1/credit/records/{record_id}/repair",
        json={"note": "已整改"},
        headers=officer,
        params={"lang": "en"},
    )
    opens = repair.window(decided, "serious").repair_from.isoformat()
    assert early.status_code == 422 and opens in early.json()["error"]["message"]
    bad = client.post(
        "/api/v1/credit/entities", json={"uscc": wrong_check(CODES[3]), "name": "丁"}, headers=officer
    )
    assert bad.status_code == 422 and "校验码" in bad.json()["error"]["message"]
    nowhere = {"uscc": CODES[3], "name": "丁", "area_unit_id": 999999}
    assert client.post("/api/v1/credit/entities", json=nowhere, headers=officer).status_code == 404
    huge = client.post("/api/v1/credit/records/99999999999999/repair", json={"note": "x"}, headers=officer)
    assert huge.status_code == 404


def test_cli_import(configure: Configure, city: City, tmp_path: Path, settings: Settings) -> None:
    configure()
    runner = CliRunner()
    bad = write(tmp_path, "bad.csv", f"uscc,name\n{CODES[0]},甲\n{wrong_check(CODES[1])},乙\n")
    result = runner.invoke(cli_app, ["credit", "import", "entities", str(bad), "--lang", "en"])
    assert result.exit_code == 1 and "line 3" in result.stderr and "nothing imported" in result.stderr
    good = write(tmp_path, "good.csv", f"uscc,name\n{CODES[0]},甲\n")
    result = runner.invoke(cli_app, ["credit", "import", "entities", str(good)])
    assert result.exit_code == 0, result.output
    assert runner.invoke(cli_app, ["credit", "regrade"]).exit_code == 0
    with get_sessionmaker(settings.database_url)() as session:
        assert service.get_entity(session, CODES[0]).grade == "B"


def test_cli_draw_is_reproducible(configure: Configure, city: City, settings: Settings) -> None:
    configure()
    with get_sessionmaker(settings.database_url)() as session, session.begin():
        for i, code in enumerate(generated_codes(40, seed=5)):
            entity = service.save_entity(session, service.EntityData(code, f"企业{i}", industry="food"), ON)
            if i % 4 == 0:
                data = service.RecordData("penalty", "罚", "法", ON, severity="serious")
                service.add_record(session, entity, data, ON)
    runner = CliRunner()
    args = ["credit", "draw", "--seed", "2026", "--inspector", "a", "--inspector", "b", "--inspector", "c"]
    first, again = runner.invoke(cli_app, args), runner.invoke(cli_app, args)
    assert first.exit_code == 0, first.output
    assert first.stdout == again.stdout
    plan = json.loads(first.stdout)
    assert plan["pool"] == 40 and sum(t["grade"] == "D" for t in plan["tasks"]) == 7  # 10 D x 0.70
    assert sum(t["grade"] == "B" for t in plan["tasks"]) == 3  # 30 B x 0.10
    code = plan["tasks"][0]["uscc"]
    recused = runner.invoke(
        cli_app, [*args, "--conflict", f"{code}=a", "--conflict", f"{code}=b", "--lang", "en"]
    )
    assert recused.exit_code == 1 and "only 1 inspectors" in recused.stderr


def test_public_pages(client: TestClient, settings: Settings, city: City) -> None:
    _setup(settings)
    with get_sessionmaker(settings.database_url)() as session, session.begin():
        entity = service.get_entity(session, CODES[0])
        data = service.RecordData(
            "penalty", "无证经营", "《行政处罚法》", dt.date.today(), severity="general"
        )
        service.add_record(session, entity, data, dt.date.today())
    found = client.get("/credit", params={"q": "甲"})
    assert found.status_code == 200 and CODES[0] in found.text and "乙公司" not in found.text
    page = client.get(f"/credit/{CODES[0]}")
    assert page.status_code == 200 and "张**" in page.text and "张三丰" not in page.text
    assert "行政处罚" in page.text and "一般" in page.text and "无证经营" in page.text
    english = client.get(f"/credit/{CODES[0]}", params={"lang": "en"})
    assert "Administrative penalty" in english.text
    assert client.get(f"/credit/{CODES[2]}").status_code == 404
