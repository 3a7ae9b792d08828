"""`chengzhi model retrain` (registry.retrain): champion and challenger on requests neither model has seen."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from chengzhi.cli import app
from chengzhi.config import Settings
from chengzhi.requests import service as svc
from chengzhi.requests.models import RequestEvent
from chengzhi.routing import classifier, classifier_training, registry
from chengzhi.routing.classifier_features import ClassifierConfig, ClassifierError
from chengzhi.routing.classifier_models import ClassifierModel
from chengzhi.routing.classifier_training import TrainingData

from .conftest import Configure
from .steps import POINTS, actor
from .test_classifier import examples

pytestmark = pytest.mark.usefixtures("city")

CONFIG = ClassifierConfig(folds=3)


@pytest.fixture
def model_settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"model_dir": tmp_path / "models"})


def _submit_all(session: Session, settings: Settings, rows: list[tuple[str, str]]) -> None:
    lon, lat = POINTS["D1S1C1"]
    resident = actor(session, "resident")
    for text, category in rows:
        attributes = {"size": "small"} if category == "road" else {}
        data = svc.Submission(text=text, category_code=category, lat=lat, lon=lon, attributes=attributes)
        svc.submit_request(session, resident, data, settings, dt.datetime.now(dt.UTC))
    session.commit()


def _active(session: Session) -> ClassifierModel | None:
    return session.scalar(select(ClassifierModel).where(ClassifierModel.active.is_(True)))


def _confused_model(session: Session, settings: Settings) -> ClassifierModel:
    """An active model that learnt the categories swapped round (litter ↔ road ↔ water)."""
    swap = {"litter": "road", "road": "water", "water": "litter"}
    rows = examples(10, seed=3)
    model = classifier_training.train(
        TrainingData([t for t, _ in rows], [swap[label] for _, label in rows]), CONFIG
    )
    row = registry.register(session, model, settings=settings, activate=True, note="confused")
    session.commit()
    return row


def test_first_model_is_trained_and_activated(session: Session, model_settings: Settings) -> None:
    _submit_all(session, model_settings, examples(10, seed=7))
    result = registry.retrain(session, config=CONFIG, settings=model_settings)
    session.commit()
    assert result == {
        "activated": True,
        "version": 1,
        "reason": "no active model",
        "compared_on": 0,
        "left_out": {},
    }
    active = _active(session)
    assert active is not None and active.version == 1 and active.data_rows == 30


def test_too_few_new_requests_to_compare(session: Session, model_settings: Settings) -> None:
    _confused_model(session, model_settings)
    _submit_all(session, model_settings, examples(3, seed=8))
    result = registry.retrain(session, config=CONFIG, settings=model_settings, min_holdout=20)
    assert not result["activated"] and result["compared_on"] == 4
    assert "only 4 requests" in result["reason"] and "20" in result["reason"]  # at most half of 9
    assert _active(session) is not None and _active(session).version == 1  # type: ignore[union-attr]


def test_a_better_challenger_replaces_the_active_model(session: Session, model_settings: Settings) -> None:
    _confused_model(session, model_settings)
    rows = examples(20, seed=9)
    random.Random(0).shuffle(rows)
    _submit_all(session, model_settings, rows)
    result = registry.retrain(session, config=CONFIG, settings=model_settings, holdout=24, min_holdout=20)
    session.commit()
    assert result["activated"] and result["version"] == 2 and result["compared_on"] == 24
    assert result["challenger"]["macro_f1"] > 0.8 > result["active"]["macro_f1"]
    active = _active(session)
    assert (
        active is not None and active.version == 2 and active.data_rows == 60
    )  # trained on all, held out too
    assert active.metrics["challenge"]["against"] == 1 and active.metrics["challenge"]["compared_on"] == 24
    assert active.note == "retrain"


def test_a_challenger_that_does_not_gain_the_margin_is_not_activated(
    session: Session, model_settings: Settings
) -> None:
    _confused_model(session, model_settings)
    _submit_all(session, model_settings, examples(20, seed=10))
    result = registry.retrain(session, config=CONFIG, settings=model_settings, min_holdout=20, margin=2.0)
    session.commit()
    assert not result["activated"] and result["version"] is None and result["compared_on"] == 30  # half of 60
    assert "did not do better" in result["reason"]
    assert [r.version for r in registry.list_models(session)] == [1]  # nothing registered


@pytest.mark.slow
def test_requests_the_model_dispatched_itself_are_not_compared_on(
    session: Session, model_settings: Settings
) -> None:
    _submit_all(session, model_settings, examples(15, seed=11))
    assert registry.retrain(session, config=CONFIG, settings=model_settings)["activated"]
    session.commit()
    classifier.forget_active()
    # Residents who choose no category: the active model, sure of most, dispatches them itself.
    lon, lat = POINTS["D1S1C1"]
    resident = actor(session, "resident")
    before = set(_ids(session))
    for text, _label in examples(8, seed=12):
        data = svc.Submission(text=text, lat=lat, lon=lon)
        svc.submit_request(session, resident, data, model_settings, dt.datetime.now(dt.UTC))
    session.commit()
    unchosen = set(_ids(session)) - before
    # Residents who chose a category the model would not (it then leaves the request to a person).
    swap = {"litter": "road", "road": "water", "water": "litter"}
    _submit_all(session, model_settings, [(t, swap[label]) for t, label in examples(3, seed=14)])
    swapped = set(_ids(session)) - before - unchosen
    # Residents who chose the category the model is sure of: dispatched automatically, but a person's category.
    _submit_all(session, model_settings, examples(3, seed=16))
    agreeing = set(_ids(session)) - before - unchosen - swapped
    automatic = registry._labelled_by_model(session, _ids(session))
    assert automatic & unchosen, "the model dispatched none of them: the test shows nothing"
    dispatched_itself = {
        e.request_id
        for e in session.scalars(select(RequestEvent).where(RequestEvent.actor_id.is_(None)))
        if e.action == "dispatch"
    }
    assert agreeing & dispatched_itself, (
        "no resident's choice was dispatched automatically: the test shows nothing"
    )
    assert not automatic & (agreeing | swapped)
    result = registry.retrain(session, config=CONFIG, settings=model_settings, min_holdout=1)
    # Only requests whose category a person gave count; those the model categorised itself are left out.
    assert result["compared_on"] == len(agreeing | swapped) == 18


def _ids(session: Session) -> list[int]:
    from chengzhi.requests.models import Request

    return list(session.scalars(select(Request.id)))


def test_cli_retrain_prints_json_and_refuses_bad_options(
    model_settings: Settings, session: Session, configure: Configure
) -> None:
    _submit_all(session, model_settings, examples(10, seed=13))
    configure(model_dir=model_settings.model_dir)
    runner = CliRunner()
    done = runner.invoke(app, ["model", "retrain", "--folds", "3"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["activated"] is True
    again = runner.invoke(app, ["model", "retrain", "--folds", "3"])
    assert again.exit_code == 0 and json.loads(again.stdout)["activated"] is False
    bad = runner.invoke(app, ["model", "retrain", "--holdout", "0"])
    assert bad.exit_code == 2 and "--holdout" in bad.output
    with pytest.raises(ClassifierError, match="at least 1"):
        registry.retrain(session, min_holdout=0)


def test_categories_with_too_few_requests_are_left_out_of_training_from_the_database(
    session: Session, model_settings: Settings
) -> None:
    """A city always has a new or rare category: training from its requests leaves it out and says so."""
    _submit_all(session, model_settings, examples(10, seed=15))
    _submit_all(
        session, model_settings, [("5路公交车今天早上没有按时到站", "bus"), ("公交站牌被撞倒了", "bus")]
    )
    row = registry.train_from_db(session, config=CONFIG, settings=model_settings, activate=True)
    session.commit()
    assert row.labels == ["litter", "road", "water"] and row.data_rows == 30
    assert registry.describe(row)["left_out"] == {"bus": 2}
    found = registry.training_data_from_db(session, CONFIG)
    assert found.left_out == {"bus": 2} and "bus" not in found.data.labels
