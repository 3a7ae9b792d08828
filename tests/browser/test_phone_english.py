"""The operators' intake form and the participation pages on a 390-pixel phone with an English browser: each page
is in English and nothing is wider than the screen (no sideways scrolling), also once the form's panels (the
caller's earlier requests, the category suggestion) have appeared. Screenshots in test-artifacts/ for a person."""

from __future__ import annotations

import datetime as dt

from playwright.sync_api import Page, expect

from chengzhi.db import get_sessionmaker, utcnow
from chengzhi.org.models import Unit
from chengzhi.participate.models import FocusProgress, FocusTopic

from .support import PASSWORD, LiveServer, screenshot
from .test_participation import _report, _request_id, _verify

WIDTH = 390


def _sign_in(page: Page, server: LiveServer, username: str, next_path: str) -> None:
    page.context.clear_cookies()
    page.goto(server.url(f"/login?next={next_path}"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(f"**{next_path}")


def _fits(page: Page, name: str) -> None:
    expect(page.locator("html")).to_have_attribute("lang", "en")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= WIDTH, f"{page.url} is {width}px wide on a {WIDTH}px phone"
    screenshot(page, f"phone-390-en-{name}")


def _topic(server: LiveServer) -> int:
    """A chosen focus topic with a progress report (its page shows goal, units, deadline and progress)."""
    with get_sessionmaker(server.database_url)() as session, session.begin():
        lead = session.query(Unit).filter(Unit.code == "D1").one()
        topic = FocusTopic(
            month=f"{utcnow():%Y-%m}",
            title="Broken streetlights on back streets",
            description="Residents report dark streets after 9 p.m.",
            state="chosen",
            votes=3,
            lead_unit_id=lead.id,
            co_unit_ids=[],
            goal="Every streetlight of the district's back streets working by the deadline.",
            deadline=utcnow().date() + dt.timedelta(days=28),
        )
        session.add(topic)
        session.flush()
        session.add(FocusProgress(topic_id=topic.id, text="42 of 60 streetlights repaired.", at=utcnow()))
        return topic.id


def test_operator_form_and_participation_pages_fit_a_phone_in_english(
    english_phone_page: Page, live_server: LiveServer
) -> None:
    server = live_server
    page = english_phone_page
    made = _report(
        server, "resident", "The streetlight at the east gate has been out for a week", "13912340390"
    )
    issue = _request_id(server, made["tracking_number"])
    topic = _topic(server)

    _sign_in(page, server, "operator", "/staff/intake")
    expect(page.get_by_role("heading", name="Phone intake")).to_be_visible()
    page.get_by_label("Caller's phone").press_sequentially("139 1234 0390")
    expect(page.locator("#caller")).to_contain_text(made["tracking_number"])  # the caller's earlier request
    page.get_by_label("What does the caller ask or report?").fill("The streetlight is still out")
    _fits(page, "intake")

    _verify(server, "resident2")
    _sign_in(page, server, "resident2", f"/issues/{issue}")
    expect(page.locator("h1")).to_contain_text("The streetlight at the east")  # a title: the text's start
    expect(page.get_by_role("button", name="Send comment")).to_be_visible()
    _fits(page, "issue")
    page.goto(server.url("/topics"))
    expect(page.get_by_role("heading", name="Monthly focus topics")).to_be_visible()
    _fits(page, "topics")
    page.goto(server.url(f"/topics/{topic}"))
    expect(page.locator("main")).to_contain_text("42 of 60 streetlights repaired.")
    _fits(page, "topic")
    page.goto(server.url("/notices"))
    _fits(page, "notices")

    _sign_in(page, server, "leader", "/staff/topics")
    expect(page.get_by_role("heading", name="Focus topics: leaders and units")).to_be_visible()
    _fits(page, "staff-topics")
    _sign_in(page, server, "supervisor", "/staff/comments")
    expect(page.get_by_role("heading", name="Comments to moderate")).to_be_visible()
    _fits(page, "staff-comments")
