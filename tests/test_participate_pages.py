"""Participation in the pages (server-rendered, no JavaScript needed): an issue's page with comments, following
and reports of abuse, the moderators' queue, monthly focus topics for residents and leaders (candidates from the
early-warning domain's hot issues). Both databases; the browser tests drive the same pages in Chromium."""

from __future__ import annotations

import datetime as dt
import re

from fastapi.testclient import TestClient
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.db import utcnow
from chengzhi.participate.models import Comment, FocusTopic, Follow
from chengzhi.warning.models import HotIssue, HotIssueMember, SensitiveWord

from .factories import City
from .steps import submit
from .test_pages_staff import sign_in
from .test_participate import verify


def csrf(client: TestClient, path: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert found, path
    return found.group(1)


def post(client: TestClient, path: str, data: dict[str, str], page: str) -> tuple[int, str, str]:
    """Post a page's form (with the session's CSRF token); the status, the redirect target, the text."""
    answer = client.post(path, data={"csrf_token": csrf(client, page), **data}, follow_redirects=False)
    return answer.status_code, answer.headers.get("location", ""), answer.text


def test_issue_page_comments_following_and_reports(
    client: TestClient, settings: Settings, city: City, session: Session
) -> None:
    session.add(SensitiveWord(word="骗子"))  # the early-warning domain's list, as an administrator adds to it
    request = submit(session, settings, utcnow())
    session.commit()
    page = f"/issues/{request.id}"
    anonymous = client.get(page)
    assert anonymous.status_code == 200 and "登录后可关注和评论此问题" in anonymous.text
    assert 'href="/issues/' in client.get("/issues").text  # the list links each issue's page
    for missing in ("/issues/999999", "/issues/abc", "/issues/99999999999999"):
        assert client.get(missing).status_code == 404
    assert post(client, f"{page}/comments", {"text": "x"}, page)[1].startswith("/login")

    sign_in(client, "resident2")  # identity level 0: sent to verify a phone first, and back
    assert "验证手机号或电子邮箱后可关注和评论问题" in client.get(page).text
    status, target, _ = post(client, f"{page}/comments", {"text": "我家楼下也是"}, page)
    assert status == 303 and target.startswith("/verify?level=1")
    verify(settings, "resident2")

    status, target, _ = post(client, f"{page}/comments", {"text": "我家楼下也是，希望尽快处理"}, page)
    assert (status, target) == (303, f"{page}?done=published#comments")
    shown = client.get(target).text
    assert "您的评论已发布" in shown and "我家楼下也是，希望尽快处理" in shown and "r********" in shown
    post(client, f"{page}/comments", {"text": "有事打我电话13912345678"}, page)
    shown = client.get(page).text
    assert "有事打我电话***********" in shown and "13912345678" not in shown  # masked for the public
    status, target, _ = post(client, f"{page}/comments", {"text": "物业都是骗子"}, page)
    assert target == f"{page}?done=pending#comments" and "物业都是骗子" not in client.get(page).text
    status, _, text = post(client, f"{page}/comments", {"text": "   "}, page)
    assert (
        status == 422 and "请填写 1 至 2000 字的评论" in text
    )  # the form again with the message, never a 500
    bad = client.post(f"{page}/comments", data={"csrf_token": "forged", "text": "x"}, follow_redirects=False)
    assert bad.status_code == 400 and "CSRF" in bad.text

    status, target, _ = post(client, f"{page}/follow", {"on": "1"}, page)
    assert target == f"{page}?done=followed#follow" and "您已关注此问题" in client.get(page).text
    user_id = city.users["resident2"].id
    assert session.scalar(select(Follow.id).where(Follow.user_id == user_id)) is not None
    post(client, f"{page}/follow", {"on": "0"}, page)
    session.rollback()  # a new snapshot
    assert session.scalar(select(Follow.id).where(Follow.user_id == user_id)) is None

    session.rollback()
    published = session.scalar(select(Comment).where(Comment.state == "published"))
    assert published is not None
    sign_in(client, "resident")  # reporting needs no verified phone, once per person
    status, target, _ = post(client, f"/comments/{published.id}/report", {}, page)
    assert target == f"{page}?done=reported#comments" and "您已举报此评论" in client.get(page).text
    assert client.post("/comments/abc/report", data={}).status_code == 404

    english = client.get(f"{page}?lang=en").text
    assert "Comments (2)" in english and "You reported this comment" in english
    sign_in(client, "supervisor")  # the moderator is told which listed word held the comment
    queue = client.get("/staff/comments?lang=en").text
    assert "物业都是骗子" in queue and "Holds a word of the sensitive-word list: 骗子" in queue
    assert "含敏感词：骗子" in client.get("/staff/comments?lang=zh").text


def test_moderators_queue(client: TestClient, settings: Settings, city: City, session: Session) -> None:
    client.app.state.settings = settings.model_copy(update={"comment_moderation": "pre"})  # type: ignore[attr-defined]
    request = submit(session, settings, utcnow())
    session.commit()
    verify(settings, "resident2")
    sign_in(client, "resident2")
    page = f"/issues/{request.id}"
    assert "评论经审核后显示" in client.get(page).text
    post(client, f"{page}/comments", {"text": "路灯坏了三天了"}, page)
    assert client.get("/staff/comments").status_code == 403

    sign_in(client, "supervisor")
    queue = client.get("/staff/comments")
    assert queue.status_code == 200 and "路灯坏了三天了" in queue.text and "先审后发" in queue.text
    assert 'href="/staff/comments"' in queue.text  # in the header for moderators
    session.rollback()
    comment = session.scalar(select(Comment.id))
    status, _, text = post(client, f"/staff/comments/{comment}", {"decision": "delete"}, "/staff/comments")
    assert status == 422 and "publish, hide or reject" in text
    status, target, _ = post(client, f"/staff/comments/{comment}", {"decision": "publish"}, "/staff/comments")
    assert target == "/staff/comments?done=publish" and "没有待审核的评论" in client.get(target).text
    assert "路灯坏了三天了" in client.get(page).text


def make_hot_issue(session: Session, city: City, request_ids: list[int]) -> int:
    """One hot issue holding these requests (in place of wherever triage put them)."""
    now = utcnow()
    session.execute(delete(HotIssueMember).where(HotIssueMember.request_id.in_(request_ids)))
    issue = HotIssue(name="万科城停车难", place_or_group="万科城", message_count=len(request_ids))
    issue.first_at, issue.last_at = now - dt.timedelta(days=2), now
    session.add(issue)
    session.flush()
    for k, request_id in enumerate(request_ids):
        session.add(
            HotIssueMember(
                request_id=request_id,
                issue_id=issue.id,
                received_at=now - dt.timedelta(hours=k),
                person=f"person-{k}",
                unit_path=city.units["D1S1C1"].path,
            )
        )
    session.commit()
    return issue.id


def test_a_vote_page_asks_who_calls_before_which_topic(
    client: TestClient, settings: Settings, city: City
) -> None:
    """A topic that does not exist (or a form without its token) is the input's fault only for someone who may
    vote: anyone else gets the refusal of their role or level first (the authorisation matrix's halves found the
    page answering 422 to every role where no topic 1 existed)."""
    sign_in(client, "d1s1-handler")
    for form in ({}, {"csrf_token": csrf(client, "/topics")}):
        answer = client.post("/topics/424242/vote", data=form, follow_redirects=False)
        assert answer.status_code == 403, answer.text[:300]
    sign_in(client, "resident")  # a resident without a verified phone: asked to verify first
    answer = client.post("/topics/424242/vote", data={}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/verify?"), answer.headers
    verify(settings, "resident")
    status, _, _text = post(client, "/topics/424242/vote", {}, "/topics")
    assert status == 422
    client.cookies.clear()
    answer = client.post("/topics/424242/vote", data={}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


def test_focus_topics_from_hot_issue_to_outcome(
    client: TestClient, settings: Settings, city: City, session: Session
) -> None:
    requests = [submit(session, settings, utcnow(), phone=f"1391234000{k}") for k in range(3)]
    session.commit()
    issue_id = make_hot_issue(session, city, [r.id for r in requests])

    sign_in(client, "leader")
    staff = client.get("/staff/topics")
    assert staff.status_code == 200 and "提为候选议题：万科城停车难" in staff.text  # from early warning
    month = re.search(r'name="month" value="(\d{4}-\d{2})"', staff.text)
    assert month
    status, target, _ = post(
        client,
        "/staff/topics",
        {"month": month.group(1), "title": "万科城停车难", "hot_issue_id": str(issue_id)},
        "/staff/topics",
    )
    assert target == "/staff/topics?done=proposed"
    assert "提为候选议题：万科城停车难" not in client.get("/staff/topics").text  # offered once
    post(client, "/staff/topics", {"month": month.group(1), "title": "夜间施工噪声"}, "/staff/topics")
    status, _, text = post(client, "/staff/topics", {"month": "2027-13", "title": "x"}, "/staff/topics")
    assert status == 422 and "请按 YYYY-MM" in text
    status, _, text = post(
        client, "/staff/topics", {"month": "2027-01", "title": "x", "hot_issue_id": "424242"}, "/staff/topics"
    )
    assert status == 404
    session.rollback()
    topic = session.scalar(select(FocusTopic).where(FocusTopic.hot_issue_id == issue_id))
    assert topic is not None

    sign_in(client, "resident")
    assert "验证手机号或电子邮箱后可投票" in client.get("/topics").text
    verify(settings, "resident")
    status, target, _ = post(client, f"/topics/{topic.id}/vote", {}, "/topics")
    assert target == f"/topics?done=voted#topic-{topic.id}"
    listing = client.get(target).text
    assert "您的一票已计入" in listing and "您的投票" in listing and "1 票" in listing
    other = session.scalar(select(FocusTopic.id).where(FocusTopic.title == "夜间施工噪声"))
    status, _, text = post(client, f"/topics/{other}/vote", {}, "/topics")
    assert status == 409 and "one vote per month" in text

    sign_in(client, "leader")
    status, _, text = post(
        client, f"/staff/topics/{topic.id}/choose", {"goal": "新增车位", "deadline": "soon"}, "/staff/topics"
    )
    assert status == 422 and "请填写目标和期限" in text
    chosen = {
        "lead_unit": str(city.units["D1"].id),
        "co_units": str(city.units["D1-water"].id),
        "goal": "新增 500 个车位",
        "deadline": "2027-03-31",
    }
    assert post(client, f"/staff/topics/{topic.id}/choose", chosen, "/staff/topics")[1].endswith("chosen")
    sign_in(client, "d1s1-handler")
    post(client, f"/staff/topics/{topic.id}/progress", {"text": "已摸排 12 个小区"}, "/staff/topics")
    post(
        client,
        f"/staff/topics/{topic.id}/progress",
        {"text": "新增车位 520 个", "outcome": "1"},
        "/staff/topics",
    )
    sign_in(client, "resident")
    assert client.get("/staff/topics").status_code == 403

    shown = client.get(f"/topics/{topic.id}").text
    assert "新增 500 个车位" in shown and "已摸排 12 个小区" in shown and "D1中文" in shown
    assert 'id="outcome">新增车位 520 个' in shown
    assert sum(f'href="/issues/{r.id}"' in shown for r in requests) == 3  # the hot issue's requests
    assert "13912340001" not in shown
    assert client.get("/topics/0").status_code == 404
    assert "Monthly focus topics" in client.get(f"/topics/{topic.id}?lang=en").text
