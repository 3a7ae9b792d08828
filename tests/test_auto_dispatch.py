"""The category model at intake (both databases): its suggestion is stored with the model's version, a request it
is sure of is dispatched without a person by the routing rules, and a person's different choice at dispatch is
recorded as a correction of that model version. Small generated data, the real pipeline and scikit-learn."""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.app import create_app
from chengzhi.config import Settings
from chengzhi.requests import service as svc
from chengzhi.requests import triaged
from chengzhi.requests.models import Request, RequestEvent
from chengzhi.routing import (
    category_model,
    classifier,
    classifier_features,
    classifier_training,
    registry,
    triage,
)
from chengzhi.routing.classifier_features import ClassifierConfig
from chengzhi.routing.classifier_models import CategoryCorrection
from chengzhi.routing.classifier_training import TrainingData

from .factories import City
from .steps import POINTS, actor, unit_id
from .test_pages_staff import sign_in

PLACES = ["幸福小区", "建国路", "人民公园", "阳光花园", "东风路", "新华小区"]
TOPICS = {
    "litter": ["垃圾{n}天没人清理", "有人乱扔垃圾", "垃圾桶满了臭味很大", "垃圾站污水横流"],
    "road": ["路面坑洼不平", "道路破损严重", "井盖丢失很危险", "路面破了一个大坑"],
    "water": ["停水{n}天了", "自来水发黄有异味", "水管漏水到处是水", "水压太低用不了水"],
}


def _examples(per_class: int, seed: int) -> TrainingData:
    rng = random.Random(seed)
    rows = []
    for label, phrases in TOPICS.items():
        for _ in range(per_class):
            phrase = rng.choice(phrases).format(n=rng.randint(2, 9))
            rows.append((f"{rng.choice(PLACES)}{phrase}，请尽快处理", label))
    rng.shuffle(rows)
    return TrainingData([t for t, _ in rows], [label for _, label in rows], source="test")


@pytest.fixture(scope="module")
def model() -> category_model.CategoryModel:
    return classifier_training.train(_examples(20, seed=3), ClassifierConfig(folds=3))


@pytest.fixture
def active(
    session: Session, settings: Settings, city: City, tmp_path: Path, model: category_model.CategoryModel
) -> Iterator[Settings]:
    """Settings whose model directory holds `model`, registered and active."""
    classifier.forget_active()
    model_settings = settings.model_copy(update={"model_dir": tmp_path / "models"})
    registry.register(session, model, settings=model_settings, activate=True, actor="test")
    session.commit()
    yield model_settings
    classifier.forget_active()


def _submit(
    session: Session, settings: Settings, text: str, category: str | None = None, point: str = "D1S1C1"
) -> Request:
    lon, lat = POINTS[point]
    attributes = {"size": "small"} if category == "road" else {}
    data = svc.Submission(text=text, category_code=category, lat=lat, lon=lon, attributes=attributes)
    request = svc.submit_request(session, actor(session, "resident"), data, settings, dt.datetime.now(dt.UTC))
    session.commit()
    return request


def _events(session: Session, request: Request) -> list[RequestEvent]:
    return list(
        session.scalars(
            select(RequestEvent).where(RequestEvent.request_id == request.id).order_by(RequestEvent.seq)
        )
    )


def test_sure_request_is_dispatched_by_the_rules(session: Session, active: Settings) -> None:
    request = _submit(session, active, "新华小区停水3天了，请尽快处理")
    found = triage.triage_of(session, request)
    assert found is not None and found.model_version == 1 and found.category_sure
    assert next(g["code"] for g in found.category_suggestions or []) == "water"
    assert len(found.category_suggestions or []) == 3
    assert (
        request.status == "dispatched" and request.category is not None and request.category.code == "water"
    )
    # Water goes to the district's water department (the core's rules), not a guess of the model's.
    assert request.lead_unit_id == unit_id(session, "D1-water")
    _receive, dispatch = _events(session, request)
    assert dispatch.action == "dispatch" and dispatch.actor_id is None
    auto = dispatch.payload["auto"]
    reason = triaged.auto_dispatch_reason(auto, "en")
    assert auto["model_version"] == 1 and auto["probability"] >= 0.5 and "water" in str(reason).lower()
    assert (
        auto["resident_chose"] is False
    )  # the category is the model's alone (retraining compares without it)
    assert dispatch.payload["deadlines"][
        "sign"
    ]  # the category's time limits apply from the automatic dispatch

    litter = _submit(session, active, "阳光花园垃圾桶满了臭味很大，请尽快处理", point="D1S1C2")
    assert litter.status == "dispatched" and litter.lead_unit_id == unit_id(session, "D1S1C2")


def _shown_reason(client: TestClient, request: Request, lang: str) -> object:
    """The reason of the request's automatic dispatch, as the API shows it to a dispatcher in `lang`."""
    token = client.post(
        "/api/v1/auth/token", json={"username": "dispatcher", "password": "demo-password-1"}
    ).json()["access_token"]
    body = client.get(
        f"/api/v1/requests/{request.tracking_number}?lang={lang}",
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    return next(e for e in body["events"] if e["action"] == "dispatch")["payload"]["auto"]["reason"]


def test_the_dispatch_stores_its_reason_as_a_message_read_in_each_language(
    model_client: TestClient, session: Session, active: Settings
) -> None:
    request = _submit(session, active, "新华小区停水3天了，请尽快处理")
    _receive, dispatch = _events(session, request)
    auto = dispatch.payload["auto"]
    # Language-neutral: a message and its parameters, no finished text per language.
    assert "reason_zh" not in auto and "reason_en" not in auto and isinstance(auto["reason"], dict)
    zh, en = (triaged.auto_dispatch_reason(auto, lang) for lang in ("zh", "en"))
    assert zh == triage.routing_suggestion(session, request).reason("zh")
    assert en == triage.routing_suggestion(session, request).reason("en")
    assert zh is not None and "“停水”由区职能部门" in zh, zh
    assert en is not None and "'Water outage' goes to the district department" in en, en
    session.rollback()
    # The API gives the client the reason in its language.
    assert (_shown_reason(model_client, request, "zh"), _shown_reason(model_client, request, "en")) == (
        zh,
        en,
    )
    # Something unreadable gives no reason, not an error.
    assert triaged.auto_dispatch_reason({"reason": {"not": "a message"}}, "zh") is None
    assert triaged.auto_dispatch_reason(None, "zh") is None


def test_an_automatic_dispatch_stored_before_keeps_its_reason(
    model_client: TestClient, session: Session, active: Settings
) -> None:
    """Events written before the reasons were messages hold the text in each language: they are still read."""
    request = _submit(session, active, "新华小区停水3天了，请尽快处理")
    _receive, dispatch = _events(session, request)
    old = {key: value for key, value in dispatch.payload["auto"].items() if key != "reason"}
    dispatch.payload = {**dispatch.payload, "auto": old | {"reason_zh": "旧理由", "reason_en": "Old"}}
    session.commit()
    assert (_shown_reason(model_client, request, "zh"), _shown_reason(model_client, request, "en")) == (
        "旧理由",
        "Old",
    )


def test_a_person_decides_when_the_model_is_not_sure_or_disagrees(session: Session, active: Settings) -> None:
    # The resident chose another category than the model's sure first choice: a person confirms.
    chosen = _submit(session, active, "新华小区停水3天了，请尽快处理", category="litter")
    assert chosen.status == "received" and chosen.category is not None and chosen.category.code == "litter"
    stored = triage.triage_of(session, chosen)
    assert stored is not None and stored.category_sure and stored.category_suggestions
    assert stored.category_suggestions[0]["code"] == "water"

    # Text between two categories: the first choice stays below its threshold.
    vague = _submit(session, active, "垃圾站的水管漏水了")
    vague_triage = triage.triage_of(session, vague)
    assert vague_triage is not None and not vague_triage.category_sure
    assert vague.status == "received" and vague.category is None
    # The dispatcher sees the model's first choice as the routing suggestion's category.
    suggestion = svc.routing_suggestion(session, vague)
    first = vague_triage.category_suggestions[0]["code"]  # type: ignore[index]
    assert "the model suggests" in suggestion.reason("en") and suggestion.unit_id is not None
    assert first in {"litter", "road", "water"}

    # An emergency always goes to a person first, however sure the model is of its category.
    urgent = _submit(session, active, "新华小区水管漏水到处是水，有人被困受伤了")
    assert urgent.priority == "emergency" and urgent.status == "received"


def test_setting_off_only_suggests(session: Session, active: Settings) -> None:
    off = active.model_copy(update={"auto_dispatch": False})
    request = _submit(session, off, "新华小区停水3天了，请尽快处理")
    assert request.status == "received" and request.category is None
    stored = triage.triage_of(session, request)
    assert stored is not None and stored.category_sure


def test_without_a_model_nothing_is_suggested(session: Session, settings: Settings, city: City) -> None:
    classifier.forget_active()
    request = _submit(session, settings, "新华小区停水3天了，请尽快处理")
    assert request.status == "received" and triage.triage_of(session, request) is None


def test_corrections_name_the_model_and_its_suggestion(
    session: Session, active: Settings, city: City
) -> None:
    off = active.model_copy(update={"auto_dispatch": False})
    request = _submit(session, off, "新华小区停水3天了，请尽快处理")
    # The dispatcher judges it a road problem: the first category differs from the model's first choice.
    svc.dispatch_request(
        session, actor(session, "dispatcher"), request, unit_id(session, "D1S1"), off, category_code="road"
    )
    session.commit()
    (correction,) = session.scalars(select(CategoryCorrection)).all()
    assert correction.from_category_id is None and correction.to_category_id == city.categories["road"].id
    assert correction.suggested_category_id == city.categories["water"].id and correction.model_version == 1
    assert correction.actor_id is not None

    # Confirming the model's own choice is not a correction.
    agreed = _submit(session, off, "东风路停水5天了，请尽快处理")
    svc.dispatch_request(
        session,
        actor(session, "dispatcher"),
        agreed,
        unit_id(session, "D1-water"),
        off,
        category_code="water",
    )
    session.commit()
    assert len(session.scalars(select(CategoryCorrection)).all()) == 1

    # A resident's category changed at dispatch: one correction (the listener's), linked to the model too.
    chosen = _submit(session, off, "建国路停水2天了，请尽快处理", category="litter")
    svc.dispatch_request(
        session,
        actor(session, "dispatcher"),
        chosen,
        unit_id(session, "D1-water"),
        off,
        category_code="water",
    )
    session.commit()
    rows = session.scalars(select(CategoryCorrection).where(CategoryCorrection.request_id == chosen.id)).all()
    assert len(rows) == 1
    assert rows[0].from_category_id == city.categories["litter"].id
    assert rows[0].suggested_category_id == city.categories["water"].id and rows[0].model_version == 1


@pytest.fixture
def model_client(active: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(active), raise_server_exceptions=False) as test_client:
        yield test_client


def test_staff_page_shows_the_model_and_the_timeline_says_automatic(
    model_client: TestClient, session: Session, active: Settings
) -> None:
    off = active.model_copy(update={"auto_dispatch": False})
    request = _submit(session, off, "新华小区停水3天了，请尽快处理")
    done = _submit(session, active, "东风路停水4天了，请尽快处理")
    sign_in(model_client, "dispatcher")
    page = model_client.get(f"/staff/requests/{request.tracking_number}")
    assert page.status_code == 200, page.text[:300]
    assert "分类模型 v1" in page.text
    # The dispatch form preselects the model's first choice.
    assert re.search(r'<option value="water"\s+selected', page.text), page.text
    timeline = model_client.get(f"/staff/requests/{done.tracking_number}")
    assert "自动派单" in timeline.text


def test_resident_form_suggests_the_models_category(model_client: TestClient, active: Settings) -> None:
    found = model_client.get("/submit/suggest", params={"text": "幸福小区自来水发黄有异味"})
    assert found.status_code == 200 and 'data-choose="water"' in found.text, found.text


def test_api_routing_names_the_models_suggestion(
    model_client: TestClient, session: Session, active: Settings
) -> None:
    off = active.model_copy(update={"auto_dispatch": False})
    request = _submit(session, off, "新华小区停水3天了，请尽快处理")
    token = model_client.post(
        "/api/v1/auth/token", json={"username": "dispatcher", "password": "demo-password-1"}
    ).json()["access_token"]
    found = model_client.get(
        f"/api/v1/requests/{request.tracking_number}/routing",
        headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"},
    )
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["model_version"] == 1 and body["sure"] is True
    assert [g["code"] for g in body["category_suggestions"]][:1] == ["water"]
    assert 0.5 <= body["category_suggestions"][0]["probability"] <= 1.0
    assert body["unit"]["id"] == unit_id(session, "D1-water") and "model suggests" in body["reason"]


def test_training_from_the_database_reads_the_newest_requests(
    session: Session, settings: Settings, city: City
) -> None:
    texts = ["新华小区停水3天了", "东风路路面坑洼不平", "阳光花园垃圾桶满了"]
    for text, category in zip(texts, ["water", "road", "litter"], strict=True):
        _submit(session, settings, text, category=category)
    found = registry.training_data_from_db(session, max_rows=2)
    assert found.data.texts == texts[1:] and found.data.labels == ["road", "litter"]
    assert len(registry.training_data_from_db(session).data.texts) == 3
    with pytest.raises(classifier_features.ClassifierError, match="at least 1"):
        registry.training_data_from_db(session, max_rows=0)


def test_inbox_shows_the_models_first_choice_for_uncategorised_requests(
    model_client: TestClient, session: Session, active: Settings
) -> None:
    off = active.model_copy(update={"auto_dispatch": False})
    open_one = _submit(session, off, "新华小区停水3天了，请尽快处理")
    chosen = _submit(session, off, "东风路路面坑洼不平，请尽快处理", category="road")
    sign_in(model_client, "dispatcher")
    page = model_client.get("/staff")
    assert page.status_code == 200
    rows = {n: r for r in re.findall(r"<tr>(.*?)</tr>", page.text, re.S) for n in re.findall(r"\d{14}", r)}
    assert re.search(r"模型建议：停水 \d+%", rows[open_one.tracking_number]), rows[open_one.tracking_number]
    assert "模型建议" not in rows[chosen.tracking_number]
