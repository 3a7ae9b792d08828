"""The knowledge base at intake, in a real browser: an operator types a caller's question into the phone-intake
form, the answers appear beside it as they type (htmx), and one click answers the call with an article (the
event records the article and its version). A resident writing on /submit sees "this may answer your question"
and says it did not help; the editors' report lists it."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from sqlalchemy import select

from chengzhi.db import get_sessionmaker
from chengzhi.knowledge.models import KnowledgeUse, UseOutcome
from chengzhi.knowledge.service import ArticleInput, create_article, publish_article
from chengzhi.org.models import Role, Unit
from chengzhi.org.service import Actor, RoleGrant
from chengzhi.requests.models import Request as RequestRow
from chengzhi.requests.models import RequestEvent

from ..test_knowledge import KB
from .support import LiveServer, screenshot, wait_triaged
from .test_staff_flow import _sign_in


def _publish_articles(server: LiveServer) -> dict[int, int]:
    with get_sessionmaker(server.database_url)() as session, session.begin():
        city = session.scalar(select(Unit).where(Unit.code == "city"))
        assert city is not None
        actor = Actor(user_id=None, grants=(RoleGrant(Role.admin, city.id, city.path),))
        ids = {}
        for key, question, answer in KB:
            made = create_article(session, actor, ArticleInput([question], answer, city.id))
            publish_article(session, actor, made.id)
            ids[key] = made.id
        return ids


def test_operator_answers_a_call_from_the_knowledge_base(desktop_page: Page, live_server: LiveServer) -> None:
    page, server = desktop_page, live_server
    ids = _publish_articles(server)
    _sign_in(page, server, "operator", "/staff/intake")
    question = page.get_by_label("来电人咨询或反映什么？")
    question.fill("来电咨询居住证需要带什么材料")
    question.press("End")
    panel = page.locator("#kb-answers")
    card = panel.locator(f'[data-article="{ids[1]}"]')
    expect(card).to_be_visible()
    expect(card).to_contain_text("携带身份证和租房合同")
    screenshot(page, "knowledge-intake")
    card.get_by_role("button", name="用此答复来电").click()
    expect(page.locator("#result")).to_contain_text("已登记并即时答复")
    number = page.locator("#result").inner_text().split("诉求 ")[1].split(" ")[0]
    wait_triaged(
        server, number
    )  # the server's worker reads it before the test's next writes (SQLite's one lock)
    with get_sessionmaker(server.database_url)() as session:
        request = session.scalar(select(RequestRow).where(RequestRow.tracking_number == number))
        assert request is not None and request.answered_at_intake and request.channel == "phone"
        event = session.scalar(
            select(RequestEvent).where(RequestEvent.request_id == request.id, RequestEvent.action == "answer")
        )
        assert event is not None and event.payload["article"] == {"id": ids[1], "version": 1}
        assert event.payload["text"].startswith("携带身份证和租房合同")

    # A resident writing on /submit is shown the sure answer, and says it did not help.
    page.context.clear_cookies()
    page.goto(server.url("/submit"))
    text = page.get_by_label("您要反映什么问题？")
    text.fill("租房可以取公积金吗")
    text.press("End")
    hint = page.locator("#kb-hint")
    expect(hint).to_contain_text("这也许能解答您的问题")
    expect(hint).to_contain_text("租房提取住房公积金")
    hint.get_by_role("button", name="没有，我仍要提交诉求").click()
    expect(hint).to_contain_text("请在下方提交诉求")
    with get_sessionmaker(server.database_url)() as session:
        outcomes = [(u.article_id, u.outcome) for u in session.scalars(select(KnowledgeUse))]
    assert (ids[1], UseOutcome.answered) in outcomes and (ids[2], UseOutcome.not_helped) in outcomes

    _sign_in(page, server, "operator", "/staff/knowledge/report")
    expect(page.get_by_role("heading", name="已展示但未解决问题")).to_be_visible()
    expect(page.locator("main")).to_contain_text("租房可以取公积金吗")
