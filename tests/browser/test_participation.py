"""Residents taking part, in a real Chromium: on a phone a resident follows an issue and comments (a comment with a
listed word waits), a moderator rejects it on the desktop, another resident reports a comment; a leader proposes a
monthly focus topic, a resident votes on a phone, the leader chooses it and its page shows the outcome; an
operator takes a call with the keyboard only (the caller's earlier requests appear as the number is typed)."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import Page, expect
from sqlalchemy import select, update

from chengzhi.db import get_sessionmaker, utcnow
from chengzhi.org.models import User
from chengzhi.participate.models import Comment, Follow
from chengzhi.requests.models import Request as RequestRow

from ..steps import POINTS
from .support import PASSWORD, LiveServer, screenshot, wait_triaged
from .test_staff_flow import _sign_in


def _verify(server: LiveServer, *usernames: str) -> None:
    with get_sessionmaker(server.database_url)() as session, session.begin():
        session.execute(update(User).where(User.username.in_(usernames)).values(phone_verified_at=utcnow()))


def _report(server: LiveServer, username: str, text: str, phone: str) -> dict[str, Any]:
    token = httpx.post(
        server.url("/api/v1/auth/token"), json={"username": username, "password": PASSWORD}
    ).json()["access_token"]
    lon, lat = POINTS["D1S1C1"]
    body = {"text": text, "category": "litter", "lat": lat, "lon": lon, "contact_phone": phone}
    made = httpx.post(server.url("/api/v1/requests"), json=body, headers={"Authorization": f"Bearer {token}"})
    assert made.status_code == 201, made.text
    result: dict[str, Any] = made.json()["request"]
    # The server's triage worker reads it first: its batch and the sign-in's write would meet at SQLite's one lock.
    wait_triaged(server, result["tracking_number"])
    return result


def _request_id(server: LiveServer, number: str) -> int:
    with get_sessionmaker(server.database_url)() as session:
        found = session.scalar(select(RequestRow.id).where(RequestRow.tracking_number == number))
        assert found is not None
        return found


def test_comment_follow_moderate_and_report(
    mobile_page: Page, desktop_page: Page, live_server: LiveServer
) -> None:
    server = live_server
    made = _report(server, "resident", "小区东门垃圾桶满了没人清", "13912340011")
    issue = _request_id(server, made["tracking_number"])
    _verify(server, "resident2")

    page = mobile_page
    _sign_in(page, server, "resident2", f"/issues/{issue}")
    expect(page.get_by_role("heading", name="小区东门垃圾桶满了没人清")).to_be_visible()
    page.get_by_role("button", name="关注", exact=True).click()
    expect(page.locator("#result")).to_contain_text("已关注")
    expect(page.get_by_text("您已关注此问题", exact=True)).to_be_visible()
    page.get_by_label("您的评论").fill("物业都是骗子")
    page.get_by_role("button", name="发表评论").click()
    expect(page.locator("#result")).to_contain_text("审核通过后显示")
    expect(page.locator(".comments")).to_have_count(0)
    page.get_by_label("您的评论").fill("我家楼下也是，希望尽快处理")
    page.get_by_role("button", name="发表评论").click()
    expect(page.locator("#result")).to_contain_text("您的评论已发布")
    expect(page.locator(".comments")).to_contain_text("我家楼下也是，希望尽快处理")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the issue page is wider than the phone: {width}px"
    screenshot(page, "participation-issue-mobile")

    staff = desktop_page
    _sign_in(staff, server, "supervisor", "/staff/comments")
    held = staff.locator(".card", has_text="物业都是骗子")
    expect(held).to_contain_text("含敏感词：骗子")
    screenshot(staff, "participation-moderation")
    held.get_by_role("button", name="驳回").click()
    expect(staff.locator("#result")).to_contain_text("评论已驳回")
    expect(staff.locator("main")).not_to_contain_text("物业都是骗子")

    _verify(server, "resident")
    _sign_in(page, server, "resident", f"/issues/{issue}")
    page.get_by_role("button", name="举报第 1 条评论为不当内容").click()
    expect(page.locator("#result")).to_contain_text("感谢举报")
    expect(page.get_by_text("您已举报此评论")).to_be_visible()
    with get_sessionmaker(server.database_url)() as session:
        states = dict(
            session.execute(select(Comment.text, Comment.state).where(Comment.request_id == issue)).all()
        )
        assert states == {"物业都是骗子": "rejected", "我家楼下也是，希望尽快处理": "published"}
        assert session.scalar(select(Follow.id).where(Follow.request_id == issue)) is not None


def test_monthly_focus_topic_vote_and_choice(
    mobile_page: Page, desktop_page: Page, live_server: LiveServer
) -> None:
    server = live_server
    leader = desktop_page
    _sign_in(leader, server, "leader", "/staff/topics")
    leader.get_by_label("标题").fill("老旧小区加装电梯")
    leader.get_by_role("button", name="提出", exact=True).click()
    expect(leader.locator("#result")).to_contain_text("候选议题已提出")

    resident = mobile_page
    _verify(server, "resident")
    _sign_in(resident, server, "resident", "/topics")
    resident.get_by_role("button", name="投票给：老旧小区加装电梯").click()
    expect(resident.locator("#result")).to_contain_text("您的一票已计入")
    card = resident.locator(".card", has_text="老旧小区加装电梯")
    expect(card).to_contain_text("您的投票")
    expect(card).to_contain_text("1 票")
    screenshot(resident, "participation-topics-mobile")

    leader.goto(server.url("/staff/topics"))
    candidate = leader.locator("details", has_text="老旧小区加装电梯")
    candidate.locator("summary").click()
    candidate.get_by_label("主办单位").select_option(label="D1中文")
    candidate.get_by_label("目标").fill("年内完成 30 部")
    candidate.get_by_label("期限").fill("2027-06-30")
    candidate.get_by_role("button", name="确定为本月议题").click()
    expect(leader.locator("#result")).to_contain_text("议题已确定")
    chosen = leader.locator("details", has_text="老旧小区加装电梯")
    chosen.locator("summary").click()
    chosen.get_by_label("进展通报").fill("已完成 31 部")
    chosen.get_by_label("这是办理结果：办结此议题").check()
    chosen.get_by_role("button", name="发布通报").click()
    expect(leader.locator("#result")).to_contain_text("进展通报已在议题页面发布")

    resident.goto(server.url("/topics"))
    resident.get_by_role("link", name="老旧小区加装电梯").click()
    expect(resident.locator("#outcome")).to_have_text("已完成 31 部")
    expect(resident.locator("main")).to_contain_text("年内完成 30 部")
    screenshot(resident, "participation-topic-mobile")


def test_operator_takes_a_call_by_keyboard(desktop_page: Page, live_server: LiveServer) -> None:
    server = live_server
    earlier = _report(server, "resident", "路灯不亮已经一周了", "13912349900")
    page = desktop_page
    _sign_in(page, server, "operator", "/staff/intake")
    phone = page.get_by_label("来电号码")
    expect(phone).to_be_focused()  # the call starts at the number
    page.keyboard.type("139 1234 9900")
    caller = page.locator("#caller")
    expect(caller).to_contain_text(earlier["tracking_number"])
    expect(caller).to_contain_text("网站")
    page.keyboard.press("Tab")
    expect(page.get_by_label("来电人咨询或反映什么？")).to_be_focused()
    page.keyboard.type("路灯还是不亮，上周已经反映过")
    screenshot(page, "intake-keyboard")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#result")).to_contain_text("已登记")
    number = page.locator("#result").inner_text().split("诉求 ")[1].split(" ")[0]
    expect(page.get_by_label("来电号码")).to_be_focused()  # ready for the next call
    with get_sessionmaker(server.database_url)() as session:
        row = session.scalar(select(RequestRow).where(RequestRow.tracking_number == number))
        assert row is not None and row.channel == "phone" and row.contact_phone == "139 1234 9900"
    page.goto(server.url(f"/staff/requests/{number}"))
    expect(page.locator(".person-requests")).to_contain_text(earlier["tracking_number"])
