"""Hot issues on small hand-made cases whose right grouping and ranking are obvious, and the offline command."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chengzhi.cli import app
from chengzhi.warning import hot
from chengzhi.warning.files import MessageFileError, read_messages

T0 = dt.datetime(2024, 5, 1, 9, 0)


def message(
    number: int, title: str, detail: str = "", *, user: str = "", days: float = 0, likes: int = 0
) -> hot.Message:
    return hot.Message(
        id=str(number), title=title, detail=detail or title, time=T0 + dt.timedelta(days=days),
        user=user or f"U{number}", likes=likes,
    )  # fmt: skip


NOISE = [
    message(
        1,
        "阳光花园小区楼下烧烤店噪音扰民",
        "每天晚上阳光花园小区楼下的烧烤店营业到凌晨，噪音很大，无法入睡。",
        days=0,
    ),
    message(
        2, "投诉阳光花园小区烧烤店深夜噪音", "阳光花园小区临街烧烤店深夜吵闹，噪音扰民，请城管处理。", days=1
    ),
    message(3, "阳光花园烧烤摊噪音太大", "阳光花园小区门口的烧烤摊每晚喧哗，噪音影响休息。", days=2),
    message(4, "阳光花园小区夜间烧烤噪音严重", "夜里阳光花园小区楼下烧烤店客人大声喧哗，噪音严重。", days=2),
    message(
        5, "阳光花园小区烧烤店扰民何时能管", "阳光花园小区烧烤店噪音扰民一个月了，烧烤油烟也大。", days=3
    ),
]
LIGHTS = [
    message(11, "幸福路路灯不亮", "幸福路从东头到西头的路灯已经坏了两个星期，晚上一片漆黑。", days=5),
    message(12, "幸福路晚上路灯全黑", "幸福路的路灯晚上不亮，行人走路很危险，请修复路灯。", days=6),
    message(13, "幸福路路灯坏了没人修", "幸福路路灯坏了很久，晚上漆黑一片，请尽快维修路灯。", days=6),
]
OTHERS = [
    message(21, "咨询社保卡补办流程", "社保卡丢失了，请问在哪里补办，需要带什么材料？", days=4),
    message(22, "建议增加公交线路", "建议开通一条从火车站到大学城的公交线路，方便学生出行。", days=4),
    message(23, "医院挂号难", "市第一医院专家号很难挂，网上一放号就没了。", days=5),
]


def by_ids(issues: list[hot.Issue]) -> list[set[str]]:
    return [{m.id for m in issue.messages} for issue in issues]


def test_messages_about_one_problem_at_one_place_form_one_issue() -> None:
    issues = hot.detect(NOISE + LIGHTS + OTHERS)
    groups = by_ids(issues)
    assert {"1", "2", "3", "4", "5"} in groups
    assert {"11", "12", "13"} in groups
    # Singletons are not hot issues; the five-person issue is the hottest.
    assert len(groups) == 2
    assert groups[0] == {"1", "2", "3", "4", "5"}
    first = issues[0]
    assert "阳光花园" in first.place_or_group
    assert "烧烤" in first.description or "烧烤" in first.top_words
    assert first.time_range() == "2024/05/01 至 2024/05/04"


def test_the_same_problem_at_two_places_is_two_issues() -> None:
    other_place = [
        message(
            31,
            "青松小区楼下烧烤店噪音扰民",
            "每天晚上青松小区楼下的烧烤店营业到凌晨，噪音很大，无法入睡。",
            days=0,
        ),
        message(
            32, "投诉青松小区烧烤店深夜噪音", "青松小区临街烧烤店深夜吵闹，噪音扰民，请城管处理。", days=1
        ),
        message(33, "青松小区烧烤摊噪音太大", "青松小区门口的烧烤摊每晚喧哗，噪音影响休息。", days=2),
    ]
    groups = by_ids(hot.detect(NOISE + other_place + OTHERS))
    assert {"1", "2", "3", "4", "5"} in groups
    assert {"31", "32", "33"} in groups


def test_heat_shows_its_terms_and_follows_the_weights() -> None:
    liked = [message(int(m.id), m.title, m.detail, days=6, likes=200) for m in LIGHTS]
    issues = hot.detect(NOISE + liked + OTHERS)
    for issue in issues:
        assert set(issue.contributions) == set(hot.HEAT_TERMS)
        assert issue.heat == pytest.approx(sum(issue.contributions.values()), abs=0.01)
        assert all(0.0 <= value <= 1.0 for value in issue.scaled.values())
    # Without the likes, five people outweigh three; when likes weigh most, the much-liked lights lead.
    unliked = hot.detect(NOISE + liked + OTHERS, weights=hot.HeatWeights(likes=0.0))
    assert by_ids(unliked)[0] == {"1", "2", "3", "4", "5"}
    assert unliked[0].contributions["likes"] == 0.0
    weighted = hot.detect(NOISE + liked + OTHERS, weights=hot.HeatWeights(likes=20.0))
    assert by_ids(weighted)[0] == {"11", "12", "13"}
    assert weighted[0].contributions["likes"] > weighted[0].contributions["people"]


def test_one_person_posting_again_is_not_a_hot_issue() -> None:
    reposts = [
        message(40 + i, "幸福路路灯不亮", "幸福路的路灯坏了两个星期。", user="U40", days=i) for i in range(4)
    ]
    assert hot.detect(reposts + OTHERS) == []
    assert len(hot.detect(reposts + OTHERS, grouping=hot.GroupingSettings(min_people=1))) == 1


ENGLISH = ["message_id", "user", "title", "detail", "time", "likes", "dislikes"]
CHINESE = ["留言编号", "留言用户", "留言主题", "留言时间", "留言详情", "点赞数", "反对数"]


def _write(path: Path, header: list[str]) -> Path:
    keys = dict(
        zip(CHINESE, ["message_id", "user", "title", "time", "detail", "likes", "dislikes"], strict=True)
    )
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for m in NOISE + LIGHTS + OTHERS:
            values = {
                "message_id": m.id, "user": m.user, "title": m.title, "detail": m.detail,
                "time": f"{m.time:%Y/%m/%d %H:%M:%S}", "likes": m.likes, "dislikes": 0,
            }  # fmt: skip
            writer.writerow([values[keys.get(name, name)] for name in header])
    return path


@pytest.mark.parametrize("header", [ENGLISH, CHINESE], ids=["english", "chinese"])
def test_hot_detect_writes_the_two_tables(tmp_path: Path, header: list[str]) -> None:
    source = _write(tmp_path / "messages.csv", header)
    result = CliRunner().invoke(
        app, ["hot", "detect", str(source), "--output", str(tmp_path / "out"), "--top", "5"]
    )
    assert result.exit_code == 0, result.output
    assert "H001" in result.output and "阳光花园" in result.output
    with (tmp_path / "out" / "hot_issues.csv").open(encoding="utf-8-sig") as handle:
        issues = list(csv.DictReader(handle))
    with (tmp_path / "out" / "hot_messages.csv").open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["issue_id"] for row in issues] == ["H001", "H002"]
    assert issues[0]["time_range"] == "2024/05/01 至 2024/05/04"
    assert float(issues[0]["heat"]) >= float(issues[1]["heat"])
    assert {"term_people", "term_likes", "term_intensity", "place_or_group", "description"} <= set(issues[0])
    assert {row["message_id"] for row in rows if row["issue_rank"] == "1"} == {"1", "2", "3", "4", "5"}
    assert {row["message_id"] for row in rows if row["issue_rank"] == "2"} == {"11", "12", "13"}
    assert set(rows[0]) == {
        "issue_rank",
        "issue_id",
        "message_id",
        "user",
        "title",
        "time",
        "likes",
        "dislikes",
    }


def test_hot_detect_refuses_a_file_without_the_columns(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(MessageFileError, match="missing columns"):
        read_messages(bad)
    result = CliRunner().invoke(app, ["hot", "detect", str(bad), "--output", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "message_id" in result.output
