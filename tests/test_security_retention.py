"""Retention: N months after closing, a request's personal data are gone from the request and its event log, and
nothing else changes (its projection still equals the fold of its log); recent and open requests keep theirs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chengzhi.config import Settings
from chengzhi.embeddings import text_key
from chengzhi.jobs import service as jobs
from chengzhi.knowledge.models import KnowledgeArticle, KnowledgeUse, UseOutcome
from chengzhi.notify.models import Notification
from chengzhi.open311.models import Open311InboundUpdate, Open311Key, Open311RequestAccount
from chengzhi.requests import service as requests_service
from chengzhi.requests.log import state_of, steps_of
from chengzhi.requests.models import Photo, PhotoToken, Request, RequestEvent
from chengzhi.requests.photos import add_photo, photo_token_for
from chengzhi.requests.retention import anonymise_expired, months_before
from chengzhi.requests.workflow import fold
from chengzhi.routing import text as textpipe
from chengzhi.routing.classifier_features import ClassifierConfig
from chengzhi.routing.classifier_models import TextVector
from chengzhi.routing.triage import words_of
from chengzhi.routing.triage_models import DuplicateBand, DuplicateSignature, RequestTriage
from chengzhi.warning.models import HotIssue, HotIssueMember

from . import steps
from .factories import City
from .test_photos import image_bytes

PHONE, EMAIL, ID_CARD, NAME = "13912345678", "li.si@example.org", "11010519491231002X", "李小四"
TEXT = f"楼道堆满垃圾。联系人：{NAME}，电话{PHONE}，邮箱{EMAIL}，身份证{ID_CARD}"
PLANTED = (PHONE, EMAIL, ID_CARD, "小四", PHONE[-4:] + "，")


def closed_request(session: Session, settings: Settings, closed_at: dt.datetime) -> Request:
    """A request through its whole life, with personal data planted in its text, reply and notes."""
    start = closed_at - dt.timedelta(days=3)
    request = steps.submit(session, settings, start, phone=PHONE)
    request.text, request.title, request.contact_name = TEXT, TEXT[:40], NAME
    steps.dispatch(session, settings, request, "D1S1C1", start + dt.timedelta(minutes=5))
    handler = steps.actor(session, "d1s1c1-handler")
    at = start + dt.timedelta(hours=1)
    requests_service.sign_request(session, handler, request, at)
    requests_service.contact_resident(session, handler, request, f"已致电{NAME} {PHONE}", at)
    requests_service.reply_request(
        session, handler, request, f"{NAME}您好，已清理。回电{PHONE}", settings, at
    )
    resident = steps.actor(session, "resident")
    requests_service.review_request(session, resident, request, True, 5, f"很满意 {EMAIL}", at)
    requests_service.close_request(session, steps.actor(session, "supervisor"), request, None, closed_at)
    return request


def personal_data_left(session: Session, request: Request) -> list[str]:
    events = session.scalars(select(RequestEvent).where(RequestEvent.request_id == request.id)).all()
    texts = [request.title, request.text, request.reply_text or "", str(request.attributes)]
    texts += [f"{e.note or ''} {e.payload}" for e in events]
    return [p for p in PLANTED for t in texts if p in t]


def test_requests_closed_before_the_period_are_anonymised(
    session: Session, settings: Settings, city: City
) -> None:
    now = dt.datetime.now(dt.UTC)
    settings = settings.model_copy(update={"retention_months": 36})
    old = closed_request(session, settings, months_before(now, 37))
    recent = closed_request(session, settings, months_before(now, 35))
    still_open = steps.submit(session, settings, months_before(now, 40), phone=PHONE)
    session.commit()
    assert personal_data_left(session, old) and personal_data_left(session, recent)

    assert "retention" in jobs.JOBS
    result = anonymise_expired(session, settings, now)
    session.commit()
    assert result["anonymised"] == 1
    session.expire_all()

    assert personal_data_left(session, old) == []
    assert (old.contact_name, old.contact_phone, old.contact_email, old.phone_last4) == (
        None,
        None,
        None,
        None,
    )
    assert old.submitter_id is None and old.anonymised_at is not None
    assert "楼道堆满垃圾" in old.text and "已清理" in (old.reply_text or "")  # the case itself stays
    events = session.scalars(
        select(RequestEvent).where(RequestEvent.request_id == old.id).order_by(RequestEvent.seq)
    ).all()
    assert fold(steps_of(events)) == state_of(old)  # the projection is still the fold of the log
    assert old.status == "closed" and old.satisfaction == 5

    assert personal_data_left(session, recent) != [] and recent.contact_phone == PHONE
    assert still_open.contact_phone == PHONE and still_open.anonymised_at is None

    assert anonymise_expired(session, settings, now)["anonymised"] == 0  # done once
    off = settings.model_copy(update={"retention_months": 0})
    assert anonymise_expired(session, off, now + dt.timedelta(days=3650))["anonymised"] == 0


def test_months_are_calendar_months() -> None:
    at = dt.datetime(2026, 3, 31, 12, 0, tzinfo=dt.UTC)
    assert months_before(at, 1) == dt.datetime(2026, 2, 28, 12, 0, tzinfo=dt.UTC)
    assert months_before(at, 36) == dt.datetime(2023, 3, 31, 12, 0, tzinfo=dt.UTC)
    assert months_before(dt.datetime(2026, 1, 15, tzinfo=dt.UTC), 2) == dt.datetime(
        2025, 11, 15, tzinfo=dt.UTC
    )


def _copies(session: Session, settings: Settings, request: Request, unit_id: int, size: int) -> set[str]:
    """What other domains keep of a request, planted as each of them writes it; returns the photos' file names
    (the first photo's content is the request's own, the second one's is the same for every request)."""
    photos = [
        add_photo(session, request, image_bytes("PNG", (size, size)), settings),
        add_photo(session, request, image_bytes("PNG", (5, 5)), settings),
    ]
    photo_token_for(session, request)
    # The triage worker may have written its facts and the duplicates index when the request was committed (not
    # for requests this old); a quoted name and phone number are planted in its facts.
    triage = session.get(RequestTriage, request.id)
    if triage is None:
        triage = RequestTriage(request_id=request.id)
        session.add(triage)
    if session.get(DuplicateSignature, request.id) is None:
        session.add(DuplicateSignature(request_id=request.id, signature=b"\x00" * 8))
    triage.place_matches = [{"text": f"{NAME}家楼下", "name": "楼下", "kind": "place", "unit_id": None}]
    triage.urgency_matches = [{"term": "电话", "text": f"电话{PHONE}", "kind": "other"}]
    session.add(DuplicateBand(band_key=-request.id, request_id=request.id))
    session.add(
        Notification(
            dedup_key=f"reply:{request.id}", kind="reply", channel="sms", recipient=PHONE, request_id=request.id,
            reference=request.tracking_number, params={"reply": f"{NAME}您好"}, next_attempt_at=request.received_at,
        )
    )  # fmt: skip
    session.add(TextVector(model="m", text_hash=vector_key(request), vector=b"\x00" * 4))
    article = KnowledgeArticle(questions=["q"], answer="a", unit_id=unit_id)
    session.add(article)
    session.flush()
    session.add(
        KnowledgeUse(
            article_id=article.id, article_version=1, outcome=UseOutcome.answered, channel="phone",
            request_id=request.id, question=TEXT,
        )
    )  # fmt: skip
    member = session.get(HotIssueMember, request.id)  # placed by the triage worker, else placed here
    if member is None:
        issue = HotIssue(name="垃圾")
        session.add(issue)
        session.flush()
        member = HotIssueMember(request_id=request.id, issue_id=issue.id, received_at=request.received_at)
        session.add(member)
    member.title, member.person, member.unit_path = request.title, f"p{PHONE}", "/"  # (a phone's digest)
    session.add(
        Open311InboundUpdate(
            origin="key:1", update_id=f"u{request.id}", request_id=request.id, status="closed",
            description=f"已回复{NAME}，电话{PHONE}", updated_datetime=request.received_at,
        )
    )  # fmt: skip
    key = Open311Key(name=f"app-{request.id}", key_hash=f"{request.id:064d}", prefix="o311_", rate="1/minute")
    session.add(key)
    session.flush()
    session.add(Open311RequestAccount(request_id=request.id, key_id=key.id, account_id=f"u{PHONE}"))
    session.flush()
    return {p.stored_name for p in photos}


def vector_key(request: Request) -> str:
    """The key of the request's words' vector, as the category model's embedding stores it."""
    words = textpipe.normalise(words_of(request.title, request.text))
    return str(text_key(words[: ClassifierConfig().dense_chars]))


def copies_left(session: Session, request: Request, key: str) -> dict[str, object]:
    """Every other copy of the request's personal data, by where it is kept."""
    rid = request.id
    left: dict[str, object] = {
        "photos": session.scalar(select(func.count()).select_from(Photo).where(Photo.request_id == rid)),
        "photo_tokens": session.scalar(select(func.count()).select_from(PhotoToken).where(PhotoToken.request_id == rid)),
        "notifications": session.scalar(select(func.count()).select_from(Notification).where(Notification.request_id == rid)),
        "bands": session.scalar(select(func.count()).select_from(DuplicateBand).where(DuplicateBand.request_id == rid)),
        "signatures": session.scalar(select(func.count()).select_from(DuplicateSignature).where(DuplicateSignature.request_id == rid)),
        "vectors": session.scalar(select(func.count()).select_from(TextVector).where(TextVector.model == "m", TextVector.text_hash == key)),
        "uses_with_question": session.scalar(select(func.count()).select_from(KnowledgeUse).where(KnowledgeUse.request_id == rid, KnowledgeUse.question.is_not(None))),
        "app_account_ids": session.scalar(select(func.count()).select_from(Open311RequestAccount).where(Open311RequestAccount.request_id == rid)),
    }  # fmt: skip
    triage = session.get(RequestTriage, rid)
    assert triage is not None
    texts = [str(triage.place_matches), str(triage.urgency_matches)]
    member = session.get(HotIssueMember, rid)
    assert member is not None
    texts += [member.title, member.person]
    texts += [
        u or ""
        for u in session.scalars(
            select(Open311InboundUpdate.description).where(Open311InboundUpdate.request_id == rid)
        )
    ]
    left["planted"] = sorted({p for p in (*PLANTED, NAME) for t in texts if p in t})
    return {k: v for k, v in left.items() if v}


def test_other_domains_copies_go_with_the_request(session: Session, settings: Settings, city: City) -> None:
    """Photos (rows, tokens and files), notifications, the duplicates index, text vectors, triage facts, knowledge
    uses' questions, hot-issue members, Open311 updates and app account ids of an anonymised request: gone or masked; a recent
    request keeps all of them, and a file another photo shares stays."""
    now = dt.datetime.now(dt.UTC)
    settings = settings.model_copy(update={"retention_months": 36})
    old = closed_request(session, settings, months_before(now, 37))
    recent = closed_request(session, settings, months_before(now, 35))
    recent.text = TEXT + "（又一次）"  # vectors are keyed by the text: one of its own
    session.commit()  # the triage worker runs
    unit_id = city.units["D1S1C1"].id
    files = _copies(session, settings, old, unit_id, 9)
    recent_files = _copies(session, settings, recent, unit_id, 6)
    keys = {old.id: vector_key(old), recent.id: vector_key(recent)}
    session.commit()
    everything = {"photos", "photo_tokens", "notifications", "bands", "signatures", "vectors", "uses_with_question", "app_account_ids", "planted"}  # fmt: skip
    assert set(copies_left(session, old, keys[old.id])) == everything
    assert set(copies_left(session, recent, keys[recent.id])) == everything
    shared = files & recent_files
    assert len(files) == 2 and len(shared) == 1

    result = anonymise_expired(session, settings, now)
    session.commit()
    assert result["anonymised"] == 1 and result["photos_deleted"] == 2

    assert copies_left(session, old, keys[old.id]) == {}
    assert set(copies_left(session, recent, keys[recent.id])) == everything
    media = Path(settings.media_dir)
    assert [name for name in files if (media / name).exists()] == list(shared)  # the shared file stays
    triage = session.get(RequestTriage, old.id)
    assert triage is not None and triage.place_matches[0]["name"] == "楼下"  # places and terms stay
    assert (
        session.scalar(
            select(func.count()).select_from(KnowledgeUse).where(KnowledgeUse.request_id == old.id)
        )
        == 1
    )
