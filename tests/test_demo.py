"""The demo city generator (`chengzhi demo`), on both databases: its organisation and areas, its request histories
(legal, complete, varied), determinism, `--if-empty`, sign-in of the demo accounts, and the CLI command."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import random
import string
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import Point, shape
from shapely.ops import unary_union
from sqlalchemy import select
from sqlalchemy.orm import undefer
from typer.testing import CliRunner

from chengzhi.app import create_app
from chengzhi.caches import reset_caches
from chengzhi.categories.models import Category, HandlerKind
from chengzhi.categories.service import create_category
from chengzhi.cli import app as cli_app
from chengzhi.config import Settings
from chengzhi.db import get_engine, get_sessionmaker
from chengzhi.demo import knowledge_texts, texts
from chengzhi.demo.catalogue import CATEGORIES
from chengzhi.demo.city import DEMO_PASSWORD, Community
from chengzhi.demo.generate import generate_demo_city
from chengzhi.demo.plans import Plan, template_slots
from chengzhi.identity.models import DetailView
from chengzhi.knowledge import index as knowledge_index
from chengzhi.knowledge.models import KnowledgeArticle, KnowledgeUse
from chengzhi.org.models import Role, RoleAssignment, Unit, UnitKind, User
from chengzhi.participate.models import Comment, FocusTopic
from chengzhi.requests.log import state_of, steps_of
from chengzhi.requests.models import ContactView, Issue, Request, RequestEvent
from chengzhi.requests.workflow import STAGE_OF_STATUS, Status, fold
from chengzhi.routing import rules
from chengzhi.webhooks.models import WebhookDelivery, WebhookSubscription
from chengzhi.webhooks.service import EVENT_TYPES

from .conftest import Configure, auth, make_settings, own_database, triaging_on_commit

NOW = dt.datetime(2026, 11, 20, 4, 30, tzinfo=dt.UTC)
N = 300


def _generate(settings: Settings, n: int = N, seed: int = 7) -> dict[str, Any]:
    return generate_demo_city(settings, seed=seed, n_requests=n, now=NOW)


class Generated(NamedTuple):
    settings: Settings
    summary: dict[str, Any]


@pytest.fixture(scope="module")
def _seven(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Generated]:
    """The city of seed 7 with N requests, generated once per database for the tests below that only read it (a
    database of its own: the session's is emptied after each test). Each generation took 1.5-2 minutes."""
    directory = tmp_path_factory.mktemp("demo-seven")
    with own_database(db_url, directory) as url:
        settings = make_settings(url, directory)
        with triaging_on_commit():  # as every test's own intake is (tests/conftest.py)
            summary = _generate(settings)
        reset_caches()
        yield Generated(settings, summary)
    reset_caches()


@pytest.fixture
def seven(_seven: Generated) -> Iterator[Generated]:
    """The shared city of seed 7; the process caches are forgotten after each test, as with `settings`."""
    yield _seven
    reset_caches()


def _units(settings: Settings) -> list[Unit]:
    with get_sessionmaker(settings.database_url)() as session:
        return list(session.scalars(select(Unit).options(undefer(Unit.area)).order_by(Unit.id)))


@pytest.mark.slow
def test_organisation_areas_categories_and_staff(seven: Generated) -> None:
    settings, summary = seven
    units = _units(settings)
    by_kind = Counter(u.kind for u in units)
    assert by_kind[UnitKind.city] == 1
    assert by_kind[UnitKind.district] >= 3
    assert by_kind[UnitKind.street] >= 12
    assert by_kind[UnitKind.community] >= 40
    assert by_kind[UnitKind.department] >= 20
    assert summary["units"] == {kind.value: by_kind[kind] for kind in UnitKind}
    assert all(u.name_zh and u.name_en and u.name_zh != u.name_en for u in units)
    assert len({u.name_zh for u in units}) == len(units)

    # Areas: valid polygons near 112.9 E, 28.2 N; siblings never overlap; each level tiles the one above.
    city = next(u for u in units if u.kind == UnitKind.city)
    city_area = shape(json.loads(city.area or "{}"))
    assert city_area.is_valid
    assert 112.5 < city_area.centroid.x < 113.3 and 28.0 < city_area.centroid.y < 28.5
    areas = {u.id: shape(json.loads(u.area)) for u in units if u.area}
    for kind in (UnitKind.district, UnitKind.street, UnitKind.community):
        members = [u for u in units if u.kind == kind]
        assert all(u.id in areas and areas[u.id].is_valid for u in members)
        for a, b in itertools.combinations(members, 2):
            assert areas[a.id].intersection(areas[b.id]).area < 1e-12, (a.code, b.code)
        assert abs(unary_union([areas[u.id] for u in members]).area - city_area.area) < 1e-9
        for unit in members:
            assert areas[unit.id].difference(areas[unit.parent_id or 0]).area < 1e-12, unit.code

    # Departments at city and district level, each with a function that categories route to.
    departments = [u for u in units if u.kind == UnitKind.department]
    functions = {u.function for u in departments}
    assert all(u.function for u in departments)
    assert {"water", "power", "gas", "urban_management", "transport", "housing"} <= functions
    kind_of = {u.id: u.kind for u in units}
    assert {kind_of[u.parent_id or 0] for u in departments} == {UnitKind.city, UnitKind.district}

    with get_sessionmaker(settings.database_url)() as session:
        categories = list(session.scalars(select(Category)))
        assert len(categories) >= 40
        for category in categories:
            assert category.group_zh and category.group_en
            assert set(category.time_limits) == {"sign", "contact", "reply", "review"}
            if category.handler_kind == HandlerKind.department:
                assert category.handler_function in functions, category.code
        by_code = {c.code: c for c in categories}
        assert by_code["gas_leak"].default_priority == "emergency"
        assert by_code["gas_leak"].time_limits["reply"] == "2h"
        assert by_code["water_outage"].time_limits["reply"] == "24h"
        assert {c.time_limits["reply"] for c in categories} >= {"2h", "24h", "7wd", "15wd"}
        datatypes = {a["datatype"] for c in categories for a in c.attributes}
        assert {"singlevaluelist", "multivaluelist", "number", "string", "text", "datetime"} <= datatypes
        assert "batch" in {c.service_type for c in categories}

        # Staff for every role; a handler in every unit below the city.
        roles = Counter(session.scalars(select(RoleAssignment.role)))
        assert set(roles) == set(Role)
        handled = set(
            session.scalars(select(RoleAssignment.unit_id).where(RoleAssignment.role == Role.handler))
        )
        assert handled == {u.id for u in units if u.kind != UnitKind.city}
        assert summary["users"] == len(list(session.scalars(select(User.id))))

    # Routing finds each community from a point inside it.
    rules.invalidate()
    with get_sessionmaker(settings.database_url)() as session:
        index = rules.area_index(session)
        for unit in units:
            if unit.kind == UnitKind.community:
                inside = areas[unit.id].representative_point()
                assert index.locate(inside.y, inside.x).community_id == unit.id


@pytest.mark.slow
def test_request_histories_are_legal_complete_and_varied(seven: Generated) -> None:
    settings, summary = seven
    assert summary["requests"] == N
    with get_sessionmaker(settings.database_url)() as session:
        requests = list(session.scalars(select(Request).order_by(Request.id)))
        events = list(
            session.scalars(select(RequestEvent).order_by(RequestEvent.request_id, RequestEvent.seq))
        )
        units = {u.id: u for u in session.scalars(select(Unit).options(undefer(Unit.area)))}
        categories = {c.id: c for c in session.scalars(select(Category))}
        issues = list(session.scalars(select(Issue)))
    log = {r.id: [e for e in events if e.request_id == r.id] for r in requests}
    assert len(requests) == N and summary["events"] == len(events)

    for request in requests:
        history = log[request.id]
        # The projection is exactly what the event log says.
        assert fold(steps_of(history)) == state_of(request), request.id
        times = [e.at for e in history]
        assert times == sorted(times) and times[0] == request.received_at
        assert NOW - dt.timedelta(days=366) < request.received_at and times[-1] <= NOW
    # Over the whole year, more or less evenly.
    months = Counter((r.received_at.year, r.received_at.month) for r in requests)
    assert len(months) >= 12 and max(months.values()) < N / 5

    actions = Counter(e.action for e in events)
    for action in ("answer", "return", "approve_extension", "refuse_extension", "reopen", "mark_overdue",
                   "merge", "co_handle", "supervise"):  # fmt: skip
        assert actions[action] >= 3, (action, actions)
    assert len(issues) >= 1 and all(any(r.issue_id == i.id for r in requests) for i in issues)
    reviewed = {e.request_id for e in events if e.action == "review"}
    closed = [r for r in requests if r.status == Status.closed.value]
    unrated = [r for r in closed if r.id not in reviewed]
    assert len(unrated) >= 3 and len(closed) > N / 2
    assert {r.satisfaction for r in requests if r.satisfaction} == {1, 2, 3, 4, 5}
    assert sum(r.ever_overdue for r in requests) >= 3
    # Recent ones are still being handled, the newest wait for a dispatcher.
    assert len({r.status for r in requests if r.status != Status.closed.value}) >= 3
    assert any(r.status == Status.received.value for r in requests)
    with get_sessionmaker(settings.database_url)() as session:
        resident = session.scalar(select(User.id).where(User.username == "resident"))
    assert any(r.submitter_id == resident and r.status != Status.closed.value for r in requests)
    assert {r.channel for r in requests} == {"phone", "web", "app", "open311"}
    assert len({r.text for r in requests}) > 0.95 * N
    assert len({r.category_id for r in requests}) >= 25

    # Every request's point lies in the area of the community it names; community work goes to that community.
    areas = {u.id: shape(json.loads(u.area)) for u in units.values() if u.area}
    for request in requests:
        if request.lat is None or request.lon is None:
            assert categories[request.category_id or 0].code in {"social_insurance", "medical_insurance",
                                                                  "household_registration", "housing_fund",
                                                                  "school_enrolment"}  # fmt: skip
            continue
        point = Point(request.lon, request.lat)
        category = categories[request.category_id or 0]
        lead = units.get(request.lead_unit_id or 0)
        if lead and category.handler_kind == HandlerKind.community and request.return_count == 0:
            assert lead.kind == UnitKind.community and areas[lead.id].covers(point), request.id

    # Consultations answered at intake name the knowledge base's article they were answered with.
    with get_sessionmaker(settings.database_url)() as session:
        articles = {a.id: a for a in session.scalars(select(KnowledgeArticle))}
        used = Counter(u.outcome.value for u in session.scalars(select(KnowledgeUse)))
    answers = [e for e in events if e.action == "answer"]
    statuses = Counter(a.status.value for a in articles.values())
    assert len(articles) == 16 + len(knowledge_texts.ARTICLES)
    assert statuses["withdrawn"] == 1 and statuses["draft"] == 1
    assert answers and all(e.payload["article"]["id"] in articles for e in answers)
    assert used["answered"] == len(answers) and used["rejected"] >= 1
    # The knowledge base answers questions worded as residents word them, in Chinese and in English.
    with get_sessionmaker(settings.database_url)() as session:
        for question, expected in (
            ("暖气几号开始来", "11月15日"),
            ("健身卡老板跑路了钱能要回来吗", "预付卡"),
            ("I moved into a rented flat, must I register with the police?", "24 hours"),
            ("欠费停电了交完钱多久来电", "复电"),
        ):
            found = knowledge_index.ask(session, settings.database_url, question, 1, dense=False)
            assert found and expected in found[0].article.answer, (question, found)

    # What the overdue job would flag now is flagged.
    for request in requests:
        if request.status in {s.value for s in STAGE_OF_STATUS} and request.due_at and request.due_at < NOW:
            assert request.overdue_stage == STAGE_OF_STATUS[Status(request.status)], request.id


def _digest(url: str) -> str:
    """Everything generated except tracking numbers (random by design) and row ids."""
    with get_sessionmaker(url)() as session:
        codes = {u.id: u.code for u in session.scalars(select(Unit))}
        users = {u.id: u.username for u in session.scalars(select(User))}
        categories = {c.id: c.code for c in session.scalars(select(Category))}
        units = [(u.code, u.name_zh, u.name_en, u.kind.value, u.path.count("/"), u.function, u.area)
                 for u in session.scalars(select(Unit).order_by(Unit.code))]  # fmt: skip
        rows: list[Any] = [units, sorted(users.values())]
        for r in session.scalars(select(Request).order_by(Request.received_at, Request.text)):
            events = session.scalars(
                select(RequestEvent).where(RequestEvent.request_id == r.id).order_by(RequestEvent.seq)
            )
            history = []
            for e in events:
                payload = {k: v for k, v in (e.payload or {}).items() if k not in ("issue_id", "into")}
                for key in ("lead_unit_id",):
                    if key in payload:
                        payload[key] = codes[payload[key]]
                payload["co_unit_ids"] = [codes[u] for u in payload.get("co_unit_ids", [])]
                history.append((e.action, e.at.isoformat(), users.get(e.actor_id or 0), e.note, payload))
            rows.append(
                (r.title, r.text, r.channel, categories.get(r.category_id or 0), r.priority, r.lat, r.lon,
                 r.address, r.contact_name, r.contact_phone, r.attributes, users.get(r.submitter_id or 0),
                 r.received_at.isoformat(), r.status, codes.get(r.lead_unit_id or 0), r.deadlines,
                 r.satisfaction, r.resolved, r.reply_text, r.issue_id is not None, history)
            )  # fmt: skip
    return hashlib.sha256(json.dumps(rows, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


@pytest.mark.slow
def test_same_seed_same_city_on_any_database(settings: Settings, tmp_path: Path) -> None:
    _generate(settings, n=80)
    other = Settings(database_url=f"sqlite:///{tmp_path / 'other.db'}", environment="test")
    third = Settings(database_url=f"sqlite:///{tmp_path / 'third.db'}", environment="test")
    try:
        _generate(other, n=80)
        assert _digest(settings.database_url) == _digest(other.database_url)
        _generate(third, n=80, seed=8)
        assert _digest(third.database_url) != _digest(other.database_url)
    finally:
        get_engine(other.database_url).dispose()
        get_engine(third.database_url).dispose()


@pytest.mark.slow
def test_if_empty_is_a_no_op_and_the_demo_accounts_sign_in(settings: Settings) -> None:
    # Every key account signs in from one address: more sign-ins than a minute's login limit allows.
    with TestClient(create_app(settings.model_copy(update={"login_rate": "100/minute"}))) as client:
        _demo_accounts_sign_in(settings, client)


def _demo_accounts_sign_in(settings: Settings, client: TestClient) -> None:
    summary = _generate(settings, n=40)
    before = _digest(settings.database_url)
    again = generate_demo_city(settings, seed=99, n_requests=10, if_empty=True, now=NOW)
    assert again["created"] is False and again["units"] == sum(summary["units"].values())
    with pytest.raises(RuntimeError, match="already has units"):
        generate_demo_city(settings, seed=99, n_requests=10, now=NOW)
    assert _digest(settings.database_url) == before

    # `resident` is verified by a real-name provider, shares name and phone, and one handler has looked.
    assert summary["identity"] == {"level": 2, "shared": ["name", "phone"], "views": 1}
    with get_sessionmaker(settings.database_url)() as session:
        views = list(session.scalars(select(DetailView)))
        resident_id = session.scalars(select(User.id).where(User.username == "resident")).one()
        assert [v.resident_id for v in views] == [resident_id] and views[0].fields == ["name", "phone"]

    accounts = summary["accounts"]
    assert {a["role"] for a in accounts} == {r.value for r in Role}
    for account in accounts:
        response = client.post(
            "/api/v1/auth/token", json={"username": account["username"], "password": DEMO_PASSWORD}
        )
        assert response.status_code == 200, (account, response.text)
        headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
        me = client.get("/api/v1/me", headers=headers).json()
        assert account["role"] in json.dumps(me), me
        if account["username"] in ("dispatcher", "supervisor", "leader"):
            listed = client.get("/api/v1/requests", params={"limit": 100}, headers=headers).json()["items"]
            assert len(listed) == 40
    wrong = client.post("/api/v1/auth/token", json={"username": "admin", "password": "not-the-password"})
    assert wrong.status_code == 401

    # The platform goes on working after the demo: new rows get fresh ids (the sequences were moved on).
    resident = auth(client, "resident", DEMO_PASSWORD)
    with get_sessionmaker(settings.database_url)() as session:
        community = session.scalars(select(Unit).where(Unit.kind == UnitKind.community)).first()
        assert community is not None and community.area
        inside = shape(json.loads(community.area)).representative_point()
    created = client.post(
        "/api/v1/requests",
        json={"text": "小区垃圾三天没人清运", "category": "garbage", "lat": inside.y, "lon": inside.x},
        headers=resident,
    )
    assert created.status_code == 201, created.text
    number = created.json()["request"]["tracking_number"]
    dispatcher = auth(client, "dispatcher", DEMO_PASSWORD)
    dispatched = client.post(
        f"/api/v1/requests/{number}/dispatch", json={"lead_unit_id": community.id}, headers=dispatcher
    )
    assert dispatched.status_code == 200, dispatched.text


@pytest.mark.slow
def test_cli_generates_once(settings: Settings, configure: Configure) -> None:
    configure()
    runner = CliRunner()
    first = runner.invoke(cli_app, ["demo", "--seed", "3", "--requests", "25", "--if-empty"])
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    assert summary["created"] is True and summary["requests"] == 25
    assert summary["password"] == DEMO_PASSWORD
    # 25 requests are too few to learn categories from: the demo says so and goes on without a model.
    assert summary["model"]["trained"] is False and summary["model"]["reason"]
    second = runner.invoke(cli_app, ["demo", "--if-empty"])
    assert second.exit_code == 0, second.output
    assert json.loads(second.stdout)["created"] is False
    with get_sessionmaker(settings.database_url)() as session:
        assert len(list(session.scalars(select(Request.id)))) == 25
        # The contact-view audit has its first lines (an operator's and handlers' views).
        reasons = set(session.scalars(select(ContactView.reason)))
        assert summary["contact_views"] == len(list(session.scalars(select(ContactView.id)))) > 0
        assert reasons == {"operator", "handler"}


def test_refuses_a_database_with_other_data(settings: Settings) -> None:
    with get_sessionmaker(settings.database_url)() as session, session.begin():
        create_category(
            session, code="own", name_zh="自有类别", name_en="Own", handler_kind=HandlerKind.district
        )
    with pytest.raises(RuntimeError, match="categories not empty"):
        generate_demo_city(settings, seed=1, n_requests=10, if_empty=True, now=NOW)
    assert _units(settings) == []


def test_docs_list_the_default_city_and_its_accounts(settings: Settings) -> None:
    """docs/demo.md names every unit of the default seed with its handler account, and the key accounts."""
    summary = generate_demo_city(
        settings, seed=Settings.model_fields["demo_seed"].default, n_requests=0, now=NOW
    )
    doc = (Path(__file__).resolve().parents[1] / "docs" / "demo.md").read_text(encoding="utf-8")
    assert f"**`{DEMO_PASSWORD}`**" in doc
    for unit in _units(settings):
        handler = "–" if unit.kind == UnitKind.city else f"`handler.{unit.code}`"
        row = f"| `{unit.code}` | {unit.kind.value} | {unit.name_zh} | {unit.name_en} | {handler} |"
        assert row in doc, row
    for account in summary["accounts"]:
        assert f"`{account['username']}`" in doc, account


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_templates_cover_every_category_and_name_only_slots_that_exist() -> None:
    """A slot a template names but the generator does not fill would silently print nothing."""
    unit = Unit(code="c", name_zh="某社区", name_en="Some Community", kind=UnitKind.community)
    community = Community(
        unit=unit, street=unit, district=unit, cell=(0, 0), compounds=["甲小区"], roads=["乙路", "丙路"],
        landmark="丁公园", weight=1.0,
    )  # fmt: skip
    base = set(
        template_slots(random.Random(1), Plan(received_at=NOW, scenario="normal", community=community))
    )
    for spec in CATEGORIES:
        known = base | {f"attr_{a['code']}" for a in spec.attributes} | {"date"}
        families = [texts.PROBLEMS[spec.code], texts.REPLIES[spec.code]]
        if spec.consultation:
            families.append(texts.ANSWERS[spec.code])
        for template in itertools.chain(*families):
            assert _fields(template) <= known, (spec.code, template)
    framing = texts.IMPACTS + texts.ONLINE_OPENERS + texts.PHONE_OPENERS + texts.EXPLANATIONS
    assert set().union(*map(_fields, framing)) <= base
    notes = {
        texts.CONTACT_NOTES: {"when"},
        texts.RETURN_REASONS: {"correct"},
        texts.SUPERVISION_NOTES: {"hours"},
        texts.CO_HANDLE_NOTES: {"units"},
        texts.REOPEN_REASONS + texts.RESIDENT_REOPEN_REASONS: {"complaint"},
    }
    for family, allowed in notes.items():
        assert set().union(*map(_fields, family)) == allowed


@pytest.mark.slow
def test_the_demo_trains_its_first_category_model(settings: Settings, tmp_path: Path) -> None:
    """`chengzhi demo` (as `make run` calls it) leaves a category model in use, trained from the city's requests;
    categories with too few of them are left out and named."""
    from chengzhi.routing import classifier, registry

    demo = settings.model_copy(update={"model_dir": tmp_path / "models"})
    summary = generate_demo_city(demo, seed=7, n_requests=N, now=NOW, train_model=True)
    model = summary["model"]
    assert model["trained"] is True and model["version"] == 1, model
    assert model["data_rows"] + sum(model["left_out"].values()) == N
    assert model["labels"] >= 2 and 0 <= model["macro_f1"] <= 1
    # The texts are written as residents write (docs/demo.md, "Texts"): the figures are not a template's 1.0.
    assert model["macro_f1"] < 0.97 and model["accuracy"] < 0.97, model
    assert model["auto_dispatch_share"] is None or model["auto_dispatch_share"] < 0.9, model
    classifier.forget_active()
    try:
        with get_sessionmaker(demo.database_url)() as session:
            (active,) = [r for r in registry.list_models(session) if r.active]
            assert active.note == "demo"
            request = session.scalars(select(Request).order_by(Request.id)).first()
            assert request is not None and request.category is not None
            top = classifier.predict_top3(request.text, session, demo)
            assert len(top) == min(3, model["labels"])
            assert {code for code, _ in top} <= {c.code for c in session.scalars(select(Category))}
    finally:
        classifier.forget_active()


@pytest.mark.slow
def test_the_demo_city_has_early_warning(settings: Settings, tmp_path: Path) -> None:
    """`chengzhi demo --text-data FILE` trains the sentiment and type model before the requests come in, so that
    the worker labels them; the city has a sensitive-word list and the alerts of its history."""
    from chengzhi.warning.models import OutsidePost, SensitiveWord, TextLabel

    from .test_warning_sentiment import corpus

    data = tmp_path / "labelled.csv"
    data.write_text(
        "\n".join(["text,sentiment,type"] + [f"{e.text},{e.sentiment},{e.type}" for e in corpus()]), "utf-8"
    )
    summary = generate_demo_city(settings, seed=7, n_requests=N, now=NOW, text_data=data)
    assert summary["text_model"]["trained"] is True and summary["text_model"]["examples"] == 64
    assert set(summary["alerts"]) >= {"hot", "repeat", "burst"}
    # A message board's posts about its largest issues, placed into hot issues (never requests).
    assert summary["outside_posts"]["added"] >= 4
    with get_sessionmaker(settings.database_url)() as session:
        stored = session.scalars(select(OutsidePost)).all()
        assert len(stored) == summary["outside_posts"]["added"]
        assert all(p.issue_id is not None for p in stored)
        # The alerts are told as thresholds are crossed, not for the whole history (once 184 repeats at start).
        assert summary["alerts"]["repeat"] <= 30
        labelled = session.scalars(select(TextLabel)).all()
        assert len(labelled) == N
        assert {label.message_type for label in labelled} <= {"suggestion", "complaint", "consultation"}
        assert {w.word for w in session.scalars(select(SensitiveWord))} >= {"维权"}
    # A second city with the model file present uses it as it is.
    again = Settings(
        _env_file=None,
        database_url=f"sqlite:///{tmp_path / 'again.db'}",
        environment="test",
        warning_text_model=settings.warning_text_model,
    )
    try:
        assert generate_demo_city(again, seed=7, n_requests=40, now=NOW)["text_model"]["trained"] is False
    finally:
        get_engine(again.database_url).dispose()


def test_the_demo_city_takes_part(seven: Generated) -> None:
    """Comments (one waiting for a word of the sensitive-word list, one hidden by three reports), a follow, next month's focus
    topic candidates with residents' votes, and this month's topic chosen with a progress report."""
    settings, summary = seven
    assert summary["participation"] == {
        "comments": 4,
        "waiting": 1,
        "hidden": 1,
        "follows": 1,
        "topics": 4,
        "proposed": 1,
        "votes": 6,
    }
    with get_sessionmaker(settings.database_url)() as session:
        states = Counter(session.scalars(select(Comment.state)))
        assert states == {"published": 2, "pending": 1, "hidden": 1}
        held = session.scalars(select(Comment.held_for).where(Comment.state == "pending")).all()
        assert held == ["words: 拉横幅"]  # the early-warning domain's list holds it
        # The city's data hub subscribes to every event (its deliveries and replay buttons: /staff/webhooks). This
        # city's past (NOW is weeks before the clock) is too old to be delivered; the datasets the demo publishes
        # today are (open data sends `dataset.published`).
        assert summary["webhook"]["events"] == len(EVENT_TYPES)
        hub = session.scalars(select(WebhookSubscription)).one()
        assert hub.active and hub.events == list(EVENT_TYPES)
        delivered = Counter(session.scalars(select(WebhookDelivery.event_type)))
        assert set(delivered) == {"dataset.published"}, delivered
        chosen = session.scalars(select(FocusTopic).where(FocusTopic.state == "chosen")).all()
        assert [t.title for t in chosen] == ["背街小巷环境整治"] and chosen[0].lead_unit_id is not None
        votes = session.scalars(select(FocusTopic.votes).where(FocusTopic.state == "candidate")).all()
        assert sum(votes) == 6
