"""The text pipeline: normalisation, tokens, refusal of unusable text, the city's dictionary (both databases)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.org.models import UnitKind
from chengzhi.org.service import create_unit
from chengzhi.requests import service as svc
from chengzhi.routing import places
from chengzhi.routing import text as tp

from .factories import City
from .steps import POINTS, actor


@pytest.fixture(autouse=True)
def _no_city_words() -> None:
    tp.reset_words()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ＡＢＣ１２３，测试", "ABC123,测试"),  # full width → half width
        ("臺灣發展與軟體開發", "台湾发展与软体开发"),  # traditional → simplified
        ("我住在****小区****号楼", "我住在某小区某号楼"),  # masked spans → one 某
        ("XX路XX号", "某路某号"),
        ("电话×××××", "电话某"),
        ("XXL size", "XXL size"),  # a Latin word is not a mask
        ("  a\u3000b \t\n c  ", "a b c"),  # whitespace collapsed
        ("停水 了\u200b 三 天", "停水了三天"),  # no spaces between Chinese characters; invisible ones dropped
        ("", ""),
    ],
)
def test_normalise(raw: str, expected: str) -> None:
    assert tp.normalise(raw) == expected
    assert tp.normalise(expected) == expected  # idempotent


def test_normalise_truncates_huge_text() -> None:
    assert len(tp.normalise("垃圾" * 20_000)) == tp.MAX_CHARS


def test_tokens_chinese_and_english() -> None:
    assert tp.tokens("小区垃圾清理") == ["小区", "垃圾", "清理"]
    assert tp.tokens("Water leaks on Main Street, 2 days!") == [
        "water",
        "leaks",
        "on",
        "main",
        "street",
        "2",
        "days",
    ]
    # Mixed text, masks and punctuation: no spaces or punctuation among the tokens.
    words = tp.tokens("****路口 traffic light 坏了！！")
    assert "traffic" in words and "light" in words and "坏" in "".join(words)
    assert all(w.strip() and w not in "!！,，" for w in words)
    assert tp.tokens("") == []


def test_user_words_keep_names_whole() -> None:
    assert "幸福里社区" not in tp.tokens("幸福里社区门口堆满垃圾")
    assert tp.add_words(["幸福里社区", "幸福里社区"]) == 1
    assert "幸福里社区" in tp.tokens("幸福里社区门口堆满垃圾")
    assert tp.user_words() == ["幸福里社区"]
    tp.reset_words()
    assert "幸福里社区" not in tp.tokens("幸福里社区门口堆满垃圾")


def test_check_refuses_unusable_text() -> None:
    with pytest.raises(tp.EmptyText):
        tp.check("   \u3000 ")
    with pytest.raises(tp.EmptyText):
        tp.check("****")
    with pytest.raises(tp.EmptyText):
        tp.check(None)
    with pytest.raises(tp.TextTooLong) as too_long:
        tp.check("字" * (tp.MAX_CHARS + 1))
    assert "20000" in too_long.value.message("en") and "20000" in too_long.value.message("zh")
    assert len(tp.check("字" * (tp.MAX_CHARS + 5), truncate=True)) == tp.MAX_CHARS
    with pytest.raises(tp.BinaryText):
        tp.check(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(tp.BinaryText):
        tp.check("abc\x01\x02\x03\x04\x05def")
    with pytest.raises(tp.BadEncoding):
        tp.check("路灯不亮了".encode().decode("latin-1"))  # UTF-8 read as Latin-1
    with pytest.raises(tp.BadEncoding):
        tp.check("\ud800abc")  # a lone surrogate (undecodable bytes)
    with pytest.raises(tp.BadEncoding):
        tp.decode(b"\xff\xfe\x00\xd8")  # broken UTF-16


def test_errors_have_messages_in_both_languages() -> None:
    for error in (tp.EmptyText(), tp.TextTooLong(), tp.BinaryText(), tp.BadEncoding()):
        assert isinstance(error, ValueError)
        assert error.message("zh") != error.message("en")
        assert error.code.startswith("text_")


def test_decode_utf8_gb18030_utf16() -> None:
    assert tp.decode("路灯不亮".encode()) == "路灯不亮"
    assert tp.decode("\ufeff路灯不亮".encode()) == "路灯不亮"
    assert tp.decode("路灯不亮".encode("gb18030")) == "路灯不亮"
    assert tp.decode("路灯不亮".encode("utf-16")) == "路灯不亮"


def test_names_and_roads() -> None:
    assert tp.name_variants("朝阳街道") == {"朝阳街道", "朝阳"}
    assert tp.name_variants("和平社区居委会") == {"和平社区居委会", "和平社区"}
    assert tp.road_names("北京市海淀区中关村大街27号") == {"中关村大街"}
    assert tp.road_names("人民路与解放大道交叉口") == {"人民路", "解放大道"}
    assert tp.road_names("门口") == set()


def test_city_dictionary(session: Session, settings: Settings, city: City) -> None:
    street = create_unit(
        session,
        code="CY",
        name_zh="朝阳街道",
        name_en="Chaoyang",
        kind=UnitKind.street,
        parent=city.unit("D1"),
    )
    lon, lat = POINTS["D1S1C1"]
    data = svc.Submission(text="路灯不亮", lat=lat, lon=lon, address="建国路88号", category_code="litter")
    svc.submit_request(session, actor(session, "resident"), data, settings, dt.datetime.now(dt.UTC))
    session.commit()
    dictionary = places.load_city_dictionary(session)
    assert street.id in dictionary.units["朝阳街道"] and street.id in dictionary.units["朝阳"]
    assert "建国路" in dictionary.roads
    assert {"朝阳街道", "建国路"} <= dictionary.words()
    assert "朝阳街道" in tp.tokens("朝阳街道建国路有人乱扔垃圾")
    assert "建国路" in tp.tokens("朝阳街道建国路有人乱扔垃圾")
