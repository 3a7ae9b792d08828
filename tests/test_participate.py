"""Residents taking part: comments on public issues with pre- or post-moderation, the sensitive-word list, reports of
abuse; following an issue brings its steps to the follower's notifications."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.db import get_sessionmaker, utcnow
from chengzhi.notify.models import Notification
from chengzhi.org.models import User

from .conftest import auth
from .factories import City, give_level
from .steps import dispatch, submit


def verify(settings: Settings, *usernames: str) -> None:
    """These accounts verified a phone number (identity level 1), as commenting, following and voting need."""
    with get_sessionmaker(settings.database_url)() as db, db.begin():
        db.execute(update(User).where(User.username.in_(usernames)).values(phone_verified_at=utcnow()))


def _verified(session: Session, city: City, *usernames: str) -> None:
    """Level 1 (a verified phone): what commenting and following need by default."""
    for name in usernames:
        user = session.get(User, city.users[name].id)
        assert user is not None
        give_level(session, user, 1)
    session.commit()


def test_commenting_and_following_need_the_level_the_city_sets(
    client: TestClient, settings: Settings, city: City, session: Session
) -> None:
    """Level 1 by default (a verified phone or e-mail); stopping following needs none; a city may ask for more."""
    request = submit(session, settings, utcnow())
    session.commit()
    resident = auth(client, "resident2")
    comments, follow = f"/api/v1/issues/{request.id}/comments", f"/api/v1/issues/{request.id}/follow"
    refused = client.post(comments, json={"text": "我家楼下也是"}, headers=resident)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "identity_level_required"
    assert "1" in refused.json()["error"]["message"]
    assert client.put(follow, headers=resident).json()["error"]["code"] == "identity_level_required"
    assert client.delete(follow, headers=resident).status_code == 200
    assert client.get(comments).json() == []
    _verified(session, city, "resident2")
    assert client.post(comments, json={"text": "我家楼下也是"}, headers=resident).status_code == 201
    assert client.put(follow, headers=resident).json() == {"following": True}
    client.app.state.settings = settings.model_copy(  # type: ignore[attr-defined]
        update={"identity_levels": {**settings.identity_levels, "comment": 2}}
    )
    again = client.post(comments, json={"text": "还是没修好"}, headers=resident)
    assert again.status_code == 403 and again.json()["error"]["code"] == "identity_level_required"


def test_post_moderation_words_and_reports(
    client: TestClient, settings: Settings, city: City, session: Session
) -> None:
    client.app.state.settings = settings.model_copy(  # type: ignore[attr-defined]
        update={"comment_hide_after_reports": 2}
    )
    # The early-warning domain's sensitive-word list (administrators edit it) holds comments too.
    listed = client.post(
        "/api/v1/warning/sensitive-words", json={"word": "骗 子"}, headers=auth(client, "admin")
    )
    assert listed.status_code == 201
    request = submit(session, settings, utcnow())
    session.commit()
    url = f"/api/v1/issues/{request.id}/comments"
    assert client.post(url, json={"text": "我家楼下也是"}).status_code == 401
    resident = auth(client, "resident2")
    unverified = client.post(url, json={"text": "我家楼下也是"}, headers=resident)
    assert unverified.status_code == 403 and unverified.json()["error"]["code"] == "identity_level_required"
    verify(settings, "resident2")
    resident = auth(client, "resident2")  # a new sign-in carries the new level
    made = client.post(url, json={"text": "我家楼下也是，希望尽快处理"}, headers=resident)
    assert made.status_code == 201 and made.json()["state"] == "published"
    assert made.json()["author"] == "r********"  # the display name masked
    held = client.post(url, json={"text": "物业都是骗 子"}, headers=resident)  # spaces do not hide a word
    assert held.json()["state"] == "pending" and held.json()["held_for"] == "words: 骗子"
    assert [c["text"] for c in client.get(url).json()] == ["我家楼下也是，希望尽快处理"]

    comment = made.json()["id"]
    for who in ("resident", "operator"):
        answer = client.post(
            f"/api/v1/comments/{comment}/report", json={"reason": "广告"}, headers=auth(client, who)
        )
        assert answer.status_code == 200
    assert client.get(url).json() == []  # hidden by two reports

    assert client.get("/api/v1/comments/waiting", headers=resident).status_code == 403
    supervisor = auth(client, "supervisor")
    waiting = client.get("/api/v1/comments/waiting", headers=supervisor).json()
    assert {c["held_for"] for c in waiting} == {"words: 骗子", "reports"}
    restored = client.post(
        f"/api/v1/comments/{comment}/moderation", json={"decision": "publish"}, headers=supervisor
    )
    assert restored.json()["state"] == "published"
    client.post(
        f"/api/v1/comments/{held.json()['id']}/moderation", json={"decision": "reject"}, headers=supervisor
    )
    assert [c["id"] for c in client.get(url).json()] == [comment]


def test_pre_moderation_holds_every_comment(
    client: TestClient, settings: Settings, city: City, session: Session
) -> None:
    client.app.state.settings = settings.model_copy(update={"comment_moderation": "pre"})  # type: ignore[attr-defined]
    request = submit(session, settings, utcnow())
    _verified(session, city, "resident2")
    made = client.post(
        f"/api/v1/issues/{request.id}/comments", json={"text": "支持"}, headers=auth(client, "resident2")
    )
    assert made.json()["state"] == "pending" and made.json()["held_for"] == "pre-moderation"
    assert client.get(f"/api/v1/issues/{request.id}/comments").json() == []
    admin = auth(client, "admin")
    word = client.post("/api/v1/warning/sensitive-words", json={"word": "维权"}, headers=admin).json()
    both = client.post(
        f"/api/v1/issues/{request.id}/comments",
        json={"text": "我们要维权"},
        headers=auth(client, "resident2"),
    )
    assert both.json()["held_for"] == "pre-moderation; words: 维权"  # the moderator is told both reasons
    assert client.delete(f"/api/v1/warning/sensitive-words/{word['id']}", headers=admin).status_code == 204
    again = client.post(
        f"/api/v1/issues/{request.id}/comments",
        json={"text": "我们要维权"},
        headers=auth(client, "resident2"),
    )
    assert again.json()["held_for"] == "pre-moderation"  # a word taken off the list holds nothing
    assert (
        client.post(
            "/api/v1/issues/999999/comments", json={"text": "x"}, headers=auth(client, "resident2")
        ).status_code
        == 404
    )


def test_followers_hear_the_steps(
    client: TestClient, settings: Settings, city: City, session: Session
) -> None:
    request = submit(session, settings, utcnow())
    session.commit()
    follower = auth(client, "resident2")
    refused = client.put(f"/api/v1/issues/{request.id}/follow", headers=follower)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "identity_level_required"
    verify(settings, "resident2")
    follower = auth(client, "resident2")
    assert client.put(f"/api/v1/issues/{request.id}/follow", headers=follower).json() == {"following": True}
    assert (
        client.put(f"/api/v1/issues/{request.id}/follow", headers=follower).status_code == 200
    )  # idempotent
    dispatch(session, settings, request, "D1S1C1", utcnow())
    session.commit()
    user_id = city.users["resident2"].id
    mine = session.scalars(select(Notification).where(Notification.user_id == user_id)).all()
    assert [(n.kind, n.channel) for n in mine] == [("dispatched", "in_app")]  # no e-mail address, no SMS
    inbox = client.get("/api/v1/notifications?lang=en", headers=follower).json()
    assert inbox["items"][0]["subject"].startswith(f"Request {request.tracking_number} sent to")
    assert client.delete(f"/api/v1/issues/{request.id}/follow", headers=follower).json() == {
        "following": False
    }


def test_monthly_focus_topics(client: TestClient, settings: Settings, city: City) -> None:
    leader, resident = auth(client, "leader"), auth(client, "resident")
    made = client.post(
        "/api/v1/topics",
        json={"month": "2027-01", "title": "老旧小区停车难", "category_code": "litter"},
        headers=leader,
    )
    assert made.status_code == 201 and made.json()["state"] == "candidate"
    other = client.post("/api/v1/topics", json={"month": "2027-01", "title": "夜间施工噪声"}, headers=leader)
    assert (
        client.post("/api/v1/topics", json={"month": "2027-01", "title": "x"}, headers=resident).status_code
        == 403
    )
    topic = made.json()["id"]
    unverified = client.post(f"/api/v1/topics/{topic}/vote", headers=resident)
    assert unverified.status_code == 403 and unverified.json()["error"]["code"] == "identity_level_required"
    verify(settings, "resident")
    resident = auth(client, "resident")
    assert client.post(f"/api/v1/topics/{topic}/vote", headers=resident).json()["votes"] == 1
    again = client.post(f"/api/v1/topics/{other.json()['id']}/vote", headers=resident)
    assert again.status_code == 409  # one vote a month
    assert client.post(f"/api/v1/topics/{topic}/vote", headers=leader).status_code == 403  # residents vote
    assert [t["title"] for t in client.get("/api/v1/topics?month=2027-01").json()] == [
        "老旧小区停车难",
        "夜间施工噪声",
    ]

    chosen = client.post(
        f"/api/v1/topics/{topic}/choose",
        json={
            "lead_unit_id": city.units["D1"].id,
            "co_unit_ids": [city.units["D1-water"].id],
            "goal": "新增 500 个车位",
            "deadline": "2027-03-31",
        },
        headers=leader,
    )
    assert chosen.json()["state"] == "chosen" and chosen.json()["lead_unit"] == "D1中文"
    handler = auth(client, "d1s1-handler")
    client.post(f"/api/v1/topics/{topic}/progress", json={"text": "已摸排 12 个小区"}, headers=handler)
    done = client.post(
        f"/api/v1/topics/{topic}/progress", json={"text": "新增车位 520 个", "outcome": True}, headers=leader
    ).json()
    assert done["state"] == "done" and done["outcome"] == "新增车位 520 个"
    assert [p["text"] for p in done["progress"]] == ["已摸排 12 个小区", "新增车位 520 个"]
