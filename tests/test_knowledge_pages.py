"""The knowledge base's pages (docs/knowledge.md): editors write, publish, edit and withdraw articles with their
history and the expiry reminder; the operator answers a phone call with an article beside the intake form (the
event records the article and its version); residents see a sure answer on /submit; the report counts it all."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.app import create_app
from chengzhi.config import Settings
from chengzhi.db import get_sessionmaker
from chengzhi.knowledge.models import KnowledgeUse, UseOutcome
from chengzhi.knowledge.service import ArticleInput, create_article, publish_article
from chengzhi.org.models import Role
from chengzhi.org.service import Actor, RoleGrant
from chengzhi.requests.models import Request as RequestRow
from chengzhi.requests.models import RequestEvent

from .factories import City, make_user
from .test_knowledge import KB

PASSWORD = "demo-password-1"


@pytest.fixture
def web(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update={"knowledge_dense": False}))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def kb(settings: Settings, city: City) -> dict[int, int]:
    """The hand-made knowledge base, published; key -> article id."""
    actor = Actor(
        user_id=None, grants=(RoleGrant(Role.admin, city.units["city"].id, city.units["city"].path),)
    )
    ids = {}
    with get_sessionmaker(settings.database_url)() as session, session.begin():
        make_user(session, city, "kb-d1", Role.knowledge_editor, "D1")
        for key, question, answer in KB:
            made = create_article(session, actor, ArticleInput([question], answer, city.units["city"].id))
            publish_article(session, actor, made.id)
            ids[key] = made.id
    return ids


def sign_in(client: TestClient, username: str) -> None:
    client.cookies.clear()
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    response = client.post(
        "/login",
        data={"csrf_token": token.group(1), "username": username, "password": PASSWORD},
        follow_redirects=False,
    )
    assert response.status_code == 303


def csrf(client: TestClient, path: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert found
    return found.group(1)


def test_editor_writes_publishes_edits_and_withdraws(web: TestClient, kb: dict[int, int], city: City) -> None:
    assert web.get("/staff/knowledge", follow_redirects=False).headers["location"].startswith("/login")
    sign_in(web, "kb-d1")
    form = {
        "csrf_token": csrf(web, "/staff/knowledge/new"),
        "questions": "犬只怎么办理登记？\n养狗要登记吗",
        "answer": "到所在街道的犬类登记点办理，携带免疫证明。",
        "unit_id": str(city.units["D1"].id),
        "keywords": "养犬、登记",
        "valid_until": "2027-13-40",
    }
    bad = web.post("/staff/knowledge/new", data=form)
    assert bad.status_code == 422 and 'id="valid_until-error"' in bad.text
    form["valid_until"] = (dt.date.today() + dt.timedelta(days=10)).isoformat()
    made = web.post("/staff/knowledge/new", data=form, follow_redirects=False)
    assert made.status_code == 303
    path = made.headers["location"].split("?")[0]
    page = web.get(path)
    assert "犬只怎么办理登记？" in page.text and 'value="publish"' in page.text
    web.post(path, data={"csrf_token": csrf(web, path), "action": "publish"})
    form["csrf_token"] = csrf(web, path)
    form["answer"] = "到所在街道的犬类登记点办理，携带免疫证明和照片。"
    assert web.post(path, data=form, follow_redirects=False).status_code == 303
    page = web.get(path)
    assert ">2<" in page.text and "answer" in page.text  # version 2, the field that changed in the history
    assert [a["questions"][0] for a in web.get("/api/v1/knowledge/review").json()] == ["犬只怎么办理登记？"]
    listing = web.get("/staff/knowledge")
    assert "Due for review" in listing.text or "待复核" in listing.text  # valid until in 10 days
    web.post(path, data={"csrf_token": csrf(web, path), "action": "withdraw"})
    assert web.get("/staff/knowledge?status=withdrawn&lang=en").text.count("犬只怎么办理登记？") == 1
    # An editor of D1 may not write the city's articles: read-only page.
    city_article = web.get(f"/staff/knowledge/{kb[1]}")
    assert city_article.status_code == 200 and 'name="answer"' not in city_article.text


def test_operator_answers_a_call_with_an_article(
    web: TestClient, kb: dict[int, int], city: City, session: Session
) -> None:
    sign_in(web, "operator")
    fragment = web.get("/staff/intake/answers", params={"text": "居住证需要带什么材料"})
    assert f'data-article="{kb[1]}"' in fragment.text
    token = csrf(web, "/staff/intake")
    shown = [str(kb[1]), str(kb[2])]
    answered = web.post(
        "/staff/intake",
        data={"csrf_token": token, "text": "居住证需要带什么材料", "article_id": str(kb[1]), "shown": shown},
        follow_redirects=False,
    )
    assert answered.status_code == 303 and "answered=1" in answered.headers["location"]
    number = answered.headers["location"].split("done=")[1].split("&")[0]
    request = session.scalar(select(RequestRow).where(RequestRow.tracking_number == number))
    assert request is not None and request.answered_at_intake and request.channel == "phone"
    event = session.scalar(
        select(RequestEvent).where(RequestEvent.request_id == request.id, RequestEvent.action == "answer")
    )
    assert event is not None and event.payload["article"] == {"id": kb[1], "version": 1}
    # A call registered without the answers shown: those count as rejected.
    registered = web.post(
        "/staff/intake",
        data={"csrf_token": token, "text": "楼下餐馆油烟很大", "shown": [str(kb[4])], "address": "和平路1号"},
        follow_redirects=False,
    )
    assert registered.status_code == 303 and "answered" not in registered.headers["location"]
    session.rollback()
    outcomes = {(u.article_id, u.outcome) for u in session.scalars(select(KnowledgeUse))}
    assert outcomes == {(kb[1], UseOutcome.answered), (kb[4], UseOutcome.rejected)}
    api = web.get("/api/v1/knowledge/report").json()
    assert api["answered_at_intake"] == 1 and api["most_rejected"][0]["article_id"] == kb[4]
    report = web.get("/staff/knowledge/report?lang=en")
    assert report.status_code == 200 and "100% (1 / 1)" in report.text and "楼下餐馆油烟很大" in report.text
    # An article that is not published cannot answer a call.
    refused = web.post(
        "/staff/intake",
        data={"csrf_token": token, "text": "x", "article_id": "999999"},
        follow_redirects=False,
    )
    assert refused.status_code == 422


def test_resident_sees_a_sure_answer_and_says_it_did_not_help(
    web: TestClient, kb: dict[int, int], session: Session
) -> None:
    assert 'hx-get="/knowledge/hint"' in web.get("/submit").text
    hint = web.get("/knowledge/hint", params={"text": "租房可以取公积金吗"})
    assert f'value="{kb[2]}"' in hint.text
    assert web.get("/knowledge/hint", params={"text": "楼下餐馆油烟很大"}).text.strip() == ""
    token = csrf(web, "/submit")
    session.rollback()
    said = web.post(
        "/knowledge/hint/feedback",
        data={"csrf_token": token, "article_id": str(kb[2]), "helped": "no", "text": "租房可以取公积金吗"},
    )
    assert said.status_code == 200
    session.rollback()
    use = session.scalar(select(KnowledgeUse))
    assert use is not None and use.outcome is UseOutcome.not_helped and use.channel == "web"
    forged = web.post(
        "/knowledge/hint/feedback", data={"csrf_token": "x", "article_id": str(kb[2]), "helped": "yes"}
    )
    assert forged.status_code == 200
    session.rollback()
    assert len(session.scalars(select(KnowledgeUse)).all()) == 1
