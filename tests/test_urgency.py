"""Urgency: the packaged word lists, negation, exceptions, a city's own file, bad text, and the emergency time
limit given at intake (both databases)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from chengzhi.cli import app as cli_app
from chengzhi.config import Settings
from chengzhi.requests import service as svc
from chengzhi.routing import urgency
from chengzhi.routing.triage_models import RequestTriage

from .conftest import Configure, auth
from .factories import City
from .steps import actor, dispatch

TERMS = urgency.load_terms()
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("3栋2单元楼道里煤气味很重，请马上来人", ["gas"]),
        ("天然气管道好像泄漏了", ["gas"]),
        ("对面楼起火了，浓烟很大", ["fire"]),
        ("工地脚手架倒塌，有人受伤", ["collapse", "injury"]),
        ("电梯困人，孩子被困在里面", ["trapped"]),
        ("路边电线断了掉在地上，有人触电", ["electric"]),
        ("小孩落水了", ["drowning"]),
        ("There is a gas leak on the third floor", ["gas"]),
        ("The old house collapsed and a man is trapped", ["collapse", "trapped"]),
        ("臺灣同胞反映：樓道著火了", ["fire"]),  # traditional characters are normalised first
        ("ＧＡＳ ＬＥＡＫ at the school", ["gas"]),  # full-width Latin letters too
    ],
)
def test_emergencies_are_found(text: str, kinds: list[str]) -> None:
    found = urgency.analyse(text, TERMS)
    assert found.urgent
    assert set(found.kinds()) == set(kinds)
    assert "紧急" in found.reason(TERMS, "zh") and "Emergency" in found.reason(TERMS, "en")


@pytest.mark.parametrize(
    "text",
    [
        "没有起火，只是有点焦味",
        "楼下电动车飞线充电，存在火灾隐患",
        "小区消防通道被堵，担心万一起火消防车进不来",
        "没有人员被困，电梯停在三楼不动",
        "家庭生活困难，咨询低保政策",
        "No one was injured.",
        "The fire exit is blocked by bikes",
        "咨询办理死亡证明需要什么材料",
        "路灯不亮，晚上很黑",
        "",
    ],
)
def test_not_emergencies(text: str) -> None:
    found = urgency.analyse(text, TERMS)
    assert not found.urgent, found.matches


def test_negated_terms_are_reported_as_ignored() -> None:
    found = urgency.analyse("没有起火", TERMS)
    assert not found.urgent and [m.text for m in found.ignored] == ["起火"]
    # A negation in an earlier clause does not reach the term.
    assert urgency.analyse("没有人管，现在起火了", TERMS).urgent


def test_bad_text_is_not_urgent_and_says_why() -> None:
    assert urgency.analyse("   ", TERMS).note == "text_empty"
    assert urgency.analyse("abc\x00\x01\x02\x03def" * 3, TERMS).note == "text_binary"
    assert urgency.analyse("ÄãºÃ£¬ÎÒ¼ÒÂ¥µÀÀïÓÐÃºÆøÎ¶", TERMS).note == "text_encoding"
    huge = "路灯不亮。" * 5000 + "楼道起火了"
    found = urgency.analyse(huge, TERMS)
    assert found.note == "truncated" and not found.urgent  # the term lies beyond what is analysed


def test_a_city_file_replaces_the_packaged_lists(tmp_path: Path) -> None:
    path = tmp_path / "terms.toml"
    path.write_text(
        '[negation]\nzh = ["没有"]\n\n[[kind]]\ncode = "flood"\nname_zh = "内涝"\nname_en = "flood"\n'
        'zh = ["水漫进屋"]\nen = ["flooded"]\n',
        encoding="utf-8",
    )
    terms = urgency.load_terms(path)
    assert urgency.analyse("暴雨后水漫进屋了", terms).kinds() == ["flood"]
    assert not urgency.analyse("楼道起火了", terms).urgent  # the packaged list no longer applies
    assert not urgency.analyse("没有水漫进屋", terms).urgent


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("not toml [[[", "not valid TOML"),
        ("version = 1\n", "at least one [[kind]]"),
        ('[[kind]]\nname_zh = "x"\n', "has no code"),
        ('[[kind]]\ncode = "x"\nzh = "起火"\n', "a list of non-empty strings"),
        ('[[kind]]\ncode = "x"\npatterns = ["(unclosed"]\n', "pattern"),
    ],
)
def test_a_broken_city_file_is_named(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(urgency.TermsFileError, match=r"broken\.toml") as error:
        urgency.load_terms(path)
    assert problem in str(error.value)
    with pytest.raises(urgency.TermsFileError, match="cannot be read"):
        urgency.load_terms(tmp_path / "missing.toml")


def test_urgent_request_gets_emergency_priority_and_time_limits(
    session: Session, settings: Settings, city: City
) -> None:
    data = svc.Submission(
        text="3栋楼道里煤气味很重，请马上派人处理",
        category_code="litter",
        lat=0.2,
        lon=0.2,
        contact_phone="13912345678",
    )
    request = svc.submit_request(session, actor(session, "resident"), data, settings, T0)
    calm = svc.submit_request(
        session,
        actor(session, "resident"),
        svc.Submission(text="路边垃圾没人清运", category_code="litter", lat=0.2, lon=0.2),
        settings,
        T0,
    )
    session.commit()
    assert request.priority == "emergency" and calm.priority == "normal"
    triage = session.get(RequestTriage, request.id)
    assert triage is not None and triage.urgent
    assert [m["kind"] for m in triage.urgency_matches] == ["gas"]
    assert session.get(RequestTriage, calm.id) is None  # nothing to record
    dispatch(session, settings, request, "D1S1C1", T0)
    dispatch(session, settings, calm, "D1S1C1", T0)
    session.commit()
    # The emergency limits (sign 30 min, reply 2 h) instead of the category's (sign 2 h, reply 7 working days).
    assert dt.datetime.fromisoformat(request.deadlines["sign"]) == T0 + dt.timedelta(minutes=30)
    assert dt.datetime.fromisoformat(request.deadlines["reply"]) == T0 + dt.timedelta(hours=2)
    assert dt.datetime.fromisoformat(calm.deadlines["sign"]) == T0 + dt.timedelta(hours=2)
    reason = svc.routing_suggestion(session, request).reason("zh")
    assert reason.startswith("紧急") and "煤气味" in reason
    assert "Emergency" in svc.routing_suggestion(session, request).reason("en")


def test_staff_priority_stands_but_a_residents_does_not(
    session: Session, settings: Settings, city: City
) -> None:
    text = "小区门口有人触电倒地"
    by_operator = svc.submit_request(
        session,
        actor(session, "operator"),
        svc.Submission(text=text, channel="phone", priority="high", lat=0.2, lon=0.2),
        settings,
        T0,
    )
    by_resident = svc.submit_request(
        session,
        actor(session, "resident"),
        svc.Submission(text=text, priority="low", lat=0.2, lon=0.2),
        settings,
        T0,
    )
    session.commit()  # the triage worker reads both
    assert by_operator.priority == "high"
    assert by_resident.priority == "emergency"


def test_a_city_file_is_used_by_the_triage_worker(
    session: Session, settings: Settings, city: City, tmp_path: Path
) -> None:
    path = tmp_path / "city.toml"
    path.write_text(
        '[[kind]]\ncode = "flood"\nname_zh = "内涝"\nname_en = "flood"\nzh = ["水漫进屋"]\n', "utf-8"
    )
    local = settings.model_copy(update={"urgency_terms_path": str(path)})
    flooded = svc.submit_request(
        session, actor(session, "resident"), svc.Submission(text="水漫进屋了", lat=0.2, lon=0.2), local, T0
    )
    session.commit()  # the triage worker reads it with the city's file
    assert flooded.priority == "emergency"


def test_api_intake_flags_and_shows_the_reason(client: TestClient, city: City) -> None:
    resident = auth(client, "resident")
    created = client.post(
        "/api/v1/requests",
        json={"text": "There is a strong smell of gas in the stairwell", "lat": 0.2, "lon": 0.2},
        headers=resident,
    )
    assert created.status_code == 201, created.text
    number = created.json()["request"]["tracking_number"]
    # The 201 comes before triage; the worker flags it right after (here: after the call's commit).
    assert created.json()["request"]["being_triaged"] is True
    shown = client.get(f"/api/v1/requests/{number}", headers=resident).json()
    assert shown["priority"] == "emergency" and shown["being_triaged"] is False
    dispatcher = auth(client, "dispatcher")
    routing = client.get(f"/api/v1/requests/{number}/routing", headers=dispatcher, params={"lang": "en"})
    assert routing.status_code == 200
    assert routing.json()["reason"].startswith("Emergency: the text says 'smell of gas'")


def test_cli_names_a_broken_city_file(configure: Configure, tmp_path: Path) -> None:
    broken = tmp_path / "city-terms.toml"
    broken.write_text("[[kind]]\nname_zh = 'x'\n", encoding="utf-8")
    configure(urgency_terms_path=broken)
    result = CliRunner().invoke(cli_app, ["triage", "analyse", "楼道起火了"])
    configure(urgency_terms_path=None)
    from_stdin = CliRunner().invoke(cli_app, ["triage", "analyse", "-"], input="楼道起火了".encode())
    assert result.exit_code == 2
    assert "city-terms.toml" in result.stderr and "has no code" in result.stderr
    assert from_stdin.exit_code == 0, from_stdin.output
    assert json.loads(from_stdin.stdout)["urgent"] is True
