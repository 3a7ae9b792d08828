"""The category models admin page (both databases): the registry's versions with their held-out figures and their
figures at intake, activation and roll-back by a city-wide administrator, refusals for everyone else."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.app import create_app
from chengzhi.config import Settings
from chengzhi.org.models import Role
from chengzhi.routing import category_model, classifier, classifier_features, classifier_training, registry
from chengzhi.routing.classifier_models import ClassifierModel

from .factories import City, make_user
from .test_auto_dispatch import _examples, _submit
from .test_pages_staff import sign_in


@pytest.fixture(scope="module")
def model() -> category_model.CategoryModel:
    return classifier_training.train(_examples(20, seed=5), classifier_features.ClassifierConfig(folds=3))


@pytest.fixture
def two(
    session: Session, settings: Settings, city: City, tmp_path: Path, model: category_model.CategoryModel
) -> Settings:
    """Two registered versions, the second active."""
    classifier.forget_active()
    model_settings = settings.model_copy(update={"model_dir": tmp_path / "models"})
    registry.register(session, model, settings=model_settings, note="first", activate=True)
    registry.register(session, model, settings=model_settings, note="second", activate=True)
    make_user(session, city, "d1-admin", Role.admin, "D1")
    session.commit()
    return model_settings


@pytest.fixture
def web(two: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(two), raise_server_exceptions=False) as test_client:
        yield test_client
    classifier.forget_active()


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found
    return found.group(1)


def _active(session: Session) -> int:
    session.rollback()  # a new transaction: SQLite's WAL would keep showing the old snapshot
    version = session.scalar(select(ClassifierModel.version).where(ClassifierModel.active.is_(True)))
    assert version is not None
    return version


def test_admin_sees_versions_and_intake_figures(web: TestClient, session: Session, two: Settings) -> None:
    _submit(session, two, "新华小区停水3天了，请尽快处理")
    _submit(session, two, "东风路路面坑洼不平，请尽快处理", category="road")
    sign_in(web, "admin")
    page = web.get("/staff/admin/models")
    assert page.status_code == 200
    assert "v1" in page.text and "v2" in page.text and "first" in page.text
    rows = re.findall(r"<tr>(.*?)</tr>", page.text, re.S)
    newest = next(r for r in rows if ">v2<" in r)
    # Two suggestions by v2; the road request's final category is the model's first choice, the water one too.
    assert re.search(r'data-label="受理时建议数">\s*2\s*<', newest), newest
    assert "100.0%" in newest and "启用" in newest
    assert "Use this model" in page.text or "使用此模型" in page.text


def test_activate_and_roll_back(web: TestClient, session: Session) -> None:
    sign_in(web, "admin")
    token = _csrf(web.get("/staff/admin/models").text)
    done = web.post(
        "/staff/admin/models",
        data={"csrf_token": token, "action": "activate", "version": "1"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and _active(session) == 1
    assert "已在受理时使用" in web.get(done.headers["location"]).text
    back = web.post(
        "/staff/admin/models", data={"csrf_token": token, "action": "rollback"}, follow_redirects=False
    )
    assert back.status_code == 303 and _active(session) == 2

    missing = web.post(
        "/staff/admin/models", data={"csrf_token": token, "action": "activate", "version": "9"}
    )
    assert missing.status_code == 422 and "没有此版本的模型" in missing.text and _active(session) == 2
    forged = web.post("/staff/admin/models", data={"csrf_token": "x", "action": "rollback"})
    assert forged.status_code == 422 and _active(session) == 2


def test_only_city_wide_admins_change_the_model(web: TestClient, session: Session) -> None:
    sign_in(web, "d1-admin")
    page = web.get("/staff/admin/models")
    assert page.status_code == 200 and "使用此模型" not in page.text
    refused = web.post(
        "/staff/admin/models", data={"csrf_token": _csrf(page.text), "action": "activate", "version": "1"}
    )
    assert refused.status_code == 403 and _active(session) == 2

    other = TestClient(web.app, raise_server_exceptions=False)
    sign_in(other, "dispatcher")
    assert other.get("/staff/admin/models").status_code == 403
    anonymous = TestClient(web.app, raise_server_exceptions=False).get(
        "/staff/admin/models", follow_redirects=False
    )
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")


def test_a_model_made_by_retraining_says_what_it_replaced(
    web: TestClient, session: Session, two: Settings, model: category_model.CategoryModel
) -> None:
    model.meta["metrics"]["challenge"] = {
        "against": 2,
        "compared_on": 240,
        "challenger": {"macro_f1": 0.6123, "accuracy": 0.8},
        "active": {"macro_f1": 0.5871, "accuracy": 0.79},
    }
    try:
        registry.register(session, model, settings=two, note="retrain", activate=True)
    finally:
        del model.meta["metrics"]["challenge"]
    session.commit()
    sign_in(web, "admin")
    rows = re.findall(r"<tr>(.*?)</tr>", web.get("/staff/admin/models").text, re.S)
    newest = next(r for r in rows if ">v3<" in r)
    assert "在 240 条较新的请求上优于 v2 后替换之：macro-F1 0.612，原模型 0.587" in newest
    assert "优于" not in next(r for r in rows if ">v2<" in r)
