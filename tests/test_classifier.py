"""The category classifier: training, figures, persistence, the command line (with its refusals), the registry
and corrections on both databases. Small generated data, the real pipeline (jieba, OpenCC, scikit-learn)."""

from __future__ import annotations

import copy
import csv
import datetime as dt
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from chengzhi.cli import app
from chengzhi.config import Settings
from chengzhi.requests import service as svc
from chengzhi.requests.models import Request
from chengzhi.routing import category_model, classifier, classifier_training, registry
from chengzhi.routing import text as textpipe
from chengzhi.routing.classifier_features import ClassifierConfig, ClassifierError
from chengzhi.routing.classifier_models import CategoryCorrection, ClassifierActivation
from chengzhi.routing.classifier_training import TrainingData

from .factories import City
from .patience import START_SECONDS
from .steps import POINTS, actor, unit_id

PLACES = ["幸福小区", "建国路", "人民公园", "和平街道", "阳光花园", "光明村", "东风路", "新华小区"]
EXTRAS = ["请尽快处理", "影响居民生活", "希望有关部门解决", "已经反映多次", "谢谢", ""]
TOPICS = {
    "litter": ["垃圾{n}天没人清理", "有人乱扔垃圾", "垃圾桶满了臭味很大", "垃圾站污水横流"],
    "road": ["路面坑洼不平", "道路破损严重", "井盖丢失很危险", "路面塌陷了一个大坑"],
    "water": ["停水{n}天了", "自来水发黄有异味", "水管爆裂到处是水", "水压太低用不了水"],
}


def examples(per_class: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows = []
    for label, phrases in TOPICS.items():
        for _ in range(per_class):
            phrase = rng.choice(phrases).format(n=rng.randint(2, 9))
            rows.append((f"{rng.choice(PLACES)}{phrase}，{rng.choice(EXTRAS)}", label))
    rng.shuffle(rows)
    return rows


def write_csv(path: Path, rows: list[tuple[str, str]], header: tuple[str, str] = ("content", "cat")) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([header[0], "other", header[1]])
        for text, label in rows:
            writer.writerow([text, "x", label])
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("model")
    data = write_csv(directory / "train.csv", examples(15, seed=1))
    result = CliRunner().invoke(
        app,
        [
            "model", "train", "--input", str(data), "--text-column", "content", "--label-column", "cat",
            "--output", str(directory / "m"),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["labels"] == ["litter", "road", "water"]
    assert summary["data"]["rows"] == 45
    return directory / "m"


@pytest.fixture(autouse=True)
def _fresh() -> None:
    classifier.forget_active()


# --- the model --------------------------------------------------------------------------------------------------


def test_training_writes_model_and_metadata(trained: Path) -> None:
    meta = json.loads((trained / "model.json").read_text(encoding="utf-8"))
    assert meta["labels"] == ["litter", "road", "water"]
    assert len(meta["data"]["sha256"]) == 64 and meta["data"]["rows"] == 45 and meta["data"]["bytes"] > 0
    assert meta["config"]["target_precision"] == 0.97
    held = meta["metrics"]["held_out"]
    assert held["rows"] == 45 and 0 <= held["macro_f1"] <= 1
    assert set(meta["thresholds"]) == {"litter", "road", "water"}
    assert meta["model_sha256"] and meta["model_bytes"] == (trained / "model.joblib").stat().st_size


def test_same_data_same_hash() -> None:
    a = TrainingData(texts=["停水", "垃圾"], labels=["water", "litter"])
    b = TrainingData(texts=["停水", "垃圾"], labels=["water", "litter"])
    c = TrainingData(texts=["停水", "垃圾"], labels=["litter", "water"])
    assert a.digest() == b.digest() != c.digest()


def test_suggestions_are_top3_with_probabilities(trained: Path) -> None:
    model = category_model.load(trained)
    (suggestion,) = model.suggest(["和平街道停水三天了，请尽快处理"])
    assert suggestion.top[0].label == "water"
    assert len(suggestion.top) == 3 and {p.label for p in suggestion.top} == {"litter", "road", "water"}
    assert all(0 <= p.probability <= 1 for p in suggestion.top)
    assert sum(p.probability for p in suggestion.top) == pytest.approx(1.0, abs=1e-6)
    assert model.predict(["道路破损严重", "垃圾桶满了"]) == ["road", "litter"]
    assert model.suggest([]) == []
    # Traditional characters and full-width text reach the same answer.
    assert model.predict(["建國路路面坍塌了一個大坑"]) == ["road"]


def test_two_classes() -> None:
    rows = [(t, label) for t, label in examples(12, seed=9) if label != "road"]
    model = classifier_training.train(
        TrainingData(texts=[t for t, _ in rows], labels=[label for _, label in rows]),
        ClassifierConfig(folds=3),
    )
    assert model.labels == ["litter", "water"]
    assert model.predict(["水管爆裂到处是水", "有人乱扔垃圾"]) == ["water", "litter"]
    assert len(model.suggest(["停水了"])[0].top) == 2


def test_texts_unlike_the_training_data_are_never_automatic() -> None:
    """The stacker sees z-scored base scores, where a weak lead can look strong: a text sharing almost nothing
    with the training data got 0.99 for "road" from this model. Automatic dispatch also needs the SVM's claim."""
    rows = examples(40, seed=1)
    model = classifier_training.train(
        TrainingData(texts=[t for t, _ in rows], labels=[label for _, label in rows])
    )
    stranger = "你好，我想咨询一件事情"
    prob, svm = model._probabilities([stranger])
    _ranked, unguarded = model.decide(prob)
    assert bool(unguarded[0])  # what the probability threshold alone would have done
    (suggestion,) = model.suggest([stranger])
    assert not suggestion.auto and suggestion.top[0].probability > 0.9
    # The SVM claims it for no category as strongly as it claimed the sure ones at training.
    assert svm.max() < model.svm_floor <= 0
    # Texts like the training data are still dispatched automatically.
    sure = model.suggest(["幸福小区停水3天了，请尽快处理", "路面坑洼不平"])
    assert [s.top[0].label for s in sure] == ["water", "road"] and all(s.auto for s in sure)


def test_evaluate_on_unseen_data(trained: Path) -> None:
    model = category_model.load(trained)
    rows = examples(6, seed=2)
    result = classifier_training.evaluate(model, [t for t, _ in rows], [label for _, label in rows])
    assert result["macro_f1"] >= 0.9 and result["accuracy"] >= 0.9
    assert result["confusion_matrix"]["labels"] == ["litter", "road", "water"]
    assert np.array(result["confusion_matrix"]["matrix"]).sum() == 18
    assert set(result["per_class"]["water"]) == {"precision", "recall", "f1", "support"}
    assert 0 <= result["auto_dispatch"]["share"] <= 1
    assert result["predict_ms_per_message"] > 0


def test_thresholds_keep_target_precision() -> None:
    # Class 0: the top 10 by probability are right, then wrong ones mix in; class 1: never precise enough.
    prob = np.array([0.99, 0.98, 0.97, 0.96, 0.95, 0.94, 0.93, 0.92, 0.91, 0.90, 0.80, 0.70, 0.60, 0.5, 0.4])
    top = np.array([0] * 10 + [0] * 2 + [1] * 3)
    truth = np.array([0] * 10 + [1] * 2 + [0] * 3)
    thresholds = classifier_training._thresholds(top, prob, truth, 2, 0.97)
    assert thresholds[0] == pytest.approx(0.90)
    assert thresholds[1] > 1  # never automatic
    # Fewer than 5 held-out first choices: never automatic, however precise.
    assert (
        classifier_training._thresholds(np.array([0, 0]), np.array([0.9, 0.9]), np.array([0, 0]), 1, 0.97)[0]
        > 1
    )


def test_offsets_raise_macro_f1_without_losing_much_accuracy() -> None:
    rng = np.random.default_rng(0)
    y = np.array([0] * 90 + [1] * 10)
    # The rare class is under-scored: a plain arg-max never picks it.
    log_p = np.log(np.column_stack([np.full(100, 0.6), np.full(100, 0.4)]))
    log_p[90:, 1] += 0.3 + rng.random(10) * 0.1
    offsets = classifier_training._tune_offsets(log_p, y, max_accuracy_loss=0.05)
    before = classifier_training._macro_f1_acc(y, log_p.argmax(1), 2)
    after = classifier_training._macro_f1_acc(y, (log_p + offsets).argmax(1), 2)
    assert after[0] > before[0] and after[1] >= before[1] - 0.05
    assert not classifier_training._tune_offsets(log_p, y, max_accuracy_loss=0).any()


def test_prior_power_raises_macro_f1_within_the_accuracy_bound() -> None:
    rng = np.random.default_rng(1)
    y = np.array([0] * 80 + [1] * 15 + [2] * 5)
    # Scores that favour the frequent class: the rare ones are mostly missed, and pushing them costs accuracy.
    log_p = np.log(np.full((100, 3), [0.6, 0.25, 0.15]))
    log_p[:80, 1] += rng.random(80) * 1.2
    log_p[80:95, 1] += 0.6 + rng.random(15) * 0.5
    log_p[95:, 2] += 1.0 + rng.random(5) * 0.5
    offsets, alpha = classifier_training._prior_offsets(log_p, y, max_accuracy_loss=0.05)
    before = classifier_training._macro_f1_acc(y, log_p.argmax(1), 3)
    after = classifier_training._macro_f1_acc(y, (log_p + offsets).argmax(1), 3)
    assert 0 < alpha <= 1 and after[0] > before[0] and after[1] >= before[1] - 0.05
    prior = np.bincount(y) / len(y)
    assert offsets == pytest.approx(-alpha * np.log(prior))
    # A wider accuracy bound lets α go further; an absolute floor above what any α > 0 keeps: no offsets.
    assert classifier_training._prior_offsets(log_p, y, max_accuracy_loss=0.1)[1] > alpha
    offsets, alpha = classifier_training._prior_offsets(log_p, y, max_accuracy_loss=0.05, floor=0.58)
    assert alpha == 0 and not offsets.any()
    # Fine offsets start from the prior's and keep the floor.
    start = -0.1 * np.log(prior)
    fine = classifier_training._tune_offsets(log_p, y, 0.02, start=start, floor=0.56)
    assert classifier_training._macro_f1_acc(y, (log_p + fine).argmax(1), 3)[1] >= 0.56


def test_fast_features_match_scikit_learn(trained: Path) -> None:
    model = category_model.load(trained)
    texts = [
        textpipe.normalise(t)
        for t in ["和平街道停水三天了，请尽快处理", "Road  BROKEN near 建国路 No. 5", "", "垃圾", "xyz"]
    ]
    features = model.features
    assert features.head is not None
    heads = [t[: features.head_chars] for t in texts]
    expected = sp.hstack(
        [
            features.chars.transform(texts),
            features.words.transform(texts),
            features.head.transform(heads) * features.head_weight,
        ],
        format="csr",
    )
    got = features.transform(texts)
    assert got.shape == expected.shape
    assert abs(got - expected).max() < 1e-6
    scores = model.base.scores(got)
    assert category_model._stack_proba(model.stacker, scores) == pytest.approx(
        model.stacker.predict_proba(scores), abs=1e-9
    )
    # A model pickled before the fast path (no `_fast` attribute) still transforms; one pickled before the head
    # block (no `head` either) gives the two blocks it had.
    del features._fast
    assert abs(features.transform(texts) - expected).max() < 1e-6
    old = copy.copy(features)
    del old._fast, old.head, old.head_chars, old.head_weight, old.max_chars
    two = sp.hstack([features.chars.transform(texts), features.words.transform(texts)], format="csr")
    assert abs(old.transform(texts) - two).max() < 1e-6
    # Only the first `max_chars` characters are read.
    long = texts[0] * 200
    assert len(long) > features.max_chars > 0
    assert abs(features.transform([long]) - features.transform([long[: features.max_chars]])).max() == 0


def test_self_training_uses_unlabelled_texts() -> None:
    rows = examples(8, seed=5)
    unlabelled = [t for t, _ in examples(10, seed=6)]
    model = classifier_training.train(
        TrainingData(texts=[t for t, _ in rows], labels=[label for _, label in rows]),
        ClassifierConfig(folds=3, pseudo_share=0.5),
        unlabelled=[*unlabelled, "", "\x00\x01\x02\x03"],
    )
    assert model.meta["data"]["unlabelled_rows"] == len(unlabelled)
    assert model.predict(["水管爆裂到处是水", "有人乱扔垃圾"]) == ["water", "litter"]


def test_damaged_or_missing_model_is_refused(trained: Path, tmp_path: Path) -> None:
    with pytest.raises(ClassifierError, match="not a model directory"):
        category_model.load(tmp_path)
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "model.json").write_bytes((trained / "model.json").read_bytes())
    (copy / "model.joblib").write_bytes((trained / "model.joblib").read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ClassifierError, match="does not match the hash"):
        category_model.load(copy)


def test_training_refusals() -> None:
    config = ClassifierConfig()
    with pytest.raises(ClassifierError, match="only one class"):
        classifier_training.train(TrainingData(texts=["停水"] * 10, labels=["water"] * 10), config)
    with pytest.raises(ClassifierError, match=r"fewer than 5 examples: 'road' \(2\)"):
        classifier_training.train(
            TrainingData(texts=["停水"] * 10 + ["路坏了"] * 2, labels=["water"] * 10 + ["road"] * 2), config
        )
    with pytest.raises(ClassifierError, match="no training rows"):
        classifier_training.train(
            TrainingData(texts=["", "  ", "\x00\x01\x02\x03"], labels=["a", "b", "c"]), config
        )


# --- the command line ------------------------------------------------------------------------------------------


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["model", *args])
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_cli_evaluate_prints_one_json_object(trained: Path, tmp_path: Path) -> None:
    data = write_csv(tmp_path / "test.csv", examples(5, seed=3))
    code, output = run(
        "evaluate",
        "--model",
        str(trained),
        "--input",
        str(data),
        "--text-column",
        "content",
        "--label-column",
        "cat",
    )
    assert code == 0, output
    result = json.loads(output)
    assert {"macro_f1", "accuracy", "per_class", "confusion_matrix"} <= set(result)
    assert result["rows"] == 15


def test_cli_predict_prints_top3(trained: Path) -> None:
    code, output = run("predict", "--model", str(trained), "幸福小区垃圾三天没人清理")
    assert code == 0, output
    lines = output.strip().splitlines()
    assert lines[0].startswith("1. litter\t")
    assert [line.split(".")[0] for line in lines[:3]] == ["1", "2", "3"]
    assert all(0 <= float(line.split("\t")[1]) <= 1 for line in lines[:3])
    assert lines[3] in ("auto-dispatch", "a person confirms")
    code, output = run("predict", "--model", str(trained), "--json", "道路破损")
    assert code == 0 and json.loads(output)["top"][0]["label"] == "road"


def test_cli_train_from_xlsx(tmp_path: Path) -> None:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["诉求内容", "类别"])
    for text, label in examples(6, seed=4):
        sheet.append([text, label])
    workbook.save(tmp_path / "train.xlsx")
    code, output = run(
        "train", "--input", str(tmp_path / "train.xlsx"), "--text-column", "诉求内容", "--label-column", "类别",
        "--output", str(tmp_path / "m"), "--folds", "3",
    )  # fmt: skip
    assert code == 0, output
    assert category_model.load(tmp_path / "m").labels == ["litter", "road", "water"]


@pytest.mark.parametrize(
    ("rows", "columns", "message"),
    [
        (
            examples(6, 5),
            ("content", "nope"),
            "missing column(s) 'nope'; the file has 'content', 'other', 'cat'",
        ),
        (
            [(f"停水{i}天", "water") for i in range(10)],
            ("content", "cat"),
            "only one class in the labels ('water')",
        ),
        (
            [*examples(6, 6), ("井盖丢了", "manhole"), ("井盖又丢了", "manhole")],
            ("content", "cat"),
            "labels with fewer than 5 examples: 'manhole' (2)",
        ),
    ],
)
def test_cli_train_refuses_bad_files(
    tmp_path: Path, rows: list[tuple[str, str]], columns: tuple[str, str], message: str
) -> None:
    data = write_csv(tmp_path / "train.csv", rows)
    code, output = run(
        "train", "--input", str(data), "--text-column", columns[0], "--label-column", columns[1],
        "--output", str(tmp_path / "m"),
    )  # fmt: skip
    assert code == 2
    assert message in " ".join(output.split())
    assert not (tmp_path / "m").exists()


def test_cli_other_refusals(trained: Path, tmp_path: Path) -> None:
    code, output = run("train", "--input", str(tmp_path / "absent.csv"), "--output", str(tmp_path / "m"))
    assert code == 2 and "no such file" in output
    (tmp_path / "data.json").write_text("{}", encoding="utf-8")
    code, output = run("train", "--input", str(tmp_path / "data.json"), "--output", str(tmp_path / "m"))
    assert code == 2 and "unsupported file type" in output
    (tmp_path / "bad.xlsx").write_bytes(b"not a zip")
    code, output = run("train", "--input", str(tmp_path / "bad.xlsx"), "--output", str(tmp_path / "m"))
    assert code == 2 and "not a readable XLSX file" in output
    (tmp_path / "binary.csv").write_bytes(b"text,label\n\x00\x01\x02")
    code, output = run("train", "--input", str(tmp_path / "binary.csv"), "--output", str(tmp_path / "m"))
    assert code == 2 and "binary" in output
    code, output = run("train", "--output", str(tmp_path / "m"))
    assert code == 2 and "--input FILE" in output
    code, output = run("evaluate", "--model", str(tmp_path), "--input", str(tmp_path / "absent.csv"))
    assert code == 2 and "not a model directory" in output
    code, output = run("predict", "--model", str(trained), "   ")
    assert code == 2 and "empty" in output
    code, output = run("predict", "--model", str(trained), "x\x01\x02\x03\x04\x05")
    assert code == 2 and "binary" in output
    code, output = run("train", "--input", str(tmp_path / "absent.csv"), "--target-precision", "1.5")
    assert code == 2 and "--target-precision" in output


@pytest.mark.slow
def test_cli_as_a_subprocess(trained: Path) -> None:
    """The console command itself: quiet (no jieba log, no warnings), exit 0, top 3 on stdout."""
    command = Path(sys.executable).parent / "chengzhi"
    done = subprocess.run(
        [str(command), "model", "predict", "--model", str(trained), "井盖丢失"],
        env={**os.environ, "PYTHONWARNINGS": "error"},
        capture_output=True,
        text=True,
        timeout=START_SECONDS,  # the command imports the application first: slow on a starved CPU
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("1. road\t")
    assert done.stderr == ""


# --- the registry and corrections (both databases) -------------------------------------------------------------


@pytest.fixture
def model_settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"model_dir": tmp_path / "models"})


def test_registry_activate_and_roll_back(session: Session, model_settings: Settings, trained: Path) -> None:
    assert classifier.predict_top3("停水了", session, model_settings) == []
    one = registry.register_directory(session, trained, settings=model_settings, note="first")
    two = registry.register_directory(session, trained, settings=model_settings)
    assert (one.version, two.version) == (1, 2)
    assert (model_settings.model_dir / one.artifact / "model.json").is_file()
    assert [r.version for r in registry.list_models(session)] == [2, 1]
    assert registry.describe(one)["data_rows"] == 45 and registry.describe(one)["note"] == "first"
    with pytest.raises(ClassifierError, match="nothing to roll back to"):
        registry.rollback(session)

    registry.activate_version(session, 1, settings=model_settings)
    registry.activate_version(session, 2, settings=model_settings)
    session.commit()
    top = classifier.predict_top3("和平街道停水三天了", session, model_settings)
    assert top[0][0] == "water" and len(top) == 3
    assert classifier.active_model(session, model_settings) is not None
    assert classifier.active_model(session, model_settings)[0] == 2  # type: ignore[index]

    assert registry.rollback(session, actor="test").version == 1
    assert [r.version for r in registry.list_models(session) if r.active] == [1]
    with pytest.raises(ClassifierError, match="nothing to roll back to"):
        registry.rollback(session)
    actions = session.scalars(select(ClassifierActivation.action).order_by(ClassifierActivation.id)).all()
    assert actions == ["activate", "activate", "rollback"]
    assert classifier.predict_top3("", session, model_settings) == []
    with pytest.raises(ClassifierError, match="no model version 7"):
        registry.activate_version(session, 7, settings=model_settings)

    # A model whose files were damaged cannot be activated.
    (model_settings.model_dir / two.artifact / "model.joblib").write_bytes(b"broken")
    with pytest.raises(ClassifierError, match="does not match the hash"):
        registry.activate_version(session, 2, settings=model_settings)
    session.commit()


def _submit(session: Session, settings: Settings, text: str, category: str) -> int:
    lon, lat = POINTS["D1S1C1"]
    attributes = {"size": "small"} if category == "road" else {}
    data = svc.Submission(text=text, category_code=category, lat=lat, lon=lon, attributes=attributes)
    request = svc.submit_request(session, actor(session, "resident"), data, settings, dt.datetime.now(dt.UTC))
    return request.id


def test_corrections_recorded_and_used_by_next_training(
    session: Session, model_settings: Settings, city: City
) -> None:
    ids = {}
    for text, label in examples(10, seed=7):
        ids[text] = _submit(session, model_settings, text, label)
    # The resident chose "litter" for a burst pipe; the dispatcher corrects it to "water" at dispatch.
    wrong = _submit(session, model_settings, "光明村水管爆裂到处是水", "litter")
    session.commit()
    assert session.scalars(select(CategoryCorrection)).all() == []
    request = session.get(Request, wrong)
    assert request is not None
    svc.dispatch_request(
        session,
        actor(session, "dispatcher"),
        request,
        unit_id(session, "D1S1"),
        model_settings,
        category_code="water",
    )
    session.commit()
    (correction,) = session.scalars(select(CategoryCorrection)).all()
    assert correction.request_id == wrong
    assert correction.from_category_id == city.categories["litter"].id
    assert correction.to_category_id == city.categories["water"].id
    assert correction.used_in_version is None

    found = registry.training_data_from_db(session)
    assert len(found.data.texts) == 31 and found.correction_ids == [correction.id]
    index = found.data.texts.index("光明村水管爆裂到处是水")
    assert found.data.labels[index] == "water" and found.data.weights is not None
    assert found.data.weights[index] == 2.0 and sorted(set(found.data.weights)) == [1.0, 2.0]

    row = registry.train_from_db(
        session, config=ClassifierConfig(folds=3), settings=model_settings, activate=True, actor="test"
    )
    session.commit()
    assert row.version == 1 and row.active and row.source == "db" and row.data_rows == 31
    session.refresh(correction)
    assert correction.used_in_version == 1
    top = classifier.predict_top3("自来水发黄有异味，水压太低用不了水", session, model_settings)
    assert top[0][0] == "water" and {label for label, _ in top} == {"litter", "road", "water"}


def test_training_from_an_empty_database(session: Session, model_settings: Settings) -> None:
    with pytest.raises(ClassifierError, match="no requests with a category"):
        registry.train_from_db(session, settings=model_settings)


def test_no_suggestions_from_a_database_without_the_registry(tmp_path: Path) -> None:
    empty = Settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}", environment="test")
    assert classifier.predict_top3("停水三天了", None, empty) == []


@pytest.mark.slow
def test_the_app_starts_without_scikit_learn() -> None:
    """scikit-learn and SciPy load with the first model read or trained, not with the web app (start-up time)."""
    code = "import sys, chengzhi.app; print(sorted(m for m in ('sklearn', 'scipy', 'joblib') if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=START_SECONDS
    ).stdout
    assert out.strip() == "[]"


def test_models_pickled_before_the_split_still_load() -> None:
    """Models saved when everything was in classifier.py name their classes under that module."""
    from chengzhi.routing import classifier_features

    for name, owner in [
        ("CategoryModel", category_model),
        ("ClassifierConfig", classifier_features),
        ("TextFeatures", classifier_features),
        ("_Base", classifier_features),
        ("_words", classifier_features),
    ]:
        assert getattr(classifier, name) is getattr(owner, name)
