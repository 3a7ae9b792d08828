"""Place from text: the gazetteer of units and learned places, patterns, the routing it gives, the reason shown,
intake keeping "located from text" apart from a map point, and bad text (both databases)."""

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
from chengzhi.requests.models import Request
from chengzhi.routing import places, rules
from chengzhi.routing.rules import area_index
from chengzhi.routing.triage_models import PlaceName, RequestTriage

from .conftest import Configure, auth
from .factories import City
from .steps import actor

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)

NAMES = {
    "D1": ("青山区", "Qingshan District"),
    "D1S1": ("松林街道", "Songlin Subdistrict"),
    "D1S1C1": ("枫桥社区", "Fengqiao Community"),
    "D1S1C2": ("桂园社区", "Guiyuan Community"),
    "D1S2": ("湖滨街道", "Hubin Subdistrict"),
    "D1S2C1": ("柳岸社区", "Liu'an Community"),
    "D1S2C2": ("荷塘社区", "Hetang Community"),
    "D2": ("金水区", "Jinshui District"),
    "D2S1": ("梅溪街道", "Meixi Subdistrict"),
    "D2S1C1": ("星河社区", "Xinghe Community"),
    "D2S1C2": ("翠竹社区", "Cuizhu Community"),
    "D2S2": ("银杏街道", "Yinxing Subdistrict"),
    "D2S2C1": ("玉泉社区", "Yuquan Community"),
    "D2S2C2": ("白鹤社区", "Baihe Community"),
}


def name_city(session: Session, city: City) -> None:
    for code, (zh, en) in NAMES.items():
        unit = session.merge(city.unit(code))
        unit.name_zh, unit.name_en = zh, en
    session.commit()
    rules.invalidate()
    places.invalidate()


@pytest.fixture
def named(session: Session, city: City) -> City:
    name_city(session, city)
    return city


def submit(session: Session, settings: Settings, text: str, **fields: object) -> Request:
    data = svc.Submission(text=text, contact_phone="13912345678", **fields)  # type: ignore[arg-type]
    channel = str(fields.get("channel", "web"))
    by = "operator" if channel in svc.STAFF_CHANNELS else "resident"
    return svc.submit_request(session, actor(session, by), data, settings, T0)


def test_unit_names_and_short_forms(session: Session, settings: Settings, named: City) -> None:
    placed = places.locate(session, "松林街道辖区内路面坑洼很多")
    assert placed.unit_id == named.unit("D1S1").id
    assert placed.located.district_id == named.unit("D1").id and placed.located.community_id is None
    assert placed.chosen is not None and placed.chosen.text == "松林街道"
    # The short form of a street's name, and a community with its street and district.
    assert places.locate(session, "梅溪这边路灯坏了").unit_id == named.unit("D2S1").id
    placed = places.locate(session, "金水区梅溪街道翠竹社区门口垃圾成堆")
    assert placed.unit_id == named.unit("D2S1C2").id
    assert "翠竹社区" in placed.reason("zh") and "Cuizhu Community" not in placed.reason("zh")
    # English names.
    assert places.locate(session, "Pothole near Songlin Subdistrict office").unit_id == named.unit("D1S1").id


def test_a_short_form_inside_another_place_name_is_not_the_unit(session: Session, named: City) -> None:
    placed = places.locate(session, "梅溪花园门口的井盖丢了")
    assert not placed.found
    assert [(m.text, m.kind) for m in placed.matches] == [("梅溪花园", "compound")]
    assert "梅溪花园" in placed.reason("zh") and "does not know" in placed.reason("en")


def test_the_most_specific_consistent_place_wins(session: Session, named: City) -> None:
    # The district agrees with the community in it; a community elsewhere named in passing loses.
    placed = places.locate(session, "青山区枫桥社区，以前住在星河社区，现在楼下垃圾没人清")
    assert placed.unit_id == named.unit("D1S1C1").id
    assert "星河社区" in placed.reason("zh")


def test_no_place(session: Session, named: City) -> None:
    placed = places.locate(session, "咨询社保缴费基数")
    assert not placed.found and placed.matches == ()
    assert placed.reason("en") == "The text names no place the platform knows."


@pytest.mark.parametrize(
    ("text", "note"),
    [("", "text_empty"), ("   ", "text_empty"), ("\x00\x01\x02\x03\x04 binary", "text_binary")],
)
def test_bad_text_is_not_placed(session: Session, named: City, text: str, note: str) -> None:
    placed = places.locate(session, text)
    assert not placed.found and placed.note == note


def test_huge_text_is_cut_not_refused(session: Session, named: City) -> None:
    placed = places.locate(session, "枫桥社区路灯不亮。" + "很黑。" * 20_000)
    assert placed.unit_id == named.unit("D1S1C1").id


def history(session: Session, settings: Settings) -> None:
    """Requests with map points that name places: 阳光花园 in 翠竹社区 (D2S1C2), 人民路 across 松林街道."""
    for text in ("我住在阳光花园，3栋楼下垃圾没人清", "阳光花园小区停车位被占", "反映阳光花园物业不作为"):
        submit(session, settings, text, lat=0.2, lon=1.7)
    for text, (lon, lat) in (
        ("人民路上有个大坑", (0.2, 0.2)),
        ("人民路的路灯坏了", (0.7, 0.2)),
        ("人民路占道经营", (0.6, 0.3)),
        ("人民路积水", (0.3, 0.1)),
    ):
        submit(session, settings, text, lat=lat, lon=lon)
    session.commit()


def test_places_are_learned_from_history(session: Session, settings: Settings, named: City) -> None:
    history(session, settings)
    assert places.rebuild_places(session) >= 2
    session.commit()
    learned = {p.name: p for p in session.query(PlaceName)}
    assert "阳光花园" in learned and "光花园" not in learned and "住在阳光花园" not in learned
    assert learned["阳光花园"].kind == "compound" and learned["阳光花园"].mentions == 3
    assert learned["阳光花园"].unit_id == named.unit("D2S1C2").id
    assert learned["人民路"].kind == "road"
    # Its mentions fall in two communities of one street: the street is what is known.
    assert learned["人民路"].unit_id == named.unit("D1S1").id
    placed = places.locate(session, "阳光花园5栋电梯坏了")
    assert placed.unit_id == named.unit("D2S1C2").id
    assert placed.lat == pytest.approx(0.2) and placed.lon == pytest.approx(1.7)
    assert "历史诉求中3次提到的小区“阳光花园”" in placed.reason("zh")
    assert "named in 3 earlier requests" in placed.reason("en")


def test_intake_locates_from_text_and_routes_by_the_rules(
    session: Session, settings: Settings, named: City
) -> None:
    history(session, settings)
    places.rebuild_places(session)
    session.commit()
    request = submit(
        session, settings, "阳光花园3栋门口垃圾堆了三天", channel="phone", category_code="litter"
    )
    session.commit()
    # The map point stays empty: the place read from the text is a fact of its own.
    assert request.lat is None and request.lon is None
    triage = session.get(RequestTriage, request.id)
    assert triage is not None and triage.place_unit_id == named.unit("D2S1C2").id
    assert triage.place_matches[0]["text"] == "阳光花园" and triage.place_matches[0]["source"] == "history"
    suggestion = svc.routing_suggestion(session, request)
    assert suggestion.unit_id == named.unit("D2S1C2").id  # litter is handled by the community
    assert suggestion.reason("zh").startswith("没有地图位置，从文字定位：“阳光花园”")
    assert "由社区办理" in suggestion.reason("zh")
    assert suggestion.reason("en").startswith("No map point; located from the text: '阳光花园'")
    # A department category goes to the district's department, found from the text's district.
    water = submit(session, settings, "金水区停水了", channel="phone", category_code="water")
    session.commit()
    assert svc.routing_suggestion(session, water).unit_id == named.unit("D2-water").id


def test_a_map_point_wins_over_the_text(session: Session, settings: Settings, named: City) -> None:
    request = submit(session, settings, "星河社区门口垃圾没人清", category_code="litter", lat=0.2, lon=0.2)
    session.commit()
    assert session.get(RequestTriage, request.id) is None
    suggestion = svc.routing_suggestion(session, request)
    assert suggestion.unit_id == named.unit("D1S1C1").id
    assert "文字定位" not in suggestion.reason("zh")


def test_unplaceable_mentions_are_shown(session: Session, settings: Settings, named: City) -> None:
    request = submit(session, settings, "幸福里小学门口路面破损", channel="phone", category_code="litter")
    session.commit()
    suggestion = svc.routing_suggestion(session, request)
    assert suggestion.unit_id is None
    assert suggestion.reason("zh").startswith("文字中提到“幸福里小学”，但无法确定其位置。")


def test_the_dispatcher_sees_the_reason_in_the_api(client: TestClient, session: Session, named: City) -> None:
    operator = auth(client, "operator")
    created = client.post(
        "/api/v1/requests",
        json={"text": "翠竹社区有人在绿地里乱扔垃圾", "channel": "phone", "category": "litter"},
        headers=operator,
    )
    assert created.status_code == 201, created.text
    body = created.json()["request"]
    assert body["lat"] is None and body["lon"] is None
    dispatcher = auth(client, "dispatcher")
    shown = client.get(f"/api/v1/requests/{body['tracking_number']}", headers=dispatcher)
    assert shown.json()["routing"]["unit"]["code"] == "D2S1C2"
    assert shown.json()["routing"]["reason"].startswith("没有地图位置，从文字定位：“翠竹社区”")
    english = client.get(f"/api/v1/requests/{body['tracking_number']}/routing?lang=en", headers=dispatcher)
    assert english.json()["reason"].startswith("No map point; located from the text: '翠竹社区'")


def test_gazetteer_follows_unit_changes(session: Session, named: City) -> None:
    assert places.locate(session, "白鹤社区").unit_id == named.unit("D2S2C2").id
    unit = session.merge(named.unit("D2S2C2"))
    unit.name_zh = "白云社区"
    session.commit()
    rules.invalidate()
    assert not places.locate(session, "白鹤社区").found
    assert places.locate(session, "白云社区").unit_id == named.unit("D2S2C2").id
    assert area_index(session).units[unit.id][2] == "白云社区"


# ---------------------------------------------------------------- the command line


@pytest.fixture
def cli(configure: Configure) -> CliRunner:
    configure()
    return CliRunner()


def test_cli_analyses_a_text(cli: CliRunner, named: City) -> None:
    result = cli.invoke(cli_app, ["triage", "analyse", "翠竹社区楼道里煤气味很重，没有起火", "--lang", "en"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["urgent"] is True and [m["kind"] for m in shown["urgency"]] == ["gas"]
    assert [m["text"] for m in shown["urgency_ignored"]] == ["起火"]
    assert shown["place"]["unit_id"] == named.unit("D2S1C2").id
    assert shown["place"]["reason"].startswith("No map point; located from the text: '翠竹社区'")


def test_cli_refuses_bad_text(cli: CliRunner, named: City, tmp_path: Path) -> None:
    binary = tmp_path / "photo.bin"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    huge = tmp_path / "huge.txt"
    huge.write_text("路灯不亮" * 6000, encoding="utf-8")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("Ä ãºÃ£¬ÎÒ¼ÒÂ¥µÀÀïÓÐÃº".encode("latin-1"))
    gbk = tmp_path / "gbk.txt"
    gbk.write_bytes("翠竹社区路灯不亮".encode("gb18030"))
    cases = [
        (["triage", "analyse", ""], "文本为空"),
        (["triage", "analyse", "   "], "The text is empty"),
        (["triage", "analyse", "--file", str(binary)], "binary data"),
        (["triage", "analyse", "--file", str(huge)], "longer than 20000 characters"),
        (["triage", "analyse", "--file", str(latin1)], "encoding is not recognised"),
        (["triage", "analyse", "--file", str(tmp_path / "missing.txt")], "cannot read the file"),
    ]
    for args, message in cases:
        result = cli.invoke(cli_app, args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr, (args, result.stderr)
    # GB18030 files are read as such.
    result = cli.invoke(cli_app, ["triage", "analyse", "--file", str(gbk)])
    assert result.exit_code == 0 and json.loads(result.stdout)["place"]["unit_id"] == named.unit("D2S1C2").id


def test_cli_rebuilds(cli: CliRunner, session: Session, settings: Settings, named: City) -> None:
    history(session, settings)
    result = cli.invoke(cli_app, ["triage", "rebuild-places"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["places"] >= 2
    result = cli.invoke(cli_app, ["triage", "rebuild-duplicates", "--batch", "3"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["requests"] == 7
