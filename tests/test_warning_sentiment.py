"""Sentiment and message type: the model on hand-made texts whose labels are obvious, the training file's errors,
the saved file, the triage worker's step and the heat index's negativity term (both databases), and the
cross-validated scores on the real MSGABench file (slow; skipped without ../shared/data)."""

from __future__ import annotations

import csv
import datetime as dt
import itertools
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from chengzhi.cli import app
from chengzhi.config import Settings
from chengzhi.db import utcnow
from chengzhi.requests.models import Request
from chengzhi.warning import labels, live, sentiment, service
from chengzhi.warning.models import HotIssueMember, TextLabel

from .factories import City
from .steps import actor
from .test_pages_staff import sign_in
from .test_warning_live import _submit_all

PLACES = ["青松花园", "幸福路", "东门菜市场", "阳光小学", "滨河公园", "人民医院", "南湖小区", "新华街"]
ANGRY = [
    "{p}的问题投诉了无数次没人管，太气人了，忍无可忍，简直是不作为！",
    "{p}天天这样扰民，我们愤怒到极点，相关部门到底管不管，太过分了！",
    "受够了{p}这种乱象，投诉多次石沉大海，气愤至极，必须严肃追责！",
]
CALM = [
    "请问{p}附近的办事时间是几点到几点，想了解一下办理流程。",
    "想咨询一下{p}的开放时间，需要带哪些材料，谢谢。",
    "您好，请问{p}周边的公交线路有哪些，想了解一下。",
]
SUGGEST = [
    "建议在{p}增设几个休息座椅和垃圾桶，方便老人和孩子。",
    "建议{p}周边增加绿化和自行车停放点，提升环境。",
]


def corpus() -> list[sentiment.Example]:
    found = []
    for place, angry in itertools.product(PLACES, ANGRY):
        found.append(sentiment.Example(angry.format(p=place), "negative", "complaint"))
    for place, calm in itertools.product(PLACES, CALM):
        found.append(sentiment.Example(calm.format(p=place), "neutral", "consultation"))
    for place, suggest in itertools.product(PLACES, SUGGEST):
        found.append(sentiment.Example(suggest.format(p=place), "neutral", "suggestion"))
    return found


@pytest.fixture(scope="module")
def model() -> sentiment.TextModel:
    return sentiment.train(corpus(), now=dt.datetime(2026, 12, 7, tzinfo=dt.UTC))


def test_obvious_texts_get_their_labels(model: sentiment.TextModel) -> None:
    angry, calm, suggest = sentiment.label(
        model,
        [
            "光明路垃圾堆了一个月投诉无数次没人管，太气人了，简直是不作为！",
            "请问光明路社区服务中心几点开门，想了解一下办理流程。",
            "建议在光明路增设垃圾桶和休息座椅，方便居民。",
        ],
    )
    assert (angry.sentiment, angry.type) == ("negative", "complaint")
    assert (calm.sentiment, calm.type) == ("neutral", "consultation")
    assert (suggest.sentiment, suggest.type) == ("neutral", "suggestion")
    assert angry.negativity > 0.5 > calm.negativity
    assert model.version.startswith("2026-12-07-")


def test_cross_validation_scores_the_model_and_the_baselines_on_the_same_folds() -> None:
    scores = sentiment.cross_validate(corpus(), "type", folds=3)
    assert scores.examples == 64 and scores.folds == 3
    assert scores.classes == {"complaint": 24, "consultation": 24, "suggestion": 16}
    # The majority class (complaint or consultation: 24 of 64) scores 3/8 ÷ ... well below the model.
    assert scores.majority[0] < 0.3
    assert scores.model[0] > 0.9
    assert set(scores.per_class) == {"complaint", "consultation", "suggestion"}
    with pytest.raises(sentiment.TextModelError, match="two classes"):
        sentiment.cross_validate([e for e in corpus() if e.type == "complaint"], "type", folds=3)


def test_the_training_file_is_checked(tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text(
        "text,sentiment,type\n太气人了,愤怒,投诉/求助\n请问几点开门,中性,咨询\n,中性,咨询\n", "utf-8-sig"
    )
    assert sentiment.read_examples(good) == [
        sentiment.Example("太气人了", "negative", "complaint"),
        sentiment.Example("请问几点开门", "neutral", "consultation"),
    ]
    bad = tmp_path / "bad.csv"
    bad.write_text("text,sentiment\n太气人了,愤怒\n请问,开心极了\n", "utf-8")
    with pytest.raises(sentiment.TextModelError, match=r"row 3: unknown sentiment '开心极了'"):
        sentiment.read_examples(bad)
    columns = tmp_path / "columns.csv"
    columns.write_text("text,label\n太气人了,x\n", "utf-8")
    with pytest.raises(sentiment.TextModelError, match="'sentiment' or a 'type' column"):
        sentiment.read_examples(columns)
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes("text,sentiment\n太气人了,愤怒\n".encode("gb18030"))
    with pytest.raises(sentiment.TextModelError, match="not UTF-8"):
        sentiment.read_examples(gbk)


def test_a_saved_model_reads_back_and_other_files_are_refused(
    model: sentiment.TextModel, tmp_path: Path
) -> None:
    path = tmp_path / "m" / "text.model"
    sentiment.save(model, path)
    again = sentiment.load(path)
    text = ["光明路垃圾堆了一个月投诉无数次没人管，太气人了！"]
    assert sentiment.label(again, text) == sentiment.label(model, text)
    other = tmp_path / "other.model"
    other.write_bytes(b"\x80\x04not a model")
    with pytest.raises(sentiment.TextModelError, match="not a text model"):
        sentiment.load(other)


def test_the_train_command_reports_scores_and_saves(tmp_path: Path, configure: object) -> None:
    file = tmp_path / "train.csv"
    rows = ["text,sentiment,type"] + [f"{e.text},{e.sentiment},{e.type}" for e in corpus()]
    file.write_text("\n".join(rows), "utf-8")
    target = tmp_path / "out.model"
    result = CliRunner().invoke(
        app, ["hot", "train-text", str(file), "--folds", "3", "--output", str(target)]
    )
    assert result.exit_code == 0, result.output
    assert "sentiment: macro-F1" in result.output and "naive Bayes baseline" in result.output
    assert sentiment.load(target).examples == 64
    assert '"baseline_macro_f1"' in target.with_suffix(".json").read_text()
    missing = CliRunner().invoke(app, ["hot", "train-text", str(tmp_path / "none.csv")])
    assert missing.exit_code == 2 and "cannot read" in missing.output


def test_the_worker_labels_new_requests_and_negativity_heats_issues(
    session: Session, settings: Settings, city: City, model: sentiment.TextModel, tmp_path: Path
) -> None:
    path = tmp_path / "text.model"
    sentiment.save(model, path)
    with_model = settings.model_copy(update={"warning_text_model": str(path)})
    noise, lights = _submit_all(session, with_model)
    found = dict(session.execute(select(TextLabel.request_id, TextLabel.sentiment)).all())
    assert set(found) == set(noise + lights)
    assert {r.model_version for r in session.scalars(select(TextLabel))} == {model.version}
    # Idempotent: the step run again over the same requests writes nothing more.
    again = [session.get(Request, i) for i in noise + lights]
    labels.label_requests(session, with_model, [r for r in again if r is not None], utcnow())
    session.commit()
    assert session.scalar(select(func.count()).select_from(TextLabel)) == len(noise + lights)
    unit = city.units["city"]
    views = service.hot_issues(session, with_model, unit, utcnow())
    assert views and all(v.terms["negativity"] > 0 for v in views)
    assert all(v.contributions["negativity"] > 0 for v in views)


def test_the_issue_page_counts_sentiments_and_types(
    session: Session,
    settings: Settings,
    city: City,
    model: sentiment.TextModel,
    tmp_path: Path,
    client: TestClient,
) -> None:
    path = tmp_path / "page.model"
    sentiment.save(model, path)
    with_model = settings.model_copy(update={"warning_text_model": str(path)})
    noise, _lights = _submit_all(session, with_model)
    issue = session.scalar(select(HotIssueMember.issue_id).where(HotIssueMember.request_id == noise[0]))
    found = {
        label.sentiment for label in session.scalars(select(TextLabel).where(TextLabel.request_id.in_(noise)))
    }
    sign_in(client, "leader")
    page = client.get(f"/dashboard/hot/{issue}")
    assert page.status_code == 200
    assert "情绪" in page.text and "诉求类型" in page.text
    expected = {"negative": "负面", "neutral": "中性"}
    assert all(f"{expected[s]} " in page.text for s in found)


def test_without_a_model_nothing_is_labelled_and_negativity_is_zero(
    session: Session, settings: Settings, city: City, tmp_path: Path
) -> None:
    without = settings.model_copy(update={"warning_text_model": str(tmp_path / "absent.model")})
    _submit_all(session, without)
    assert session.scalars(select(TextLabel)).first() is None
    views = service.hot_issues(session, without, city.units["city"], utcnow())
    assert views and all(v.contributions["negativity"] == 0 for v in views)
    with pytest.raises(sentiment.TextModelError, match="no text model"):
        labels.label_backlog(session, without, utcnow())


def test_the_backlog_is_labelled_once(
    session: Session, settings: Settings, city: City, model: sentiment.TextModel, tmp_path: Path
) -> None:
    without = settings.model_copy(update={"warning_text_model": str(tmp_path / "later.model")})
    noise, lights = _submit_all(session, without)
    sentiment.save(model, tmp_path / "later.model")
    first = labels.label_backlog(session, without, utcnow())
    again = labels.label_backlog(session, without, utcnow())
    assert first == {"requests": 5, "labelled": 5} and again == {"requests": 5, "labelled": 0}
    counts = labels.label_counts(session, noise + lights)
    assert sum(counts["sentiment"].values()) == 5
    assert actor(session, "operator") is not None


REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "msga-messages" / "train.csv"


@pytest.mark.slow
@pytest.mark.skipif(not REAL.exists(), reason="../shared/data/msga-messages is not on this machine")
def test_on_the_real_file_the_model_beats_the_baseline_under_the_same_folds() -> None:
    examples = sentiment.read_examples(REAL)
    # A stratified third, three folds: the full five-fold run is the benchmark (benchmarks/warning_text.py).
    chosen = examples[::3]
    for target, floor in (("sentiment", 0.85), ("type", 0.65)):
        scores = sentiment.cross_validate(chosen, target, folds=3)
        assert scores.model[0] > scores.baseline[0] > scores.majority[0]
        assert scores.model[0] > floor


def test_hot_detect_reads_negativity_only_from_the_model_given(
    model: sentiment.TextModel, tmp_path: Path, configure: object
) -> None:
    rows = ["message_id,user,title,detail,time,likes,dislikes"]
    for k in range(4):
        rows.append(
            f"{k},U{k},青松花园小区烧烤噪音扰民,青松花园小区楼下烧烤店每晚噪音扰民投诉无数次没人管太气人了,2019/07/0{k + 1} 10:00:00,{k},0"
        )
    file = tmp_path / "messages.csv"
    file.write_text("\n".join(rows), "utf-8")
    path = tmp_path / "text.model"
    sentiment.save(model, path)

    def negativity(*extra: str) -> float:
        out = tmp_path / f"out{len(extra)}"
        result = CliRunner().invoke(app, ["hot", "detect", str(file), "--output", str(out), *extra])
        assert result.exit_code == 0, result.output
        with (out / "hot_issues.csv").open(encoding="utf-8-sig") as handle:
            (row,) = list(csv.DictReader(handle))
        return float(row["term_negativity"])

    assert negativity() == 0.0
    assert negativity("--text-model", str(path)) > 0.0
    broken = CliRunner().invoke(
        app, ["hot", "detect", str(file), "--output", str(tmp_path / "x"), "--text-model", str(file)]
    )
    assert broken.exit_code == 2 and "not a text model" in broken.output


def test_memberships_carry_the_labels_negativity_whatever_comes_first(
    session: Session, settings: Settings, city: City, model: sentiment.TextModel, tmp_path: Path
) -> None:
    """The heat index reads the negativity from the hot-issue memberships: the worker places a request before it
    labels it, the label reaches the membership; a request labelled before it is placed, and the nightly
    recomputation, keep it too."""
    path = tmp_path / "members.model"
    sentiment.save(model, path)
    with_model = settings.model_copy(update={"warning_text_model": str(path)})
    noise, lights = _submit_all(session, with_model)
    labelled = dict(session.execute(select(TextLabel.request_id, TextLabel.negativity)).all())

    def members() -> dict[int, float | None]:
        return dict(session.execute(select(HotIssueMember.request_id, HotIssueMember.negativity)).all())

    assert members() == labelled and len(labelled) == len(noise + lights)
    assert len(set(labelled.values())) > 1  # not one value for all
    # Labelled first, placed after.
    session.execute(delete(HotIssueMember).where(HotIssueMember.request_id == lights[0]))
    request = session.get(Request, lights[0])
    assert request is not None
    live.place_requests(session, with_model, [request], utcnow())
    session.commit()
    assert members() == labelled
    live.recompute(session, with_model, utcnow())
    session.commit()
    assert members() == labelled
