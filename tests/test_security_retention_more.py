"""Retention of what the first retention tests do not plant: outbound messages recorded instead of sent (the Open311
form, notifications: residents' texts and contact data), comments on public issues (their author and the personal
data in their text), reports of comments and follows, supporters' keys, the resident of detail views, staff notes
on metric exclusions; and, by age, verification codes, ended sessions and topic votes. Each is planted for a
request closed before the period and one closed within it: only the first one's go, and only after the job ran."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.identity.models import DetailView, VerificationCode
from chengzhi.metrics.models import MetricExclusion
from chengzhi.org.models import UserSession
from chengzhi.outbound.models import OutboundRecord
from chengzhi.participate.models import Comment, CommentReport, FocusTopic, FocusVote, Follow
from chengzhi.requests.models import Request, RequestSupport
from chengzhi.requests.retention import anonymise_expired, months_before

from .factories import City
from .test_security_retention import EMAIL, ID_CARD, NAME, PHONE, closed_request

COMMENT = f"我也住这栋楼，我是resident2，找{NAME}或打{PHONE}，邮箱{EMAIL}，身份证{ID_CARD}"
PLANTED = (PHONE, EMAIL, ID_CARD, "小四", "resident2")


def _plant(session: Session, city: City, request: Request, at: dt.datetime) -> None:
    author, reporter = city.users["resident2"].id, city.users["resident"].id
    comment = Comment(
        request_id=request.id, user_id=author, text=COMMENT, state="published", reports=1, created_at=at
    )
    session.add(comment)
    session.flush()
    session.add(
        CommentReport(comment_id=comment.id, user_id=reporter, reason=f"他留了电话{PHONE}", created_at=at)
    )
    session.add(Follow(request_id=request.id, user_id=author, created_at=at))
    session.add(RequestSupport(request_id=request.id, supporter="f" * 64))
    session.add(
        DetailView(request_id=request.id, resident_id=reporter, viewer_id=None, fields=["phone"], at=at)
    )
    session.add(
        MetricExclusion(
            request_id=request.id, reason="unreasonable", note=f"{NAME}拒绝评价，电话{PHONE}", at=at
        )
    )
    for channel, to in (("open311", "https://unit.example/requests.json"), ("sms", PHONE), ("email", EMAIL)):
        session.add(
            OutboundRecord(
                channel=channel, recipient=to, reference=request.tracking_number,
                idempotency_key=f"{channel}-{request.id}", created_at=dt.datetime.now(dt.UTC),
                body={"description": request.text, "phone": PHONE, "email": EMAIL, "first_name": NAME},
            )
        )  # fmt: skip
    session.flush()


def _left(session: Session, request: Request) -> dict[str, object]:
    rid = request.id

    def count(model: type, *where: object) -> int:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)  # type: ignore[arg-type]

    comments = session.scalars(select(Comment).where(Comment.request_id == rid)).all()
    records = session.scalars(
        select(OutboundRecord).where(OutboundRecord.reference == request.tracking_number)
    )
    texts = [c.text for c in comments] + [f"{r.recipient} {r.body}" for r in records]
    texts += list(session.scalars(select(MetricExclusion.note).where(MetricExclusion.request_id == rid)))
    left: dict[str, object] = {
        "comments": len(comments),
        "authors": sum(c.user_id is not None for c in comments),
        "reports": count(CommentReport, CommentReport.comment_id.in_([c.id for c in comments])),
        "follows": count(Follow, Follow.request_id == rid),
        "outbound": count(OutboundRecord, OutboundRecord.reference == request.tracking_number),
        "supports": count(RequestSupport, RequestSupport.request_id == rid),
        "viewed_residents": count(
            DetailView, DetailView.request_id == rid, DetailView.resident_id.is_not(None)
        ),
        "detail_views": count(DetailView, DetailView.request_id == rid),
        "exclusions": count(MetricExclusion, MetricExclusion.request_id == rid),
        "planted": sorted({p for p in PLANTED for t in texts if p in t}),
    }
    return {k: v for k, v in left.items() if v}


def test_comments_and_recorded_messages_go_with_the_request(
    session: Session, settings: Settings, city: City, client: TestClient
) -> None:
    now = dt.datetime.now(dt.UTC)
    settings = settings.model_copy(update={"retention_months": 36})
    old = closed_request(session, settings, months_before(now, 37))
    recent = closed_request(session, settings, months_before(now, 35))
    session.commit()
    for request in (old, recent):
        _plant(session, city, request, request.closed_at or now)
    session.commit()
    everything = {"comments", "authors", "reports", "follows", "outbound", "supports", "viewed_residents"}
    everything |= {"detail_views", "exclusions", "planted"}
    assert set(_left(session, old)) == everything and set(_left(session, recent)) == everything
    assert _left(session, old)["planted"] == sorted(PLANTED)

    result = anonymise_expired(session, settings, now)
    session.commit()
    session.expire_all()
    assert result["anonymised"] == 1

    # The comment, the detail view (for audit) and the exclusion stay, without their person or personal data.
    assert _left(session, old) == {"comments": 1, "detail_views": 1, "exclusions": 1}
    assert set(_left(session, recent)) == everything and _left(session, recent)["planted"] == sorted(PLANTED)
    comment = session.scalars(select(Comment).where(Comment.request_id == old.id)).one()
    assert comment.text.startswith("我也住这栋楼") and comment.state == "published"

    # The public list shows it with no author and no "own" mark for anyone; the recent one keeps its author.
    shown = client.get(f"/api/v1/issues/{old.id}/comments").json()
    assert [c["author"] for c in shown] == ["*"] and PHONE not in shown[0]["text"]
    assert client.get(f"/api/v1/issues/{recent.id}/comments").json()[0]["author"] == "r********"
    page = client.get(f"/issues/{old.id}")
    assert page.status_code in (200, 404) and PHONE not in page.text and NAME not in page.text


def test_messages_codes_and_sessions_kept_apart_from_requests_go_by_age(
    session: Session, settings: Settings, city: City
) -> None:
    """Recorded messages about no request (a verification code's text), verification codes and ended sessions:
    deleted once older than the period (codes: a day after they expired); newer ones stay."""
    now = dt.datetime.now(dt.UTC)
    settings = settings.model_copy(update={"retention_months": 36})
    user_id = city.users["resident"].id
    for name, at in (("old", months_before(now, 37)), ("new", now - dt.timedelta(days=30))):
        session.add(
            OutboundRecord(
                channel="sms", recipient=PHONE, reference=f"verification {name}", idempotency_key=f"verify-{name}",
                body={"text": "城治验证码 123456"}, created_at=at,
            )
        )  # fmt: skip
        session.add(
            UserSession(
                user_id=user_id, token_hash=name * 16, created_at=at, last_seen_at=at,
                expires_at=at + dt.timedelta(hours=12), user_agent="Firefox", ip_prefix="203.0.113.0/24",
            )
        )  # fmt: skip
    for month in (months_before(now, 37).strftime("%Y-%m"), now.strftime("%Y-%m")):
        topic = FocusTopic(month=month, title="垃圾分类", votes=1)
        session.add(topic)
        session.flush()
        session.add(FocusVote(month=month, topic_id=topic.id, user_id=user_id, at=now))
    for name, expires in (("stale", now - dt.timedelta(days=2)), ("fresh", now + dt.timedelta(minutes=5))):
        session.add(
            VerificationCode(
                browser=name, channel="sms", target=PHONE, code_hash="0" * 64, created_at=expires,
                expires_at=expires, attempts=0,
            )
        )  # fmt: skip
    session.commit()

    result = anonymise_expired(session, settings, now)
    session.commit()
    assert result["outbound_records_deleted"] == 1
    assert result["verification_codes_deleted"] == 1 and result["sessions_deleted"] == 1
    assert result["votes_deleted"] == 1 and list(session.scalars(select(FocusVote.month))) == [
        now.strftime("%Y-%m")
    ]
    assert sorted(session.scalars(select(FocusTopic.votes))) == [1, 1]  # the counts stay
    assert list(session.scalars(select(OutboundRecord.reference))) == ["verification new"]
    assert list(session.scalars(select(VerificationCode.browser))) == ["fresh"]
    assert list(session.scalars(select(UserSession.token_hash).where(UserSession.user_id == user_id))) == [
        "new" * 16
    ]
    off = settings.model_copy(update={"retention_months": 0})
    assert anonymise_expired(session, off, now + dt.timedelta(days=3650)) == {
        "anonymised": 0,
        "retention": "off",
    }
